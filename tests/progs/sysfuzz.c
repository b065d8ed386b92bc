/*
 * sysfuzz.c: throws random system calls with hostile arguments at whatever
 * serves them (here: pksandbox's Linux personality), to show that nothing a
 * guest passes can crash, hang or corrupt the host.  Deterministic per seed
 * (argv[1]).  Calls that would end the program or block are left out; the
 * program may still die of its own doing (say, munmap of its own stack),
 * which is a fine outcome as long as it is reported like a Linux signal.
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

/* Exit, signals, blocking reads, pause...: not what this program is about. */
static int skipped(ulong nr)
{
	static const unsigned short never[] = {
		0 /* read: stdin may block */, 17 /* pread64 */, 19 /* readv */, 23 /* select */,
		34 /* pause */, 35 /* nanosleep */, 60, 62 /* kill */, 200 /* tkill */,
		202 /* futex */, 230 /* clock_nanosleep */, 231, 234 /* tgkill */,
		7 /* poll */, 270 /* pselect6 */, 271 /* ppoll */, 281 /* epoll_pwait */,
	};

	for (ulong i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (nr == never[i])
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	long calls = 0;

	state = 0x9e3779b97f4a7c15UL;
	for (const char *p = argc > 1 ? argv[1] : "1"; *p; p++)
		state = state * 31 + (ulong)*p;
	for (int i = 0; i < 20000; i++) {
		ulong nr = next() % 8 == 0 ? next() : next() % 340;

		if (skipped(nr))
			continue;
		sys6((long)nr, arg(), arg(), arg(), arg(), arg(), arg());
		calls++;
	}
	put(1, "sysfuzz: done\n");
	return calls > 1000 ? 0 : 1;
}
