/*
 * pipes.c: a process's own pipes, as Linux gives them: data in order, EOF,
 * O_NONBLOCK and EAGAIN, a 64 KiB capacity, EPIPE and SIGPIPE, signals
 * cutting blocking reads and writes short (EINTR, or the bytes already
 * written), vmsplice() and epoll.
 *   pipes          everything that needs no protection keys
 *   pipes pkeys    vmsplice() of an access-disabled buffer fails with
 *                  EFAULT, as the kernel's pkeys selftest checks (a PKU
 *                  machine; exits 77 without one)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pkru.h"

static char big[200000];

static const char *err_name(long ret)
{
	return ret >= 0 ? "ok" : strerror(errno);
}

static void test_basic(void)
{
	char buf[64];
	int p[2], again[2];
	ssize_t n;

	printf("pipe: %s\n", err_name(pipe(p)));
	printf("fds above stdio: %d\n", p[0] > 2 && p[1] == p[0] + 1);
	n = write(p[1], "hello, pipe", 11);
	printf("write %zd\n", n);
	n = read(p[0], buf, 5);
	printf("read %zd %.5s\n", n, buf);
	n = read(p[0], buf, sizeof(buf));
	printf("read rest %zd %.*s\n", n, (int)n, buf);
	printf("getfl read end %s, write end %s\n",
	       (fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : "other",
	       (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "other");
	printf("write to read end: %s\n", err_name(write(p[0], "x", 1)));
	printf("read from write end: %s\n", err_name(read(p[1], buf, 1)));
	printf("lseek: %s\n", err_name(lseek(p[0], 0, SEEK_SET)));
	printf("pipe size %d\n", fcntl(p[0], F_GETPIPE_SZ));
	printf("cloexec %d\n", fcntl(p[0], F_GETFD));
	close(p[1]);
	printf("read at EOF %zd\n", read(p[0], buf, sizeof(buf)));
	close(p[0]);

	printf("pipe2 cloexec: %s", err_name(pipe2(p, O_CLOEXEC)));
	printf(" %d %d\n", fcntl(p[0], F_GETFD), fcntl(p[1], F_GETFD));
	close(p[0]);
	close(p[1]);
	printf("pipe2 bad flags: %s\n", err_name(pipe2(p, O_APPEND)));
	errno = 0;
	printf("pipe to a bad pointer: %s\n", err_name(syscall(SYS_pipe, (void *)8)));
	/* Nothing was installed: the next pipe gets the numbers the failed one would have. */
	pipe(again);
	printf("no fds leaked: %d\n", again[0] == p[0]);
	close(again[0]);
	close(again[1]);
}

static void test_vectored(void)
{
	char a[4], b[8];
	struct iovec out[2] = { { "abc", 3 }, { "defghij", 7 } };
	struct iovec in[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	int p[2];
	ssize_t n;

	pipe(p);
	printf("writev %zd\n", writev(p[1], out, 2));
	n = readv(p[0], in, 2);
	printf("readv %zd %.4s %.6s\n", n, a, b);
	close(p[0]);
	close(p[1]);
}

/* O_NONBLOCK: EAGAIN when empty or full; the capacity is Linux's 64 KiB. */
static void test_nonblock(void)
{
	size_t total = 0;
	char buf[16];
	int p[2];
	ssize_t n;

	pipe2(p, O_NONBLOCK);
	printf("nonblock getfl %d\n", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
	printf("empty read: %s\n", err_name(read(p[0], buf, sizeof(buf))));
	while ((n = write(p[1], big, 4096)) > 0)
		total += n;
	printf("filled %zu, then: %s\n", total, err_name(n));
	/* Room is counted in pages: a page drained to its end makes room for more. */
	n = read(p[0], big, 100);
	printf("drained %zd, write: %s\n", n, err_name(write(p[1], big, 200)));
	n = read(p[0], big, 3996);
	printf("drained %zd, large write: %zd\n", n, write(p[1], big, 8192));
	fcntl(p[0], F_SETFL, 0);
	printf("cleared getfl %d\n", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
	total = 0;
	while (total < 65536 && (n = read(p[0], big, sizeof(big))) > 0)
		total += n;
	printf("read back %zu\n", total);
	close(p[0]);
	close(p[1]);
}

static volatile sig_atomic_t pipe_signals, alarms;

static void on_pipe(int sig)
{
	(void)sig;
	pipe_signals++;
}

static void test_epipe(void)
{
	int p[2];

	pipe(p);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	printf("write, ignored SIGPIPE: %s\n", err_name(write(p[1], "x", 1)));
	signal(SIGPIPE, on_pipe);
	printf("write, caught SIGPIPE: %s", err_name(write(p[1], "x", 1)));
	printf(", signals %d\n", pipe_signals);
	signal(SIGPIPE, SIG_DFL);
	close(p[1]);
}

static int feed_fd = -1, drain_fd = -1;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
	if (feed_fd >= 0)
		write(feed_fd, "late", 4);
	if (drain_fd >= 0)
		read(drain_fd, big + 100000, 4096);
}

static void arm_ms(long ms, int flags)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = flags };
	struct itimerval it = { .it_value = { 0, ms * 1000 } };

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

/* A blocking read or write of a pipe only this process holds, ended by a signal. */
static void test_interrupted(void)
{
	char buf[16];
	int p[2];
	ssize_t n;

	pipe(p);
	arm_ms(50, 0);
	n = read(p[0], buf, sizeof(buf));
	printf("read, no SA_RESTART: %s, alarms %d\n", err_name(n), alarms);

	/* With SA_RESTART the read is made again, and finds what the handler wrote. */
	feed_fd = p[1];
	arm_ms(50, SA_RESTART);
	n = read(p[0], buf, sizeof(buf));
	printf("read, SA_RESTART: %zd %.*s, alarms %d\n", n, (int)(n > 0 ? n : 0), buf, alarms);
	feed_fd = -1;

	/* A blocking write larger than the pipe: the signal ends it with what it wrote. */
	arm_ms(50, 0);
	n = write(p[1], big, sizeof(big));
	printf("write past capacity: %zd, alarms %d\n", n, alarms);
	/* With SA_RESTART the write is made again, into the room the handler made. */
	drain_fd = p[0];
	arm_ms(50, SA_RESTART);
	n = write(p[1], big, 1);
	printf("write to a full pipe, SA_RESTART: %zd, alarms %d\n", n, alarms);
	drain_fd = -1;
	close(p[0]);
	close(p[1]);
}

static void test_vmsplice(void)
{
	char page[4096] __attribute__((aligned(4096))), back[16];
	struct iovec iov = { page, 10 };
	int p[2], fd;

	memcpy(page, "spliced!!!", 10);
	pipe(p);
	printf("vmsplice to write end: %zd\n", vmsplice(p[1], &iov, 1, SPLICE_F_GIFT));
	iov.iov_base = back;
	iov.iov_len = sizeof(back);
	printf("vmsplice from read end: %zd", vmsplice(p[0], &iov, 1, 0));
	printf(" %.10s\n", back);
	printf("vmsplice empty, nonblock: %s\n", err_name(vmsplice(p[0], &iov, 1, SPLICE_F_NONBLOCK)));
	printf("vmsplice bad flags: %s\n", err_name(vmsplice(p[1], &iov, 1, 0x100)));
	iov.iov_base = (void *)8;
	printf("vmsplice bad buffer: %s\n", err_name(vmsplice(p[1], &iov, 1, 0)));
	fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0)
		fd = dup(0);
	printf("vmsplice not a pipe: %s\n", err_name(vmsplice(fd, &iov, 1, 0)));
	close(fd);
	close(p[0]);
	close(p[1]);
}

