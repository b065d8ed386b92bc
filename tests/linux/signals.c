/*
 * signals.c: Linux signals as a program sees them, printed so that a run
 * under pksandbox can be compared with a native run line for line.  Nothing
 * printed depends on addresses: only signal numbers, codes, and whether
 * addresses are the ones expected.
 *
 *   signals            handlers, masks, faults, frames (every machine)
 *   signals pkeys      the pkeys idiom (a PKU machine; exits 77 without one)
 *   signals abort      abort(): killed by SIGABRT
 *   signals badstack   a fault whose frame cannot be written: killed by SIGSEGV
 *   signals alarm      a spinning program killed by SIGALRM
 *   signals execonly   PROT_EXEC without PROT_READ (execute-only on a PKU machine)
 *   signals restart    a pipe read interrupted, with and without SA_RESTART (stdin: a pipe)
 *   signals sigpipe    writes to a pipe with no reader: EPIPE, then SIGPIPE (stdout: a pipe)
 *   signals stop       stopped by SIGSTOP until a SIGCONT from outside (sent repeatedly)
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "pkru.h"

static volatile sig_atomic_t hits;
static volatile int last_sig, last_code, last_pid;
static volatile void *last_addr;
static sigjmp_buf jump;

static int blocked(int sig)
{
	sigset_t now;

	sigprocmask(SIG_BLOCK, NULL, &now);
	return sigismember(&now, sig);
}

static void on_info(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	hits++;
	last_sig = sig;
	last_code = si->si_code;
	last_addr = si->si_addr;
	last_pid = si->si_pid;
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL)) {
		printf("sigaction(%d): %s\n", sig, strerror(errno));
		exit(1);
	}
}

/* raise() with a handler: si_code says tkill, si_pid and si_uid are ours. */
static void test_raise(void)
{
	install(SIGUSR1, on_info, 0);
	hits = 0;
	raise(SIGUSR1);
	printf("raise: hits %d sig %d code %d pid ok %d\n", hits, last_sig, last_code,
	       last_pid == getpid());
}

static void on_mask(int sig, siginfo_t *si, void *ctx)
{
	(void)si, (void)ctx;
	hits++;
	printf("  in handler of %d: itself blocked %d, SIGUSR2 blocked %d\n", sig, blocked(sig),
	       blocked(SIGUSR2));
}

/* Blocked: pending until unblocked; sa_mask and SA_NODEFER; SA_RESETHAND. */
static void test_masks(void)
{
	struct sigaction sa;
	sigset_t set, pending;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_mask;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	hits = 0;
	raise(SIGUSR1);
	sigpending(&pending);
	printf("blocked: hits %d, pending %d\n", hits, sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("unblocked: hits %d, SIGUSR2 blocked after %d\n", hits, blocked(SIGUSR2));

	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);

	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGURG, &sa, NULL);
	hits = 0;
	raise(SIGURG);
	raise(SIGURG);		/* SIG_DFL now: ignored */
	sigaction(SIGURG, NULL, &sa);
	printf("resethand: hits %d, now default %d\n", hits, sa.sa_handler == SIG_DFL);

	signal(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
	printf("ignored: survived\n");
	signal(SIGUSR2, SIG_DFL);
}

static void on_outer(int sig, siginfo_t *si, void *ctx)
{
	(void)si, (void)ctx;
	printf("  outer %d begins\n", sig);
	raise(SIGUSR2);
	printf("  outer %d ends\n", sig);
}

static void on_inner(int sig, siginfo_t *si, void *ctx)
{
	(void)si, (void)ctx;
	printf("  inner %d\n", sig);
}

static void test_nested(void)
{
	install(SIGUSR1, on_outer, 0);
	install(SIGUSR2, on_inner, 0);
	raise(SIGUSR1);
	printf("nested: done\n");
}

static void on_segv_jump(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	last_sig = sig;
	last_code = si->si_code;
	last_addr = si->si_addr;
	siglongjmp(jump, 1);
}

