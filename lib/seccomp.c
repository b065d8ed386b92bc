/* seccomp.c: the host lockdown: a libseccomp allow-list of what running a VM needs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vm.h"

/*
 * What the filter cannot narrow, and why (see also SECURITY.md):
 * - read, write, pread64, readv, writev, lseek, fstat, getdents64, close,
 *   ppoll: on any descriptor.  The personality opens the guest's files after
 *   the lockdown, so their numbers are not known when the filter is built,
 *   and seccomp has no "descriptors opened later" test.  They give access
 *   only to what the process already holds; nothing new can be opened but
 *   read-only (below).
 * - KVM_SET_USER_MEMORY_REGION: its argument is a pointer to a struct that
 *   seccomp cannot read (it sees only the six registers).  It is limited to
 *   this VM's fd, so at worst this VM's memory layout changes.
 * - openat: the path is a pointer too, so the filter cannot judge it; it
 *   checks the flags (read-only, O_NOFOLLOW, no O_CREAT/O_TRUNC/O_APPEND/
 *   O_TMPFILE) and that the call is relative to a descriptor, never
 *   AT_FDCWD: the personality opens everything beneath the --ro roots it
 *   opened before the lockdown, one component at a time (paths.c).  openat2
 *   is refused: its flags sit in a struct seccomp cannot see.
 * - mmap/mprotect: PROT_EXEC is refused; mapping a held descriptor is not.
 * - With pkvm_vm_enable_fork() (a Linux guest with processes): fork() (never
 *   a thread: CLONE_VM refused) and KVM_CREATE_VM, so that a child can build
 *   its VM; the child keeps this filter.  Another VM gives nothing a VM of
 *   this process could not.  No signal to another process is allowed: the
 *   guest's processes wake each other through eventfds (lib/linux/procs.c).
 * - With a writable tree: opens that write and create, and mkdirat,
 *   unlinkat, renameat(2), linkat, ftruncate, fchmod(at), utimensat, with any
 *   arguments.  seccomp cannot tell which file an absolute path names, for
 *   these or for read-only opens: the Linux personality also has the kernel
 *   restrict the process to its roots with Landlock where it can
 *   (lib/linux/landlock.c), so that reads stay beneath the roots and changes
 *   beneath the writable ones even for a compromised host process.
 */

/* System calls allowed with any arguments, each with why the run loop needs it. */
static const struct {
	const char *name;
	const char *why;
} plain[] = {
	{ "read", "guest reads of stdin and of --ro files" },
	{ "write", "guest writes to stdout/stderr; pksandbox's own reports" },
	{ "readv", "stdio of the host libc" },
	{ "writev", "stdio of the host libc" },
	{ "pread64", "guest pread64() and file-backed mmap() of --ro files" },
	{ "pwrite64", "guest pwrite64() on the files it may write (stdout to a file included)" },
	{ "lseek", "guest lseek() on its files" },
	{ "close", "guest close() of --ro files; VM teardown" },
	{ "fstat", "guest fstat(); the host libc's stdio" },
	{ "newfstatat", "guest fstat()/stat() (libc's fstat is newfstatat)" },
	{ "statx", "guest statx()" },
	{ "fstatfs", "guest opens under --ro: no path into procfs or sysfs (paths.c)" },
	{ "ppoll", "waits on guest stdin/pipes and sleeps that pkvm_interrupt() ends (block.c)" },
	{ "getdents64", "guest directory listings under --ro" },
	{ "munmap", "host malloc(); VM teardown" },
	{ "mremap", "host realloc() of large blocks" },
	{ "brk", "host malloc()" },
	{ "madvise", "host free(); unmapped guest frames given back (memory.c)" },
	{ "mincore", "pkvm_snapshot() copies only resident guest pages" },
	{ "clock_gettime", "time limits, --stats, guest clock_gettime()" },
	{ "clock_getres", "guest clock_getres()" },
	{ "clock_nanosleep", "guest sleeps" },
	{ "nanosleep", "guest sleeps" },
	{ "gettimeofday", "guest gettimeofday() (vDSO fallback)" },
	{ "time", "guest time() (vDSO fallback)" },
	{ "getrandom", "guest getrandom()" },
	{ "futex", "the kick lock shared with pkvm_interrupt()" },
	{ "rt_sigreturn", "return from the kick signal's handler" },
	{ "rt_sigprocmask", "host libc around signals; SIGPIPE blocked around stream writes" },
	{ "rt_sigtimedwait", "taking back the SIGPIPE a write to a closed pipe raised (files.c)" },
	{ "restart_syscall", "after the kick signal" },
	{ "getpid", "pkvm_interrupt() signals the running thread" },
	{ "gettid", "the time-limit timer targets the running thread" },
	{ "timer_create", "the time limit's timer, made at the first run" },
	{ "timer_settime", "arming and disarming the time limit" },
	{ "timer_gettime", "the time limit" },
	{ "timer_delete", "VM teardown" },
	{ "exit", "thread exit" },
	{ "exit_group", "the end" },
};

