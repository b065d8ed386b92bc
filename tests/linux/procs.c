/*
 * procs.c: processes, natively and under pksandbox (tests/native_diff.list):
 * fork and wait statuses, copy-on-write memory on both sides, SIGCHLD, kill
 * between processes, a pipe between two children, waitid, vfork, process
 * groups.  Prints nothing that differs between runs (no pids).  For
 * test_linux.sh: "procs bomb" forks until fork fails (with --max-procs);
 * "procs forever" is a fork bomb whose every process forks again and again;
 * "procs leave" exits leaving children that spin, for the sandbox to end;
 * "procs memory" touches 20 MiB, then forks children that keep it until
 * fork fails (with --memory, the guest's processes share it); "procs exec"
 * execs itself (argv[0]: an absolute path) to see which descriptors exec
 * kept; "procs run PATH" runs PATH (a "#!" script naming "procs args").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, what) do { \
	if (cond) printf("ok   %s\n", what); \
	else { printf("FAIL %s (errno %d)\n", what, errno); failures++; } \
	fflush(stdout); \
} while (0)

static const char *signame(int sig)
{
	switch (sig) {
	case SIGTERM: return "TERM";
	case SIGKILL: return "KILL";
	case SIGSEGV: return "SEGV";
	case SIGUSR1: return "USR1";
	default: return "another signal";
	}
}

static void describe(const char *what, int status)
{
	if (WIFEXITED(status))
		printf("%s: exited %d\n", what, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("%s: killed by %s\n", what, signame(WTERMSIG(status)));
	else
		printf("%s: status %#x\n", what, status);
	fflush(stdout);
}

static pid_t child(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static int exit_with(void *arg)
{
	return (int)(long)arg;
}

static int die_by_term(void *arg)
{
	(void)arg;
	raise(SIGTERM);
	return 99;
}

static void statuses(void)
{
	int status;
	pid_t pid = child(exit_with, (void *)7L);

	CHECK(waitpid(pid, &status, 0) == pid, "waitpid returns the child");
	describe("exit(7)", status);
	pid = child(die_by_term, NULL);
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid of a killed child");
	describe("raise(SIGTERM)", status);
	CHECK(waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD, "no children: ECHILD");
}

static volatile int shared_value = 1;
static char *buffer;

static int check_copy(void *arg)
{
	int *fds = arg;
	char c;

	/* Wait until the parent wrote its copy, then look at ours. */
	if (read(fds[0], &c, 1) != 1)
		return 10;
	if (shared_value != 1 || buffer[0] != 'a' || buffer[(1 << 20) - 1] != 'a')
		return 11;
	shared_value = 3;
	memset(buffer, 'c', 1 << 20);
	return 0;
}

static void copy_on_write(void)
{
	int fds[2], status;
	pid_t pid;

	buffer = malloc(1 << 20);
	memset(buffer, 'a', 1 << 20);
	pipe(fds);
	pid = child(check_copy, fds);
	shared_value = 2;
	memset(buffer, 'b', 1 << 20);
	write(fds[1], "x", 1);
	waitpid(pid, &status, 0);
	describe("child saw its own copy", status);
	CHECK(shared_value == 2 && buffer[0] == 'b' && buffer[(1 << 20) - 1] == 'b',
	      "the parent keeps its own writes");
	close(fds[0]);
	close(fds[1]);
	free(buffer);
}

static volatile sig_atomic_t got_chld;

static void on_chld(int sig)
{
	(void)sig;
	got_chld++;
}

static int wait_for_usr1(void *arg)
{
	sigset_t none;

	(void)arg;
	sigemptyset(&none);
	sigsuspend(&none);	/* the handler exits */
	return 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	_exit(42);
}

static void signals_between(void)
{
	struct sigaction sa = { .sa_handler = on_chld };
	sigset_t chld, old;
	int status;
	pid_t pid;

	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaddset(&chld, SIGUSR1);
	sigprocmask(SIG_BLOCK, &chld, &old);
	pid = child(wait_for_usr1, NULL);
	CHECK(kill(pid, 0) == 0, "kill(child, 0)");
	CHECK(kill(pid, SIGUSR1) == 0, "kill(child, SIGUSR1)");
	while (!got_chld)
		sigsuspend(&old);
	CHECK(got_chld == 1, "SIGCHLD came, during sigsuspend");
	waitpid(pid, &status, 0);
	describe("a handler's _exit(42)", status);
	sigprocmask(SIG_SETMASK, &old, NULL);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH, "a reaped child is gone: ESRCH");
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

static int producer(void *arg)
{
	int *fds = arg;
	char line[64];

	dup2(fds[1], 1);
	close(fds[0]);
	close(fds[1]);
	/* 200 KiB: more than a pipe holds, so the reader must be running meanwhile. */
	for (int i = 0; i < 3200; i++) {
		snprintf(line, sizeof(line), "%063d", i);
		line[63] = '\n';
		if (write(1, line, 64) != 64)
			return 2;
	}
	return 0;
}