/* SEGV_MAPERR and SEGV_ACCERR with si_addr; siglongjmp out puts the mask back. */
static void test_segv(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *gone = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	munmap(gone, page);
	install(SIGSEGV, on_segv_jump, 0);
	if (!sigsetjmp(jump, 1))
		*(volatile char *)(gone + 8) = 1;
	printf("unmapped: sig %d code %d addr ok %d, SIGSEGV blocked after %d\n", last_sig,
	       last_code, last_addr == gone + 8, blocked(SIGSEGV));
	if (!sigsetjmp(jump, 1))
		*(volatile char *)(p + 16) = 1;
	printf("read-only: sig %d code %d addr ok %d\n", last_sig, last_code, last_addr == p + 16);
	munmap(p, page);
}

static void *fix_page;

static void on_segv_fix(int sig, siginfo_t *si, void *ctx)
{
	long page = sysconf(_SC_PAGESIZE);

	(void)sig, (void)ctx;
	hits++;
	mprotect((void *)((uintptr_t)si->si_addr & ~(uintptr_t)(page - 1)), page,
		 PROT_READ | PROT_WRITE);
}

/* A handler that fixes the cause and returns: the access is retried and succeeds. */
static void test_retry(void)
{
	long page = sysconf(_SC_PAGESIZE);

	fix_page = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	install(SIGSEGV, on_segv_fix, 0);
	hits = 0;
	*(volatile int *)fix_page = 7;
	printf("retried: hits %d value %d\n", hits, *(volatile int *)fix_page);
	munmap(fix_page, page);
	signal(SIGSEGV, SIG_DFL);
}

/* ud2 with RAX = 1: the handler sets RAX = 42 in the frame and steps over ud2. */
static void on_ill(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	last_sig = sig;
	last_code = si->si_code;
	last_addr = si->si_addr;
	hits = si->si_addr == (void *)uc->uc_mcontext.gregs[REG_RIP];
	uc->uc_mcontext.gregs[REG_RAX] = 42;
	uc->uc_mcontext.gregs[REG_RIP] += 2;
}

static void test_ill(void)
{
	long rax;

	install(SIGILL, on_ill, 0);
	hits = 0;
	__asm__ volatile("mov $1, %%rax\n\tud2" : "=a"(rax) : : "memory");
	printf("ud2: sig %d code %d addr is rip %d, rax now %ld\n", last_sig, last_code, hits, rax);
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	last_sig = sig;
	last_code = si->si_code;
	last_addr = si->si_addr;
	hits = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
}

/* int3: SIGTRAP, SI_KERNEL, no address, trap number 3; the program goes on after it. */
static void test_trap(void)
{
	install(SIGTRAP, on_trap, 0);
	__asm__ volatile("int3" ::: "memory");
	printf("int3: sig %d code %d addr null %d trapno %d\n", last_sig, last_code,
	       last_addr == NULL, hits);
}

static void on_fpe(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	last_sig = sig;
	last_code = si->si_code;
	hits = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
	siglongjmp(jump, 1);
}

static void test_fpe(void)
{
	volatile int zero = 0, n = 10;

	install(SIGFPE, on_fpe, 0);
	if (!sigsetjmp(jump, 1))
		n = n / zero;
	printf("divide: sig %d code %d trapno %d\n", last_sig, last_code, hits);
}

/* The FPU and SSE state of the interrupted code survives a handler that uses them. */
static void on_float(int sig)
{
	volatile double x = 1.5;

	(void)sig;
	for (int i = 0; i < 10; i++)
		x = x * 3.25 + 0.125;
	hits = x > 1;
}

static void test_fpu(void)
{
	volatile double a = 2.0, b = 0.1;
	double r;

	signal(SIGUSR1, on_float);
	r = a / 3.0;
	raise(SIGUSR1);
	r += b;
	printf("fpu: handler ran %d, result %.17g\n", hits, r);
}

static char altstack[65536] __attribute__((aligned(16)));

static void on_alt(int sig, siginfo_t *si, void *ctx)
{
	stack_t now;
	char local;

	(void)si, (void)ctx;
	sigaltstack(NULL, &now);
	printf("  altstack handler %d: on it %d, SS_ONSTACK %d\n", sig,
	       &local >= altstack && &local < altstack + sizeof(altstack),
	       (now.ss_flags & SS_ONSTACK) != 0);
}

static void test_altstack(void)
{
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) }, old;

	sigaltstack(&ss, NULL);
	install(SIGUSR1, on_alt, SA_ONSTACK);
	raise(SIGUSR1);
	install(SIGUSR1, on_alt, 0);
	raise(SIGUSR1);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, &old);
	printf("altstack: was enabled %d, size right %d\n", !(old.ss_flags & SS_DISABLE),
	       old.ss_size == sizeof(altstack));
}

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

