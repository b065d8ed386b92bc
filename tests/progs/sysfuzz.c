/*
 * sysfuzz.c: throws random system calls with hostile arguments at whatever
 * serves them (here: pksandbox's Linux personality), to show that nothing a
 * guest passes can crash, hang or corrupt the host.  Deterministic per seed
 * (argv[1]).  Calls that would end the program or block are left out; the
 * program may still die of its own doing (say, munmap of its own stack),
 * which is a fine outcome as long as it is reported like a Linux signal.
 *
 * Addresses given after the seed are the host's own regions (the embedding
 * harness, tests/test_linux_fuzz.c, passes its keyed buffer and the call
 * trampoline): a third of the calls aim memory and key calls at them, with
 * MAP_FIXED, huge spans and the keys 1..15, the ways a guest once got hold of
 * host memory and keys.
 */
#include "guest.h"

static ulong state;

static ulong next(void)
{
	/* xorshift64*: enough for argument soup */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dULL;
}

static char buf[8192];
static ulong targets[8];	/* host regions from argv */
static int ntargets;

/* An argument a hostile guest might pass: small, huge, negative, a pointer good or bad. */
static long arg(void)
{
	switch (next() % 10) {
	case 0: return 0;
	case 1: return (long)(next() % 64);
	case 2: return -(long)(next() % 4096);
	case 3: return (long)buf + (long)(next() % sizeof(buf));	/* inside our data */
	case 4: return (long)(next() & 0x00007fffffffffffUL);		/* anywhere in user space */
	case 5: return (long)0xffffffff80002000UL;			/* the host's stub area */
	case 6: return (long)next();					/* any bits */
	case 7: return 0x7fffffffL;
	case 8: return (long)(0x800000000000UL - (next() % 8192));	/* the end of user space */
	default: return (long)(next() % 0x10000000);
	}
}

/* Exit, signals, blocking reads, pause, processes...: not what this program is about. */
static int skipped(ulong nr)
{
	static const unsigned short never[] = {
		0 /* read: stdin may block */, 17 /* pread64 */, 19 /* readv */, 23 /* select */,
		13 /* rt_sigaction: a random handler */, 15 /* rt_sigreturn: random registers */,
		128 /* rt_sigtimedwait */, 130 /* rt_sigsuspend */,
		34 /* pause */, 35 /* nanosleep */, 60, 62 /* kill */, 200 /* tkill */,
		202 /* futex */, 230 /* clock_nanosleep */, 231, 234 /* tgkill */,
		7 /* poll */, 270 /* pselect6 */, 271 /* ppoll */, 281 /* epoll_pwait */,
		232 /* epoll_wait */, 278 /* vmsplice: a pipe's end may block */,
		22 /* pipe */, 293 /* pipe2: writes to its pipes block when full */,
		56 /* clone */, 435 /* clone3: a thread on a random stack is not a call */,
		57 /* fork */, 58 /* vfork: each child would fuzz on, 2^n of them */,
		59 /* execve: a random program instead of this one */,
	};

	for (ulong i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (nr == never[i])
			return 1;
	return 0;
}

/*
 * close(), dup2() or dup3() of fds 0-2: the program could no longer print its
 * completion line, and a status of 0 without it would look like a silent
 * early exit.
 */
static int closes_stdio(ulong nr, const long *a)
{
	return (nr == 3 && (ulong)a[0] <= 2) || ((nr == 33 || nr == 292) && (ulong)a[1] <= 2);
}

static ulong parse_hex(const char *s)
{
	ulong v = 0;

	for (s += s[0] == '0' && s[1] == 'x' ? 2 : 0; *s; s++)
		v = v * 16 + (ulong)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
	return v;
}

/*
 * Near a host region: at it, just below it (so a range straddles it), or a
 * page in.  Only the first is approached from below: below the others (the
 * trampoline) is the program's own stack, and unmapping it ends the run.
 */
static long near_target(void)
{
	ulong i = next() % ntargets, t = targets[i] & ~0xfffUL;

	switch (i ? 0 : next() % 3) {
	case 0: return (long)t;
	case 1: return (long)(t - 4096 * (1 + next() % 4));
	default: return (long)(t + 4096 * (next() % 2));
	}
}

/* A length: a few pages, or a span of terabytes. */
static long span(void)
{
	return next() % 4 ? (long)(4096 * (1 + next() % 8)) : (long)(next() & 0x7fffffffffffUL);
}

/* The memory and key calls, aimed at the host's regions with the flags that matter. */
static void aimed_call(void)
{
	static const long fixed_flags[] = { 0x32 /* PRIVATE|FIXED|ANON */, 0x100022 /* NOREPLACE */ };

	switch (next() % 9) {
	case 0: sys6(9, near_target(), span(), 3, fixed_flags[next() % 2], -1, 0); break;
	case 1: sys6(11, near_target(), span(), 0, 0, 0, 0); break;
	case 2: sys6(25, near_target(), span(), span(), 3 /* MAYMOVE|FIXED */, near_target(), 0); break;
	case 3: sys6(25, sys6(9, 0, 4096, 3, 0x22, -1, 0), 4096, 8192, 3, near_target(), 0); break;
	case 4: sys6(10, near_target(), span(), (long)(next() % 8), 0, 0, 0); break;
	case 5: sys6(28, near_target(), span(), next() % 2 ? 4 /* DONTNEED */ : 8 /* FREE */, 0, 0, 0); break;
	case 6: sys6(329, near_target(), span(), (long)(next() % 8), (long)(next() % 17) - 1, 0, 0); break;
	case 7: sys6(330, 0, (long)(next() % 4), 0, 0, 0, 0); break;
	default: sys6(331, (long)(next() % 17), 0, 0, 0, 0, 0); break;
	}
}

int main(int argc, char **argv)
{
	long calls = 0;

	state = 0x9e3779b97f4a7c15UL;
	for (const char *p = argc > 1 ? argv[1] : "1"; *p; p++)
		state = state * 31 + (ulong)*p;
	for (int i = 2; i < argc && ntargets < 8; i++)
		targets[ntargets++] = parse_hex(argv[i]);
	for (int i = 0; i < 20000; i++) {
		ulong nr = next() % 8 == 0 ? next() : next() % 340;

		if (ntargets && next() % 3 == 0) {
			aimed_call();
			calls++;
			continue;
		}
		long a[6] = { arg(), arg(), arg(), arg(), arg(), arg() };

		if (skipped(nr) || closes_stdio(nr, a))
			continue;
		sys6((long)nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		calls++;
	}
	put(1, "sysfuzz: done\n");
	return calls > 1000 ? 0 : 1;
}
