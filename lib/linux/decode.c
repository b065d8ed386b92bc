/* decode.c: system-call names, flags and constants as strace writes them (no guest memory). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * The guest's ABI is x86-64 Linux's, so its numbers come from the kernel's
 * UAPI headers rather than the host libc's, which differ where it matters
 * (glibc's O_LARGEFILE is 0 on x86-64; the kernel's, which guests may pass,
 * is not).  No libc header that defines the same names is included here.
 */
#include <asm/prctl.h>
#include <asm-generic/signal-defs.h>
#include <linux/eventpoll.h>
#include <linux/fcntl.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <linux/random.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/time.h>
#include <linux/wait.h>

#include "decode.h"

/* SEEK_* and the access() modes: in <linux/fs.h> and <unistd.h>, too heavy to pull in. */
#define LX_SEEK_SET	0
#define LX_SEEK_CUR	1
#define LX_SEEK_END	2
#define LX_SEEK_DATA	3
#define LX_SEEK_HOLE	4
#define LX_R_OK		4
#define LX_W_OK		2
#define LX_X_OK		1
/* x86's own sa_flags bit (<asm/signal.h>, which would bring a sigset_t of its own). */
#define LX_SA_RESTORER	0x04000000

void lx_text_put(struct lx_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len + 1 >= t->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = t->len + n < t->size ? t->len + n : t->size - 1;
}

static struct lx_text out_init(char *buf, size_t size)
{
	struct lx_text o = { buf, size, 0 };

	if (size)
		buf[0] = '\0';
	return o;
}

const char *lx_syscall_name(uint64_t nr)
{
	return nr < lx_nsysnames ? lx_sysnames[nr] : NULL;
}

/* A name for a set of bits (all of which must be present), or for an exact value. */
struct name {
	uint64_t value;
	const char *name;
};
#define NAME(x)		{ (uint64_t)(x), #x }
#define NNAMES(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Bits by name, '|'-joined, those no name covers in hex at the end.  Wider
 * names come first in a table (O_SYNC before O_DSYNC, whose bit it holds).
 * @none is written for a value with no bits at all.
 */
static void put_bits(struct lx_text *o, const struct name *names, size_t n, uint64_t v, bool *first)
{
	for (size_t i = 0; i < n; i++) {
		if (!names[i].value || (v & names[i].value) != names[i].value)
			continue;
		lx_text_put(o, "%s%s", *first ? "" : "|", names[i].name);
		*first = false;
		v &= ~names[i].value;
	}
	if (v) {
		lx_text_put(o, "%s%#llx", *first ? "" : "|", (unsigned long long)v);
		*first = false;
	}
}

static void put_flags(struct lx_text *o, const struct name *names, size_t n, uint64_t v,
		      const char *none)
{
	bool first = true;

	if (!v) {
		lx_text_put(o, "%s", none);
		return;
	}
	put_bits(o, names, n, v, &first);
}

/* One of a set of values by name, else the value in decimal. */
static void put_enum(struct lx_text *o, const struct name *names, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++) {
		if (names[i].value == v) {
			lx_text_put(o, "%s", names[i].name);
			return;
		}
	}
	lx_text_put(o, "%lld", (long long)v);
}

static const struct name prot_names[] = {
	NAME(PROT_READ), NAME(PROT_WRITE), NAME(PROT_EXEC), NAME(PROT_SEM),
	NAME(PROT_GROWSDOWN), NAME(PROT_GROWSUP),
};

/* The mapping's type sits in the low bits: a value, not flags. */
static const struct name map_types[] = {
	NAME(MAP_SHARED), NAME(MAP_PRIVATE), NAME(MAP_SHARED_VALIDATE),
};
static const struct name map_names[] = {
	NAME(MAP_FIXED), NAME(MAP_ANONYMOUS), NAME(MAP_32BIT), NAME(MAP_GROWSDOWN),
	NAME(MAP_DENYWRITE), NAME(MAP_EXECUTABLE), NAME(MAP_LOCKED), NAME(MAP_NORESERVE),
	NAME(MAP_POPULATE), NAME(MAP_NONBLOCK), NAME(MAP_STACK), NAME(MAP_HUGETLB),
	NAME(MAP_SYNC), NAME(MAP_FIXED_NOREPLACE),
};

static void put_map_flags(struct lx_text *o, uint64_t v)
{
	uint64_t type = v & MAP_TYPE;
	bool first = true;

	if (!v) {
		lx_text_put(o, "0");
		return;
	}
	for (size_t i = 0; i < NNAMES(map_types); i++) {
		if (type == map_types[i].value) {
			lx_text_put(o, "%s", map_types[i].name);
			first = false;
			v &= ~MAP_TYPE;
		}
	}
	put_bits(o, map_names, NNAMES(map_names), v, &first);
}