static void arm_ms(long first_ms, long every_ms)
{
	struct itimerval it = {
		.it_value = { first_ms / 1000, (first_ms % 1000) * 1000 },
		.it_interval = { every_ms / 1000, (every_ms % 1000) * 1000 },
	};

	setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * Timers: alarm() ending pause(); a periodic ITIMER_REAL interrupting a
 * program that spins in its own code; sigsuspend() with the signal blocked
 * outside it; sleeps cut short with EINTR and the time left.
 */
static void test_timers(void)
{
	struct itimerval it;
	struct timespec req = { 5, 0 }, rem = { 0, 0 };
	sigset_t block, old, none;
	int r, e;

	signal(SIGALRM, on_alarm);
	ticks = 0;
	alarm(1);
	r = pause();
	e = errno;
	printf("pause: %d %s, ticks %d\n", r, e == EINTR ? "EINTR" : "?", ticks);

	ticks = 0;
	arm_ms(20, 20);
	while (ticks < 3)
		;	/* spinning: only the timer can get us out */
	arm_ms(0, 0);
	getitimer(ITIMER_REAL, &it);
	printf("spin: ticks %d, timer off %d\n", ticks >= 3, !it.it_value.tv_sec && !it.it_value.tv_usec);

	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &old);
	ticks = 0;
	arm_ms(30, 0);
	sigemptyset(&none);
	r = sigsuspend(&none);
	e = errno;
	sigprocmask(SIG_SETMASK, NULL, &none);
	printf("sigsuspend: %d %s, ticks %d, SIGALRM blocked again %d\n", r,
	       e == EINTR ? "EINTR" : "?", ticks, sigismember(&none, SIGALRM));
	sigprocmask(SIG_SETMASK, &old, NULL);

	alarm(1);
	r = nanosleep(&req, &rem);
	e = errno;
	printf("nanosleep: %d %s, left between 3 and 5 s %d\n", r, e == EINTR ? "EINTR" : "?",
	       rem.tv_sec >= 3 && rem.tv_sec < 5);
	alarm(1);
	r = (int)sleep(5);
	printf("sleep(5) after alarm(1): left in [3, 4] %d\n", r >= 3 && r <= 4);
	{
		struct timespec short_wait = { 0, 50 * 1000 * 1000 }, long_wait = { 5, 0 };
		siginfo_t si;
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGALRM);
		sigprocmask(SIG_BLOCK, &set, &old);
		raise(SIGUSR1);
		r = sigtimedwait(&set, &si, &long_wait);
		printf("sigtimedwait: %d, code %d\n", r, si.si_code);
		r = sigtimedwait(&set, &si, &short_wait);
		e = errno;
		printf("sigtimedwait, nothing: %d %s\n", r, e == EAGAIN ? "EAGAIN" : "?");
		alarm(1);
		r = sigwaitinfo(&set, &si);
		printf("sigwaitinfo: %d, code %d, handler ran %d\n", r, si.si_code, ticks);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	printf("alarm(0) after none pending: %u\n", alarm(0));
	printf("alarm(10) after none pending: %u\n", alarm(10));
	arm_ms(200, 0);
	printf("alarm(0) after 0.2 s left: %u\n", alarm(0));
	alarm(10);
	printf("alarm(0) after alarm(10): %u\n", alarm(0));
	signal(SIGALRM, SIG_DFL);
}

static volatile int timer_code, timer_value;

static void on_timer(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)ctx;
	ticks++;
	timer_code = si->si_code;
	timer_value = si->si_value.sival_int;
}