/* KVM requests on the vCPU fd that running and exit decoding use (run.c, pkru.c, vcpu.c). */
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_VCPU_EVENTS,
	KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_FPU, KVM_SET_FPU,
#ifdef KVM_GET_XSAVE2
	KVM_GET_XSAVE2,
#endif
};

static int allow(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;	/* not a call on this architecture: nothing to allow */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/*
 * pkvm_vm_enable_fork(): fork() (a new process, never a thread: no CLONE_VM)
 * and what a child needs to make its VM again at the same fd numbers
 * (fork.c).  KVM_CREATE_VM on /dev/kvm gives a VM over the caller's own
 * memory only; a process that could run a VM can run another.
 */
static const struct {
	int which;			/* 0: /dev/kvm, 1: the VM, 2: the vCPU */
	unsigned long request;
} fork_ioctls[] = {
	{ 0, KVM_CREATE_VM }, { 0, KVM_GET_VCPU_MMAP_SIZE },
	{ 1, KVM_SET_TSS_ADDR }, { 1, KVM_CREATE_VCPU },
	{ 2, KVM_SET_CPUID2 }, { 2, KVM_SET_MSRS },
};

static int allow_fork(scmp_filter_ctx ctx, const struct pkvm_vm *vm)
{
	const int fds[3] = { vm->kvm_fd, vm->vm_fd, vm->vcpu_fd };
	/* Exactly the host libc's fork(): no thread, no namespace, nothing shared. */
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				   SCMP_A0(SCMP_CMP_EQ, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID |
							SIGCHLD));

	for (size_t i = 0; i < sizeof(fork_ioctls) / sizeof(fork_ioctls[0]) && !err; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
				       SCMP_A0(SCMP_CMP_EQ, (uint64_t)fds[fork_ioctls[i].which]),
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL,
					       fork_ioctls[i].request));
	if (!err)
		err = allow(ctx, "wait4");	/* reaping the host side of an ended child */
	/* The child's new VM and vCPU onto the numbers the rules above name, and only there. */
	for (int i = 1; i < 3 && !err; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup3), 1,
				       SCMP_A1(SCMP_CMP_EQ, (uint64_t)fds[i]));
	if (!err)
		err = allow(ctx, "set_robust_list");	/* the host libc's fork(), in the child */
	return err;
}

/* Flags openat() may carry beside O_RDONLY (0) and the required O_NOFOLLOW (paths.c). */
#define LX_OPEN_ALLOWED	(O_PATH | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_DIRECTORY | 0100000 /* O_LARGEFILE */)

#ifdef PKVM_SANITIZER_BUILD
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>

/*
 * Sanitizer builds only (configure --enable-asan/--enable-ubsan, for testing).
 * Reports need only write and exit, which the filter allows; the runtime reads
 * what it may need for them (its memory map, symbolizer) before the filter is
 * on.  LeakSanitizer's check at exit cannot run under the filter (it forks a
 * tracer that ptraces this process): it runs here instead, and a leak ends the
 * process now.  Leaks made after the lockdown are checked where the same code
 * runs without it (the VM suites; pksandbox --no-seccomp in the QEMU lane).
 */