static int consumer(void *arg)
{
	int *fds = arg;
	char buf[4096];
	long total = 0;
	ssize_t n;

	dup2(fds[0], 0);
	close(fds[0]);
	close(fds[1]);
	while ((n = read(0, buf, sizeof(buf))) > 0)
		total += n;
	return total == 3200 * 64 ? 0 : 3;
}

static void pipeline(void)
{
	int fds[2], s1, s2;
	pid_t a, b;

	pipe(fds);
	a = child(producer, fds);
	b = child(consumer, fds);
	close(fds[0]);
	close(fds[1]);
	/* Wait for the producer first: it blocks on a full pipe until the consumer reads. */
	waitpid(a, &s1, 0);
	waitpid(b, &s2, 0);
	describe("producer", s1);
	describe("consumer of 200 KiB through dup2'd 0 and 1", s2);
}

static int sleeper(void *arg)
{
	int *fds = arg;
	char c;

	close(fds[1]);
	return read(fds[0], &c, 1) == 0 ? 5 : 6;	/* EOF once the parent closes */
}

static void no_hang_and_waitid(void)
{
	siginfo_t si;
	int fds[2];
	pid_t pid;

	pipe(fds);
	pid = child(sleeper, fds);
	CHECK(waitpid(pid, NULL, WNOHANG) == 0, "WNOHANG: still running");
	memset(&si, 0xff, sizeof(si));
	CHECK(waitid(P_PID, pid, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0,
	      "waitid WNOHANG: si_pid 0");
	close(fds[1]);
	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == pid &&
	      si.si_code == CLD_EXITED && si.si_status == 5 && si.si_signo == SIGCHLD,
	      "waitid WNOWAIT: CLD_EXITED, status 5");
	CHECK(waitid(P_ALL, 0, &si, WEXITED) == 0 && si.si_pid == pid, "waitid reaps it");
	CHECK(waitid(P_ALL, 0, &si, WEXITED) < 0 && errno == ECHILD, "then ECHILD");
	close(fds[0]);
}

static void identities(void)
{
	int fds[2], status;
	pid_t me = getpid(), pid;

	pipe(fds);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int ok = getppid() == me && getpid() != me && getpgrp() == getpgid(me) &&
			 setpgid(0, 0) == 0 && getpgrp() == getpid() && getsid(0) == getsid(me);

		_exit(ok ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	describe("getppid, getpgrp, setpgid(0, 0), getsid in the child", status);
	pid = vfork();
	if (pid == 0)
		_exit(8);
	waitpid(pid, &status, 0);
	describe("vfork", status);
	close(fds[0]);
	close(fds[1]);
}

static int write_after(void *arg)
{
	int fd = *(int *)arg;

	usleep(100 * 1000);
	return write(fd, "late", 4) == 4 ? 0 : 1;
}

/* poll, ppoll, select, pselect over pipes that children write to. */
static void waiting_on_descriptors(void)
{
	int a[2], b[2], status, gone;
	struct pollfd pfd[3];
	struct timeval tv = { 0, 0 };
	struct timespec ts = { 5, 0 };
	fd_set rd;
	char buf[8];
	pid_t pid;

	pipe(a);
	pipe(b);
	pfd[0] = (struct pollfd){ .fd = a[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = b[0], .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = 1000, .events = POLLIN };	/* not open */
	CHECK(poll(pfd, 2, 0) == 0, "poll: nothing ready, no wait");
	CHECK(poll(pfd, 3, 0) == 1 && pfd[2].revents == POLLNVAL, "poll: POLLNVAL for a closed fd");
	pid = child(write_after, &b[1]);
	CHECK(poll(pfd, 2, 5000) == 1 && !pfd[0].revents && pfd[1].revents == POLLIN,
	      "poll: waits for a child's write");
	read(b[0], buf, sizeof(buf));
	waitpid(pid, &status, 0);
	FD_ZERO(&rd);
	FD_SET(a[0], &rd);
	FD_SET(b[0], &rd);
	CHECK(select(b[0] + 1, &rd, NULL, NULL, &tv) == 0, "select: nothing ready, zero timeout");
	tv.tv_usec = 20000;
	FD_SET(a[0], &rd);
	FD_SET(b[0], &rd);
	CHECK(select(b[0] + 1, &rd, NULL, NULL, &tv) == 0 && tv.tv_sec == 0 && tv.tv_usec == 0,
	      "select: times out after 20 ms, none of it left");
	pid = child(write_after, &a[1]);
	FD_SET(a[0], &rd);
	FD_SET(b[0], &rd);
	CHECK(pselect(b[0] + 1, &rd, NULL, NULL, &ts, NULL) == 1 && FD_ISSET(a[0], &rd) &&
	      !FD_ISSET(b[0], &rd), "pselect: the pipe a child wrote");
	waitpid(pid, &status, 0);
	FD_ZERO(&rd);
	FD_SET(a[1], &rd);
	CHECK(select(a[1] + 1, NULL, &rd, NULL, NULL) == 1, "select: a pipe with room is writable");
	close(a[1]);
	pfd[0].events = POLLIN;
	CHECK(ppoll(pfd, 1, &ts, NULL) == 1 && (pfd[0].revents & POLLIN),
	      "ppoll: data left to read");
	read(a[0], buf, sizeof(buf));
	CHECK(ppoll(pfd, 1, &ts, NULL) == 1 && (pfd[0].revents & POLLHUP),
	      "ppoll: the writer gone (POLLHUP)");
	gone = dup(a[0]);
	close(gone);
	FD_ZERO(&rd);
	FD_SET(gone, &rd);
	tv.tv_usec = 0;
	CHECK(select(gone + 1, &rd, NULL, NULL, &tv) < 0 && errno == EBADF,
	      "select: EBADF for a closed fd");
	close(a[0]);
	close(b[0]);
	close(b[1]);
}

static int hold(void *arg)
{
	(void)arg;
	pause();
	return 0;
}

/* Memory is the guest's as a whole: each child's copy of 20 MiB counts. */
static void memory(void)
{
	size_t size = 20 << 20;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pids[64];
	int n = 0, status;

	memset(p, 1, size);
	while (n < 64) {
		pid_t pid = child(hold, NULL);

		if (pid < 0)
			break;
		pids[n++] = pid;
	}
	printf("fork failed after %d children: %s\n", n, errno == ENOMEM ? "ENOMEM" : "not ENOMEM");
	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
	}
}

static int pause_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

/* Fork until fork fails; every child waits to be killed. */
static void bomb(void)
{
	pid_t pids[4096];
	int n = 0, status;

	for (;;) {
		pid_t pid = n < 4096 ? child(pause_forever, NULL) : -1;

		if (pid < 0)
			break;
		pids[n++] = pid;
	}
	printf("fork failed after %d children: %s\n", n, errno == EAGAIN ? "EAGAIN" : "not EAGAIN");
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFSIGNALED(status))
			failures++;
	printf("all %d reaped, killed by SIGKILL\n", n);
}

