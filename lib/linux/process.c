/* process.c: identity, uname, arch_prctl, prctl, limits, random. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>

#include "personality.h"

#define LX_ARCH_SET_GS		0x1001
#define LX_ARCH_SET_FS		0x1002
#define LX_ARCH_GET_FS		0x1003
#define LX_ARCH_GET_GS		0x1004
#define LX_PR_SET_NAME		15
#define LX_PR_GET_NAME		16
#define LX_RLIM_INFINITY	(~0ULL)
#define LX_RLIMIT_STACK		3
#define LX_RLIMIT_NOFILE	7
#define LX_RLIMIT_AS		9
#define LX_RLIM_NLIMITS		16

LX_HANDLER_DEF(lx_sys_getuid)
{
	(void)vm; (void)lx; (void)args;
	return lx_ret(result, LX_UID);
}

LX_HANDLER_DEF(lx_sys_getgid)
{
	(void)vm; (void)lx; (void)args;
	return lx_ret(result, LX_GID);
}

/* getresuid and getresgid: the same one id three times (real, effective, saved). */
LX_HANDLER_DEF(lx_sys_getresuid)
{
	const uint32_t id = LX_UID;
	int err = 0;

	(void)lx;
	_Static_assert(LX_UID == LX_GID, "getresgid shares this handler");
	for (unsigned i = 0; i < 3 && !err; i++)
		err = lx_write(vm, args[i], &id, sizeof(id));
	return lx_ret(result, err);
}

/*
 * setuid(), setgid(), setreuid(), setregid(), setresuid(), setresgid(): the
 * guest is one unprivileged user, so it may "change" to its own id (what
 * programs do to drop privileges they never had) and to nothing else.
 */
static int64_t own_ids_only(const uint64_t args[6], unsigned n)
{
	_Static_assert(LX_UID == LX_GID, "one check for user and group ids");
	for (unsigned i = 0; i < n; i++) {
		uint32_t id = (uint32_t)args[i];

		if (id != (uint32_t)-1 && id != LX_UID)
			return -EPERM;
	}
	return 0;
}

LX_HANDLER_DEF(lx_sys_setuid)
{
	return lx_ret(result, own_ids_only(args, 1));
}

LX_HANDLER_DEF(lx_sys_setreuid)
{
	return lx_ret(result, own_ids_only(args, 2));
}

LX_HANDLER_DEF(lx_sys_setresuid)
{
	return lx_ret(result, own_ids_only(args, 3));
}

LX_HANDLER_DEF(lx_sys_getgroups)
{
	(void)vm; (void)lx;
	if ((int)args[0] < 0)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, 0);	/* no supplementary groups */
}

LX_HANDLER_DEF(lx_sys_uname)
{
	/* struct utsname: six fields of 65 bytes. */
	static const char fields[6][65] = { "Linux", "pksandbox", "6.1.0-pkvm", "#1 libpkvm",
					    "x86_64", "(none)" };

	(void)lx;
	return lx_ret(result, lx_write(vm, args[0], fields, sizeof(fields)));
}

LX_HANDLER_DEF(lx_sys_arch_prctl)
{
	struct pkvm_regs regs;
	uint64_t value;
	int err;

	(void)lx;
	pkvm_get_regs(vm, &regs);
	switch (args[0]) {
	case LX_ARCH_SET_FS:
	case LX_ARCH_SET_GS:
		/* A non-canonical base would fault at entry: Linux says EPERM for it. */
		if (args[1] >= PKVM_USER_TOP)
			return lx_ret(result, -EPERM);
		if (args[0] == LX_ARCH_SET_FS)
			regs.fs_base = args[1];
		else
			regs.gs_base = args[1];
		return lx_ret(result, pkvm_set_regs(vm, &regs));
	case LX_ARCH_GET_FS:
	case LX_ARCH_GET_GS:
		value = args[0] == LX_ARCH_GET_FS ? regs.fs_base : regs.gs_base;
		err = lx_write(vm, args[1], &value, sizeof(value));
		return lx_ret(result, err);
	default:
		return lx_ret(result, -EINVAL);	/* CET and CPUID faulting: not offered */
	}
}

/* Only the thread name (busybox sets it); the rest of prctl() is not offered. */
LX_HANDLER_DEF(lx_sys_prctl)
{
	switch (args[0]) {
	case LX_PR_SET_NAME: {
		/*
		 * As Linux: at most 15 bytes up to a NUL, the rest of the 16
		 * NUL; a byte by byte copy reads no further than Linux would.
		 */
		char name[sizeof(lx->comm)] = { 0 };

		for (size_t i = 0; i < sizeof(name) - 1; i++) {
			int err = lx_read(vm, &name[i], args[1] + i, 1);

			if (err)
				return lx_ret(result, err);
			if (!name[i])
				break;
		}
		memcpy(lx->comm, name, sizeof(name));
		return lx_ret(result, 0);
	}
	case LX_PR_GET_NAME:
		return lx_ret(result, lx_write(vm, args[1], lx->comm, sizeof(lx->comm)));
	default:
		return lx_ret(result, -EINVAL);
	}
}