static void sanitizer_before_lockdown(void)
{
	__sanitizer_sandbox_on_notify(NULL);
#ifdef __SANITIZE_ADDRESS__
	__lsan_do_leak_check();
#endif
}
#else
static void sanitizer_before_lockdown(void)
{
}
#endif

/* What a server's lockdown() adds its needs to. */
struct pkvm_lockdown {
	scmp_filter_ctx ctx;
};

int pkvm_lockdown_allow_ioctl(struct pkvm_lockdown *rules, int fd, unsigned long request)
{
	if (fd < 0)
		return -EBADF;
	return seccomp_rule_add(rules->ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
				SCMP_A0(SCMP_CMP_EQ, (uint64_t)fd),
				SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, request));
}

/* Opens as the personality's walk makes them (below), with @extra flags allowed too. */
static int allow_openat(scmp_filter_ctx ctx, uint64_t extra)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2,
				SCMP_A0(SCMP_CMP_LT, 0x80000000ULL),
				SCMP_A2(SCMP_CMP_MASKED_EQ,
					0xffffffffULL & ~(uint64_t)(LX_OPEN_ALLOWED | extra),
					(uint64_t)O_NOFOLLOW));
}

int pkvm_lockdown_allow_open_flags(struct pkvm_lockdown *rules, uint64_t flags)
{
	return allow_openat(rules->ctx, flags);
}

int pkvm_lockdown_allow_call(struct pkvm_lockdown *rules, const char *name)
{
	return allow(rules->ctx, name);
}

static int build(scmp_filter_ctx ctx, struct pkvm_vm *vm)
{
	struct pkvm_lockdown rules = { ctx };
	int err = 0;

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]) && !err; i++)
		err = allow(ctx, plain[i].name);
	for (size_t i = 0; i < sizeof(vcpu_ioctls) / sizeof(vcpu_ioctls[0]) && !err; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
				       SCMP_A0(SCMP_CMP_EQ, (uint64_t)vm->vcpu_fd),
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, vcpu_ioctls[i]));
	/*
	 * On the VM fd: shadow paging refreshes the page-table slot after table
	 * edits (run.c); snapshots turn dirty logging on and read the log
	 * (snapshot.c), so a locked-down host can still restore per request.
	 */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
				       SCMP_A0(SCMP_CMP_EQ, (uint64_t)vm->vm_fd),
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL,
					       KVM_SET_USER_MEMORY_REGION));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
				       SCMP_A0(SCMP_CMP_EQ, (uint64_t)vm->vm_fd),
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, KVM_GET_DIRTY_LOG));
	if (!err && vm->kvm_fd >= 0)
		err = allow_fork(ctx, vm);
	/* What the exit servers (a personality) need beyond that. */
	if (!err)
		err = pkvm_exit_servers_lockdown(vm, &rules);
	/*
	 * Read-only opens relative to a descriptor (dirfd below 2^31: not
	 * AT_FDCWD, whether the int came sign-extended or not), with
	 * O_NOFOLLOW and nothing that writes or creates: the personality's
	 * component-by-component walk under the --ro roots (paths.c).
	 */
	if (!err)
		err = allow_openat(ctx, 0);
	/* Signals to this process only: pkvm_interrupt()'s kick, the host libc's abort(). */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (uint64_t)getpid()));
	/* Host memory for malloc(), never executable: no new code in this process. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	return err;
}

int pkvm_seccomp_lockdown(struct pkvm_vm *vm, unsigned flags)
{
	scmp_filter_ctx ctx;
	int err;

	if (!vm || (flags & ~PKVM_LOCKDOWN_ERRNO))
		return -EINVAL;
	ctx = seccomp_init((flags & PKVM_LOCKDOWN_ERRNO) ? SCMP_ACT_ERRNO(EPERM)
							 : SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -ENOMEM;
	/* Every thread of the process, or a sibling thread would be a way around it. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/*
	 * Before the servers' needs are built: a personality restricts the
	 * file system there (Landlock), and the leak check reads /proc.
	 */
	if (!err)
		sanitizer_before_lockdown();
	if (!err)
		err = build(ctx, vm);
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err > 0 ? -err : err;
}