/* timer_create() with SIGEV_SIGNAL: si_code SI_TIMER, si_value; periodic; deleted. */
static void test_posix_timer(void)
{
	struct sigevent sev;
	struct itimerspec its = { { 0, 10 * 1000 * 1000 }, { 0, 10 * 1000 * 1000 } }, cur;
	timer_t timer;
	int r;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR2;
	sev.sigev_value.sival_int = 77;
	install(SIGUSR2, on_timer, 0);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer)) {
		printf("timer_create: %s\n", strerror(errno));
		return;
	}
	ticks = 0;
	timer_settime(timer, 0, &its, NULL);
	while (ticks < 3)
		pause();
	timer_gettime(timer, &cur);
	printf("posix timer: code %d value %d, period %ld ns, armed %d\n", timer_code, timer_value,
	       cur.it_interval.tv_nsec, cur.it_value.tv_sec || cur.it_value.tv_nsec);
	r = timer_delete(timer);
	printf("timer_delete: %d, settime after: %s\n", r,
	       timer_settime(timer, 0, &its, NULL) == -1 && errno == EINVAL ? "EINVAL" : "?");
	signal(SIGUSR2, SIG_DFL);
}

/* The PKRU component's offset in the XSAVE image of a signal frame (CPUID leaf 0xD). */
static unsigned pkru_offset(void)
{
	unsigned a, b, c, d;

	__cpuid_count(0xd, 9, a, b, c, d);
	return b;
}

static int pkey;
static volatile int *secret;

/* The pkeys idiom: SEGV_PKUERR with si_pkey; the frame's PKRU edited to let the access through. */
static void on_pkey(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint32_t *frame_pkru = (uint32_t *)((char *)uc->uc_mcontext.fpregs + pkru_offset());

	hits++;
	printf("  handler: sig %d code %d pkey ok %d addr ok %d, PKRU in handler %#x, in frame %#x\n",
	       sig, si->si_code, si->si_pkey == (unsigned)pkey, si->si_addr == (void *)secret, rdpkru(),
	       *frame_pkru);
	*frame_pkru &= ~(3U << (2 * pkey));
}

static int test_pkeys(void)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned a, b, c, d;

	__cpuid_count(7, 0, a, b, c, d);
	if (!(c & (1U << 4))) {		/* OSPKE: the kernel enabled protection keys */
		printf("no PKU\n");
		return 77;
	}
	secret = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pkey = (int)syscall(SYS_pkey_alloc, 0, 0);
	if (pkey < 0 || syscall(SYS_pkey_mprotect, secret, page, PROT_READ | PROT_WRITE, pkey)) {
		printf("pkey_alloc/pkey_mprotect failed: %s\n", strerror(errno));
		return 1;
	}
	*secret = 1234;
	install(SIGSEGV, on_pkey, 0);
	wrpkru(rdpkru() | (1U << (2 * pkey)));		/* access-disable */
	hits = 0;
	printf("read %d after %d fault(s), PKRU now %#x\n", *secret, hits, rdpkru());
	wrpkru(rdpkru() | (2U << (2 * pkey)));		/* write-disable */
	hits = 0;
	*secret = 99;
	printf("wrote %d after %d fault(s), PKRU now %#x\n", *secret, hits, rdpkru());

	/* All the keys there are, then ENOSPC; a key still on pages may be freed. */
	{
		int keys[16], n = 0, k;

		while (n < 16 && (k = (int)syscall(SYS_pkey_alloc, 0, 0)) > 0)
			keys[n++] = k;
		printf("more keys: %d, then %s\n", n, errno == ENOSPC ? "ENOSPC" : strerror(errno));
		printf("free of the key in use: %ld\n", syscall(SYS_pkey_free, pkey));
		while (n)
			syscall(SYS_pkey_free, keys[--n]);
		k = (int)syscall(SYS_pkey_alloc, 0, 2 /* PKEY_DISABLE_WRITE */);
		printf("init rights: key %d, PKRU bits %u\n", k, (rdpkru() >> (2 * k)) & 3);
	}
	return 0;
}

/*
 * Execute-only memory, as Linux makes it on a PKU machine: PROT_EXEC alone
 * gets a key of its own, access-disabled, so the code runs but reading it
 * is SEGV_PKUERR; that key counts as allocated; PROT_READ makes it
 * readable again.  On a machine without keys the read simply works.
 */