/* The access mode is a value in the low two bits; O_RDONLY is zero and always shown. */
static const struct name open_modes[] = {
	NAME(O_RDONLY), NAME(O_WRONLY), NAME(O_RDWR),
};
static const struct name open_names[] = {
	NAME(O_SYNC), NAME(O_TMPFILE), NAME(O_CREAT), NAME(O_EXCL), NAME(O_NOCTTY),
	NAME(O_TRUNC), NAME(O_APPEND), NAME(O_NONBLOCK), NAME(O_DSYNC), NAME(FASYNC),
	NAME(O_DIRECT), NAME(O_LARGEFILE), NAME(O_DIRECTORY), NAME(O_NOFOLLOW),
	NAME(O_NOATIME), NAME(O_CLOEXEC), NAME(O_PATH),
};

static void put_open_flags(struct lx_text *o, uint64_t v)
{
	bool first = false;
	uint64_t mode = v & O_ACCMODE;

	if (mode < NNAMES(open_modes)) {
		lx_text_put(o, "%s", open_modes[mode].name);
		v &= ~(uint64_t)O_ACCMODE;	/* mode 3 stays, shown in hex */
	} else {
		first = true;
	}
	put_bits(o, open_names, NNAMES(open_names), v, &first);
}

static const struct name at_names[] = {
	NAME(AT_SYMLINK_NOFOLLOW), NAME(AT_REMOVEDIR), NAME(AT_SYMLINK_FOLLOW),
	NAME(AT_NO_AUTOMOUNT), NAME(AT_EMPTY_PATH), NAME(AT_STATX_FORCE_SYNC),
	NAME(AT_STATX_DONT_SYNC),
};

static const struct name clone_names[] = {
	NAME(CLONE_VM), NAME(CLONE_FS), NAME(CLONE_FILES), NAME(CLONE_SIGHAND),
	NAME(CLONE_PIDFD), NAME(CLONE_PTRACE), NAME(CLONE_VFORK), NAME(CLONE_PARENT),
	NAME(CLONE_THREAD), NAME(CLONE_NEWNS), NAME(CLONE_SYSVSEM), NAME(CLONE_SETTLS),
	NAME(CLONE_PARENT_SETTID), NAME(CLONE_CHILD_CLEARTID), NAME(CLONE_DETACHED),
	NAME(CLONE_UNTRACED), NAME(CLONE_CHILD_SETTID), NAME(CLONE_NEWCGROUP),
	NAME(CLONE_NEWUTS), NAME(CLONE_NEWIPC), NAME(CLONE_NEWUSER), NAME(CLONE_NEWPID),
	NAME(CLONE_NEWNET), NAME(CLONE_IO),
#ifdef CLONE_CLEAR_SIGHAND
	NAME(CLONE_CLEAR_SIGHAND),
#endif
#ifdef CLONE_INTO_CGROUP
	NAME(CLONE_INTO_CGROUP),
#endif
#ifdef CLONE_NEWTIME
	NAME(CLONE_NEWTIME),
#endif
};

/* The x86-64 signal numbers, 1..31; above them the real-time ones. */
static const char *const signal_names[] = {
	[1] = "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
	"SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
	"SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",
	"SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
	"SIGIO", "SIGPWR", "SIGSYS",
};
#define LX_NSIG		64

static void put_signal(struct lx_text *o, uint64_t sig)
{
	if (sig && sig < NNAMES(signal_names))
		lx_text_put(o, "%s", signal_names[sig]);
	else if (sig >= NNAMES(signal_names) && sig <= LX_NSIG)
		lx_text_put(o, "SIGRT_%llu", (unsigned long long)sig - NNAMES(signal_names));
	else
		lx_text_put(o, "%lld", (long long)sig);
}

/* clone()'s flags carry the exit signal in their low byte; clone3's do not. */
static void put_clone_flags(struct lx_text *o, uint64_t v, bool with_signal)
{
	uint64_t sig = with_signal ? v & CSIGNAL : 0;
	bool first = true;

	if (!v) {
		lx_text_put(o, "0");
		return;
	}
	if (with_signal)
		v &= ~(uint64_t)CSIGNAL;
	put_bits(o, clone_names, NNAMES(clone_names), v, &first);
	if (sig) {
		lx_text_put(o, "%s", first ? "" : "|");
		put_signal(o, sig);
	}
}