static int spin(void *arg)
{
	(void)arg;
	for (volatile unsigned long i = 0;; i++)
		;
	return 0;
}

/* After exec: which of the two descriptors survived it. */
static int report_fds(int kept, int cloexec)
{
	printf("fd without O_CLOEXEC: %s\n", fcntl(kept, F_GETFD) >= 0 ? "open" : "closed");
	printf("fd with O_CLOEXEC: %s\n", fcntl(cloexec, F_GETFD) >= 0 ? "open" : "closed");
	return 3;
}

static void exec_keeps_fds(const char *self)
{
	int keep[2], gone[2], status;
	char a[16], b[16];
	pid_t pid;

	pipe(keep);
	pipe2(gone, O_CLOEXEC);
	snprintf(a, sizeof(a), "%d", keep[0]);
	snprintf(b, sizeof(b), "%d", gone[0]);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "fds", a, b, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	describe("the exec'd program", status);
	errno = 0;
	CHECK(execl("/no/such/program", "x", (char *)NULL) < 0 && errno == ENOENT,
	      "exec of a missing program: ENOENT, and this one goes on");
}

static void run(const char *path)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(path, path, "last", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	describe("the script", status);
}

int main(int argc, char **argv)
{
	if (argc > 3 && !strcmp(argv[1], "fds"))
		return report_fds(atoi(argv[2]), atoi(argv[3]));
	if (argc > 1 && !strcmp(argv[1], "args")) {
		for (int i = 0; i < argc; i++)
			printf("argv[%d] %s\n", i, argv[i]);
		return 4;
	}
	if (argc > 1 && !strcmp(argv[1], "exec")) {
		exec_keeps_fds(argv[0]);
		return failures ? 1 : 0;
	}
	if (argc > 2 && !strcmp(argv[1], "run")) {
		run(argv[2]);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "forever")) {
		for (;;)
			fork();
	}
	if (argc > 1 && !strcmp(argv[1], "leave")) {
		for (int i = 0; i < 3; i++)
			child(spin, NULL);
		printf("leaving 3 children behind\n");
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "memory")) {
		memory();
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "bomb")) {
		bomb();
		return failures ? 1 : 0;
	}
	statuses();
	copy_on_write();
	signals_between();
	pipeline();
	no_hang_and_waitid();
	identities();
	waiting_on_descriptors();
	printf("%d failures\n", failures);
	return failures ? 1 : 0;
}