/* epoll over pipes: readiness, data given back, timeouts, and what it refuses. */
static void test_epoll(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1122334455667788ULL }, out[4];
	struct timespec before, after;
	int ep = epoll_create1(EPOLL_CLOEXEC), p[2], n;

	pipe(p);
	printf("epoll_create1: %s, cloexec %d\n", err_name(ep), fcntl(ep, F_GETFD));
	printf("add: %s\n", err_name(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)));
	printf("add again: %s\n", err_name(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)));
	printf("add itself: %s\n", err_name(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev)));
	printf("bad op: %s\n", err_name(epoll_ctl(ep, 99, p[0], &ev)));
	printf("nothing ready, no wait: %d\n", epoll_wait(ep, out, 4, 0));
	clock_gettime(CLOCK_MONOTONIC, &before);
	n = epoll_wait(ep, out, 4, 60);
	clock_gettime(CLOCK_MONOTONIC, &after);
	printf("60 ms wait: %d after >= 55 ms: %d\n", n,
	       (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000 >= 55);
	write(p[1], "x", 1);
	n = epoll_wait(ep, out, 4, -1);
	printf("ready: %d, events %#x, data %#llx\n", n, out[0].events,
	       (unsigned long long)out[0].data.u64);
	ev.events = EPOLLOUT;
	printf("mod: %s, then %d ready\n", err_name(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)),
	       epoll_wait(ep, out, 4, 0));
	printf("del: %s", err_name(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL)));
	printf(", del again: %s\n", err_name(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL)));
	printf("bad maxevents: %s\n", err_name(epoll_wait(ep, out, 0, 0)));
	printf("not an epoll fd: %s\n", err_name(epoll_wait(p[0], out, 4, 0)));
	close(ep);
	close(p[0]);
	close(p[1]);
}

/* The kernel's test_kernel_gup_of_access_disabled_region(), in our own words. */
static int test_vmsplice_pkey(void)
{
	long pkey = syscall(SYS_pkey_alloc, 0, 0);
	char *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov = { buf, 4096 };
	uint32_t pkru;
	int p[2];

	if (pkey < 0)
		return 77;
	buf[0] = 1;
	syscall(SYS_pkey_mprotect, buf, 4096, PROT_READ | PROT_WRITE, pkey);
	pipe(p);
	pkru = rdpkru();
	wrpkru(pkru | 1u << (2 * pkey));	/* access-disable the key */
	printf("vmsplice of an access-disabled buffer: %s\n",
	       err_name(vmsplice(p[1], &iov, 1, SPLICE_F_GIFT)));
	wrpkru(pkru | 2u << (2 * pkey));	/* write-disable only: reading is allowed */
	printf("vmsplice of a write-disabled buffer: %zd\n", vmsplice(p[1], &iov, 1, SPLICE_F_GIFT));
	wrpkru(pkru);
	printf("read of it into an access-disabled buffer: ");
	wrpkru(pkru | 1u << (2 * pkey));
	printf("%s\n", err_name(read(p[0], buf, 4096)));
	wrpkru(pkru);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "pkeys"))
		return test_vmsplice_pkey();
	test_basic();
	test_vectored();
	test_nonblock();
	test_epipe();
	test_interrupted();
	test_vmsplice();
	test_epoll();
	return 0;
}