static const struct name sigmask_hows[] = {
	NAME(SIG_BLOCK), NAME(SIG_UNBLOCK), NAME(SIG_SETMASK),
};

static const struct name fcntl_cmds[] = {
	NAME(F_DUPFD), NAME(F_GETFD), NAME(F_SETFD), NAME(F_GETFL), NAME(F_SETFL),
	NAME(F_GETLK), NAME(F_SETLK), NAME(F_SETLKW), NAME(F_SETOWN), NAME(F_GETOWN),
	NAME(F_SETSIG), NAME(F_GETSIG), NAME(F_SETOWN_EX), NAME(F_GETOWN_EX),
	NAME(F_OFD_GETLK), NAME(F_OFD_SETLK), NAME(F_OFD_SETLKW), NAME(F_SETLEASE),
	NAME(F_GETLEASE), NAME(F_NOTIFY), NAME(F_DUPFD_CLOEXEC), NAME(F_SETPIPE_SZ),
	NAME(F_GETPIPE_SZ), NAME(F_ADD_SEALS), NAME(F_GET_SEALS),
};

static const struct name clock_ids[] = {
	NAME(CLOCK_REALTIME), NAME(CLOCK_MONOTONIC), NAME(CLOCK_PROCESS_CPUTIME_ID),
	NAME(CLOCK_THREAD_CPUTIME_ID), NAME(CLOCK_MONOTONIC_RAW), NAME(CLOCK_REALTIME_COARSE),
	NAME(CLOCK_MONOTONIC_COARSE), NAME(CLOCK_BOOTTIME), NAME(CLOCK_REALTIME_ALARM),
	NAME(CLOCK_BOOTTIME_ALARM), NAME(CLOCK_TAI),
};

static const struct name wait_names[] = {
	NAME(WNOHANG), NAME(WUNTRACED), NAME(WEXITED), NAME(WCONTINUED), NAME(WNOWAIT),
	NAME(__WNOTHREAD), NAME(__WALL), NAME(__WCLONE),
};

static const struct name arch_prctl_codes[] = {
	NAME(ARCH_SET_GS), NAME(ARCH_SET_FS), NAME(ARCH_GET_FS), NAME(ARCH_GET_GS),
	NAME(ARCH_GET_CPUID), NAME(ARCH_SET_CPUID),
};

static const struct name futex_ops[] = {
	NAME(FUTEX_WAIT), NAME(FUTEX_WAKE), NAME(FUTEX_FD), NAME(FUTEX_REQUEUE),
	NAME(FUTEX_CMP_REQUEUE), NAME(FUTEX_WAKE_OP), NAME(FUTEX_LOCK_PI),
	NAME(FUTEX_UNLOCK_PI), NAME(FUTEX_TRYLOCK_PI), NAME(FUTEX_WAIT_BITSET),
	NAME(FUTEX_WAKE_BITSET), NAME(FUTEX_WAIT_REQUEUE_PI), NAME(FUTEX_CMP_REQUEUE_PI),
	NAME(FUTEX_LOCK_PI2),
};