LX_HANDLER_DEF(lx_sys_set_robust_list)
{
	(void)vm; (void)lx;
	/*
	 * Accepted and not kept: a thread's robust futexes are not released
	 * for it when it dies holding them (only pthread mutexes made robust
	 * on purpose rely on that).
	 */
	return lx_ret(result, args[1] == 24 ? 0 : -EINVAL);
}

/* Served by name, refused on purpose (rseq: libcs fall back without it). */
LX_HANDLER_DEF(lx_sys_enosys)
{
	(void)vm; (void)lx; (void)args;
	return lx_ret(result, -ENOSYS);
}

static void get_limit(const struct pkvm_linux *lx, unsigned resource, uint64_t lim[2])
{
	lim[0] = lim[1] = LX_RLIM_INFINITY;
	if (resource == LX_RLIMIT_STACK)
		lim[0] = 8ULL << 20;
	else if (resource == LX_RLIMIT_NOFILE)
		lim[0] = lim[1] = lx->config.max_fds;
	else if (resource == LX_RLIMIT_AS)
		lim[0] = lim[1] = lx->config.max_address_space;	/* what mmap() may reserve */
}

LX_HANDLER_DEF(lx_sys_prlimit64)
{
	uint64_t lim[2];

	if (args[0] != 0 && args[0] != (uint64_t)lx->pid)
		return lx_ret(result, -ESRCH);
	if (args[1] >= LX_RLIM_NLIMITS)
		return lx_ret(result, -EINVAL);
	get_limit(lx, args[1], lim);
	if (args[3]) {
		int err = lx_write(vm, args[3], lim, sizeof(lim));

		if (err)
			return lx_ret(result, err);
	}
	/* Limits are the sandbox's, not the program's: lowering them is accepted and ignored. */
	return lx_ret(result, 0);
}

LX_HANDLER_DEF(lx_sys_getrlimit)
{
	uint64_t lim[2];

	if (args[0] >= LX_RLIM_NLIMITS)
		return lx_ret(result, -EINVAL);
	get_limit(lx, args[0], lim);
	return lx_ret(result, lx_write(vm, args[1], lim, sizeof(lim)));
}

#define LX_PRIO_PROCESS		0
#define LX_PRIO_USER		2

/*
 * getpriority(), setpriority(): each process's nice value, kept and
 * reported (inherited across fork); the host schedules all of them alike.
 * Raising one's priority needs a privilege the guest has not (EACCES).
 */
static bool priority_target_is_self(const struct pkvm_linux *lx, uint64_t which, uint64_t who)
{
	return which == LX_PRIO_PROCESS && ((int32_t)who == 0 || (int32_t)who == lx->pid);
}

LX_HANDLER_DEF(lx_sys_getpriority)
{
	if (args[0] > LX_PRIO_USER)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, 20 - (priority_target_is_self(lx, args[0], args[1]) ? lx->nice : 0));
}

LX_HANDLER_DEF(lx_sys_setpriority)
{
	int prio = (int)args[2];

	if (args[0] > LX_PRIO_USER)
		return lx_ret(result, -EINVAL);
	if (!priority_target_is_self(lx, args[0], args[1]))
		return lx_ret(result, 0);	/* others' values are theirs: accepted, not kept */
	prio = prio < -20 ? -20 : prio > 19 ? 19 : prio;
	if (prio < lx->nice)
		return lx_ret(result, -EACCES);
	lx->nice = prio;
	return lx_ret(result, 0);
}

LX_HANDLER_DEF(lx_sys_umask)
{
	unsigned old = lx->umask;

	lx->umask = args[0] & 0777;
	return lx_ret(result, old);
}

LX_HANDLER_DEF(lx_sys_getrandom)
{
	/* At most one bounce buffer per call: Linux also returns short counts. */
	size_t len = args[1] < LX_BOUNCE ? args[1] : LX_BOUNCE;
	ssize_t n;
	int err;

	if (args[2] & ~(uint64_t)(GRND_NONBLOCK | GRND_RANDOM | 0x4 /* GRND_INSECURE */))
		return lx_ret(result, -EINVAL);
	n = getrandom(lx->bounce, len, 0);
	if (n < 0)
		return lx_ret(result, -errno);
	err = lx_write(vm, args[0], lx->bounce, n);
	return lx_ret(result, err ? err : n);
}

/*
 * One thread: no one else can wake a waiter, so a wait whose value matches
 * would sleep forever; it returns ETIMEDOUT at once instead (and --timeout
 * catches a program that loops on it).
 */