static int exec_only(void)
{
	static const unsigned char ret42[] = { 0xb8, 0x2a, 0, 0, 0, 0xc3 };	/* mov $42,%eax; ret */
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *code = mmap(NULL, page, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile unsigned char first = 0;
	int (*fn)(void) = (int (*)(void))code;
	int key;

	memcpy(code, ret42, sizeof(ret42));
	if (mprotect(code, page, PROT_EXEC))
		return 1;
	printf("call: %d\n", fn());
	install(SIGSEGV, on_segv_jump, 0);
	last_sig = 0;
	if (!sigsetjmp(jump, 1))
		first = *(volatile unsigned char *)code;
	printf("read: sig %d code %d addr ok %d, byte %#x\n", last_sig, last_code,
	       last_sig ? last_addr == code : 1, last_sig ? 0 : first);
	key = (int)syscall(SYS_pkey_alloc, 0, 0);
	printf("next pkey_alloc: %d\n", key);
	if (mprotect(code, page, PROT_READ | PROT_EXEC))
		return 1;
	printf("readable again: %#x, call %d\n", *(volatile unsigned char *)code, fn());
	return 0;
}

/*
 * A read from a pipe that a signal interrupts: EINTR without SA_RESTART,
 * made again after the handler with it.  Standard input must be a pipe
 * whose writer sends a line only after about four seconds.
 */
static int restart(void)
{
	char buf[64];
	ssize_t n;
	int e;

	install(SIGALRM, on_info, 0);
	alarm(1);
	n = read(0, buf, sizeof(buf));
	e = errno;
	printf("read without SA_RESTART: %zd %s\n", n, n < 0 && e == EINTR ? "EINTR" : "?");
	install(SIGALRM, on_info, SA_RESTART);
	hits = 0;
	alarm(1);
	n = read(0, buf, sizeof(buf));
	printf("read with SA_RESTART: %zd after %d signal(s): %.*s", n, hits, n > 0 ? (int)n : 0,
	       buf);
	return 0;
}

/*
 * Writes to standard output, a pipe whose reader leaves: with SIGPIPE
 * ignored the write fails with EPIPE; with the default action SIGPIPE ends
 * the program (141).  Reports go to standard error.
 */
static int sigpipe(void)
{
	static const char line[] = "a line for the reader\n";
	ssize_t n;

	signal(SIGPIPE, SIG_IGN);
	while ((n = write(1, line, sizeof(line) - 1)) > 0)
		;
	fprintf(stderr, "ignored: write %zd %s\n", n, errno == EPIPE ? "EPIPE" : strerror(errno));
	install(SIGPIPE, on_info, 0);
	hits = 0;
	n = write(1, line, sizeof(line) - 1);
	fprintf(stderr, "handled: write %zd %s, sig %d code %d pid ok %d\n", n,
		errno == EPIPE ? "EPIPE" : "?", hits ? last_sig : 0, last_code, last_pid == getpid());
	signal(SIGPIPE, SIG_DFL);
	write(1, line, sizeof(line) - 1);
	fprintf(stderr, "not reached\n");
	return 0;
}

/* SIGSTOP stops the program until SIGCONT comes, whose handler then runs. */
static int stop(void)
{
	install(SIGCONT, on_info, 0);
	printf("stopping\n");
	kill(getpid(), SIGSTOP);
	printf("continued, SIGCONT handled %d sig %d\n", hits > 0, last_sig);
	return 0;
}

static int bad_stack(void)
{
	/* The stack pointer at an unmapped page: no room for SIGSEGV's frame. */
	install(SIGSEGV, on_segv_jump, 0);
	__asm__ volatile("xor %%esp, %%esp\n\tmovb $1, (%%rsp)" ::: "memory");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "pkeys"))
		return test_pkeys();
	if (argc > 1 && !strcmp(argv[1], "abort")) {
		printf("aborting\n");
		abort();
	}
	if (argc > 1 && !strcmp(argv[1], "badstack"))
		return bad_stack();
	if (argc > 1 && !strcmp(argv[1], "execonly"))
		return exec_only();
	if (argc > 1 && !strcmp(argv[1], "restart"))
		return restart();
	if (argc > 1 && !strcmp(argv[1], "sigpipe"))
		return sigpipe();
	if (argc > 1 && !strcmp(argv[1], "stop"))
		return stop();
	if (argc > 1 && !strcmp(argv[1], "alarm")) {
		/* SIGALRM's default action: the program ends (142). */
		alarm(1);
		for (;;)
			;
	}
	test_raise();
	test_masks();
	test_nested();
	test_segv();
	test_retry();
	test_ill();
	test_trap();
	test_fpe();
	test_fpu();
	test_altstack();
	test_timers();
	test_posix_timer();
	printf("signals ok\n");
	return 0;
}