/* As strace: FUTEX_WAIT_PRIVATE, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME. */
static void put_futex_op(struct lx_text *o, uint64_t v)
{
	uint64_t cmd = v & FUTEX_CMD_MASK;
	bool named = false;

	for (size_t i = 0; i < NNAMES(futex_ops) && !named; i++) {
		if (futex_ops[i].value == cmd) {
			lx_text_put(o, "%s%s", futex_ops[i].name, v & FUTEX_PRIVATE_FLAG ? "_PRIVATE" : "");
			named = true;
		}
	}
	if (!named) {
		lx_text_put(o, "%#llx", (unsigned long long)v);
		return;
	}
	if (v & FUTEX_CLOCK_REALTIME)
		lx_text_put(o, "|FUTEX_CLOCK_REALTIME");
	v &= ~(uint64_t)(FUTEX_CMD_MASK | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
	if (v)
		lx_text_put(o, "|%#llx", (unsigned long long)v);
}

static const struct name seek_whences[] = {
	{ LX_SEEK_SET, "SEEK_SET" }, { LX_SEEK_CUR, "SEEK_CUR" }, { LX_SEEK_END, "SEEK_END" },
	{ LX_SEEK_DATA, "SEEK_DATA" }, { LX_SEEK_HOLE, "SEEK_HOLE" },
};

static const struct name access_modes[] = {
	{ LX_R_OK, "R_OK" }, { LX_W_OK, "W_OK" }, { LX_X_OK, "X_OK" },
};

static const struct name pkey_rights[] = {
	NAME(PKEY_DISABLE_ACCESS), NAME(PKEY_DISABLE_WRITE),
};

static const struct name madvise_advice[] = {
	NAME(MADV_NORMAL), NAME(MADV_RANDOM), NAME(MADV_SEQUENTIAL), NAME(MADV_WILLNEED),
	NAME(MADV_DONTNEED), NAME(MADV_FREE), NAME(MADV_REMOVE), NAME(MADV_DONTFORK),
	NAME(MADV_DOFORK), NAME(MADV_MERGEABLE), NAME(MADV_UNMERGEABLE),
	NAME(MADV_HUGEPAGE), NAME(MADV_NOHUGEPAGE), NAME(MADV_DONTDUMP), NAME(MADV_DODUMP),
	NAME(MADV_WIPEONFORK), NAME(MADV_KEEPONFORK), NAME(MADV_COLD), NAME(MADV_PAGEOUT),
	NAME(MADV_HWPOISON),
};

static const struct name random_names[] = {
	NAME(GRND_NONBLOCK), NAME(GRND_RANDOM), NAME(GRND_INSECURE),
};

static const struct name rlimit_names[] = {
	NAME(RLIMIT_CPU), NAME(RLIMIT_FSIZE), NAME(RLIMIT_DATA), NAME(RLIMIT_STACK),
	NAME(RLIMIT_CORE), NAME(RLIMIT_RSS), NAME(RLIMIT_NPROC), NAME(RLIMIT_NOFILE),
	NAME(RLIMIT_MEMLOCK), NAME(RLIMIT_AS), NAME(RLIMIT_LOCKS), NAME(RLIMIT_SIGPENDING),
	NAME(RLIMIT_MSGQUEUE), NAME(RLIMIT_NICE), NAME(RLIMIT_RTPRIO), NAME(RLIMIT_RTTIME),
};

static const struct name sa_names[] = {
	NAME(SA_NOCLDSTOP), NAME(SA_NOCLDWAIT), NAME(SA_SIGINFO), { LX_SA_RESTORER, "SA_RESTORER" },
	NAME(SA_ONSTACK), NAME(SA_RESTART), NAME(SA_NODEFER), NAME(SA_RESETHAND),
};

static const struct name epoll_ops[] = {
	NAME(EPOLL_CTL_ADD), NAME(EPOLL_CTL_DEL), NAME(EPOLL_CTL_MOD),
};

static const struct name mremap_names[] = {
	NAME(MREMAP_MAYMOVE), NAME(MREMAP_FIXED), NAME(MREMAP_DONTUNMAP),
};

bool lx_decode_value(char *buf, size_t size, char kind, uint64_t v)
{
	struct lx_text o = out_init(buf, size);

	switch (kind) {
	case 'd':
	case 'f':
		/* An int: the kernel ignores the upper half (wait4(-1, ...) comes as 0xffffffff). */
		lx_text_put(&o, "%d", (int)v);
		break;
	case 'l':
		lx_text_put(&o, "%lld", (long long)v);
		break;
	case 'a':
		if ((int)v == AT_FDCWD)
			lx_text_put(&o, "AT_FDCWD");
		else
			lx_text_put(&o, "%d", (int)v);
		break;
	case 'u':
		lx_text_put(&o, "%llu", (unsigned long long)v);
		break;
	case 'o':
		lx_text_put(&o, "%#llo", (unsigned long long)v);
		break;
	case 'p':
		if (v)
			lx_text_put(&o, "%#llx", (unsigned long long)v);
		else
			lx_text_put(&o, "NULL");
		break;
	case 'x':
		lx_text_put(&o, "%#llx", (unsigned long long)v);
		break;
	case 'P':
		put_flags(&o, prot_names, NNAMES(prot_names), v, "PROT_NONE");
		break;
	case 'M':
		put_map_flags(&o, v);
		break;
	case 'O':
		put_open_flags(&o, v);
		break;
	case 'N':
		put_flags(&o, open_names, NNAMES(open_names), v, "0");
		break;
	case 'A':
		put_flags(&o, at_names, NNAMES(at_names), v, "0");
		break;
	case 'C':
		put_clone_flags(&o, v, true);
		break;
	case 'S':
		put_signal(&o, v);
		break;
	case 'H':
		put_enum(&o, sigmask_hows, NNAMES(sigmask_hows), v);
		break;
	case 'F':
		put_enum(&o, fcntl_cmds, NNAMES(fcntl_cmds), v);
		break;
	case 'c':
		put_enum(&o, clock_ids, NNAMES(clock_ids), v);
		break;
	case 'W':
		put_flags(&o, wait_names, NNAMES(wait_names), v, "0");
		break;
	case 'L':
		put_enum(&o, arch_prctl_codes, NNAMES(arch_prctl_codes), v);
		break;
	case 'X':
		put_futex_op(&o, v);
		break;
	case 'w':
		put_enum(&o, seek_whences, NNAMES(seek_whences), v);
		break;
	case 'R':
		put_flags(&o, access_modes, NNAMES(access_modes), v, "F_OK");
		break;
	case 'K':
		put_flags(&o, pkey_rights, NNAMES(pkey_rights), v, "0");
		break;
	case 'V':
		put_enum(&o, madvise_advice, NNAMES(madvise_advice), v);
		break;
	case 'E':
		put_enum(&o, epoll_ops, NNAMES(epoll_ops), v);
		break;
	case 'Y':
		put_flags(&o, mremap_names, NNAMES(mremap_names), v, "0");
		break;
	case 'G':
		put_flags(&o, random_names, NNAMES(random_names), v, "0");
		break;
	case 'r':
		put_enum(&o, rlimit_names, NNAMES(rlimit_names), v);
		break;
	default:
		return false;
	}
	return true;
}

void lx_decode_signal(char *buf, size_t size, uint64_t sig)
{
	struct lx_text o = out_init(buf, size);

	put_signal(&o, sig);
}

/* As strace: the signals set, by name without "SIG"; the complement when most are set. */
void lx_decode_sigset(char *buf, size_t size, uint64_t mask)
{
	struct lx_text o = out_init(buf, size);
	bool inverted = __builtin_popcountll(mask) > LX_NSIG / 2, first = true;
	char name[16];

	if (inverted) {
		mask = ~mask;
		lx_text_put(&o, "~");
	}
	lx_text_put(&o, "[");
	for (unsigned sig = 1; sig <= LX_NSIG; sig++) {
		if (!(mask & (1ULL << (sig - 1))))
			continue;
		lx_decode_signal(name, sizeof(name), sig);
		lx_text_put(&o, "%s%s", first ? "" : " ", strncmp(name, "SIG", 3) ? name : name + 3);
		first = false;
	}
	lx_text_put(&o, "]");
}

void lx_decode_timespec(char *buf, size_t size, int64_t sec, int64_t nsec)
{
	struct lx_text o = out_init(buf, size);

	lx_text_put(&o, "{tv_sec=%lld, tv_nsec=%lld}", (long long)sec, (long long)nsec);
}

void lx_decode_clone_args(char *buf, size_t size, const uint64_t *words, size_t n)
{
	/* struct clone_args, in the order of <linux/sched.h>. */
	enum { FLAGS, PIDFD, CHILD_TID, PARENT_TID, EXIT_SIGNAL, STACK, STACK_SIZE, TLS };
	struct lx_text o = out_init(buf, size);

	lx_text_put(&o, "{flags=");
	if (n > FLAGS)
		put_clone_flags(&o, words[FLAGS], false);
	else
		lx_text_put(&o, "?");
	if (n > EXIT_SIGNAL) {
		lx_text_put(&o, ", exit_signal=");
		put_signal(&o, words[EXIT_SIGNAL]);
	}
	if (n > STACK_SIZE)
		lx_text_put(&o, ", stack=%#llx, stack_size=%#llx", (unsigned long long)words[STACK],
		    (unsigned long long)words[STACK_SIZE]);
	if (n > TLS && (words[FLAGS] & CLONE_SETTLS))
		lx_text_put(&o, ", tls=%#llx", (unsigned long long)words[TLS]);
	lx_text_put(&o, "}");
}

void lx_decode_sigaction(char *buf, size_t size, const uint64_t words[4])
{
	/* The kernel's struct sigaction on x86-64: handler, flags, restorer, mask. */
	struct lx_text o = out_init(buf, size);
	char mask[256];

	if (words[0] == (uint64_t)(uintptr_t)SIG_DFL)
		lx_text_put(&o, "{sa_handler=SIG_DFL");
	else if (words[0] == (uint64_t)(uintptr_t)SIG_IGN)
		lx_text_put(&o, "{sa_handler=SIG_IGN");
	else
		lx_text_put(&o, "{sa_handler=%#llx", (unsigned long long)words[0]);
	lx_decode_sigset(mask, sizeof(mask), words[3]);
	lx_text_put(&o, ", sa_mask=%s, sa_flags=", mask);
	put_flags(&o, sa_names, NNAMES(sa_names), words[1], "0");
	if (words[1] & LX_SA_RESTORER)
		lx_text_put(&o, ", sa_restorer=%#llx", (unsigned long long)words[2]);
	lx_text_put(&o, "}");
}
