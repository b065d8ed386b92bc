/*
 * forks.c: fork(), vfork() and clone() of a process.  The child is a host
 * process of its own with a copy-on-write image of the guest (pkvm_vm_fork()
 * says why), so it inherits what Linux's child inherits for free: memory,
 * keys and PKRU, descriptors, signal handlers and mask, the cwd.  What
 * Linux's child does not inherit is undone here; its end is reported through
 * the shared table (procs.c) instead of to the embedder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "personality.h"

/* What fork-like clones may ask for beyond the signal (CLONE_VM only with CLONE_VFORK). */
#define LX_FORK_OPTIONS		(LX_CLONE_VFORK | LX_CLONE_VM | LX_CLONE_SETTLS | \
				 LX_CLONE_PARENT_SETTID | LX_CLONE_CHILD_SETTID | \
				 LX_CLONE_CHILD_CLEARTID | LX_CLONE_DETACHED | LX_CLONE_SYSVSEM)

bool lx_clone_is_process(uint64_t flags)
{
	return !(flags & LX_CLONE_THREAD) && (!(flags & LX_CLONE_VM) || (flags & LX_CLONE_VFORK));
}

/* The signal a CPU exception ends a program with, as Linux's traps send them. */
static int fault_signal(unsigned vector)
{
	switch (vector) {
	case 0:	 return SIGFPE;		/* #DE */
	case 1:
	case 3:	 return SIGTRAP;	/* #DB, #BP */
	case 6:	 return SIGILL;		/* #UD */
	case 16:
	case 19: return SIGFPE;		/* #MF, #XM */
	case 17: return SIGBUS;		/* #AC */
	default: return SIGSEGV;
	}
}

/* How a forked child's run ended, as its parent's wait4() will see it. */
static int end_status(const struct pkvm_exit *exit, int err)
{
	if (err)
		return SIGKILL;
	switch (exit->reason) {
	case PKVM_EXIT_EXIT:
		return exit->exit.signal ? exit->exit.signal : (exit->exit.status & 0xff) << 8;
	case PKVM_EXIT_FAULT:
		return fault_signal(exit->fault.vector);
	default:
		return SIGKILL;		/* the sandbox's time limit, a stop, a broken VM */
	}
}

/* pkvm_vm_fork()'s end of a child: never returns. */
static void child_end(struct pkvm_vm *vm, void *ctx, const struct pkvm_exit *exit, int err)
{
	struct pkvm_linux *lx = ctx;

	(void)vm;
	/* Its files close first, so that a reader of its pipes sees the end before its parent does. */
	lx_fdtable_destroy(lx);
	lx_memory_destroy(lx);		/* (and its mappings' files: a tmpfs counts them) */
	lx_procs_exit(lx, end_status(exit, err));
	_exit(0);
}

/* In the child: what Linux's copy_process() does not carry into the new process. */
static int become_child(struct pkvm_vm *vm, struct pkvm_linux *lx, unsigned slot, int32_t pid,
			uint64_t flags, uint64_t stack, uint64_t child_tid, uint64_t tls)
{
	struct pkvm_regs regs;

	lx->slot = slot;
	lx->pid = pid;
	lx_procs_lock(lx->procs);
	lx->procs->slot[slot].host_pid = getpid();
	/* SIGCHLD ignored is inherited, and with it the parent's way with zombies. */
	lx->procs->slot[slot].reaps_children = lx_signal_reaps_children(lx);
	lx_procs_unlock(lx->procs);
	free(lx->host_children);		/* its parent's children, not its own */
	lx->host_children = NULL;
	lx->nhost_children = 0;
	atomic_store(&vm->kick.interrupt, false);	/* an interrupt for the parent */
	lx_threads_forked(lx, pid, (flags & LX_CLONE_CHILD_CLEARTID) ? child_tid : 0);
	/* No pending signals, timers or alarm; a stop or a sleep of the parent's is not its. */
	lx->sig.t.pending = 0;
	atomic_store(&lx->sig.external, 0);
	lx->sig.stopped = false;
	memset(&lx->sig.itimer_real, 0, sizeof(lx->sig.itimer_real));
	memset(lx->timers, 0, sizeof(lx->timers));
	lx->restart.valid = false;
	memset(&lx->stats, 0, sizeof(lx->stats));
	lx_tmpfs_forked(lx);
	pkvm_get_regs(vm, &regs);
	if (stack)
		regs.rsp = stack;
	if (flags & LX_CLONE_SETTLS)
		regs.fs_base = tls;
	if (pkvm_set_regs(vm, &regs))
		return -EINVAL;
	lx_wakeup_rearm(vm, lx);
	if (flags & LX_CLONE_CHILD_SETTID)
		return lx_write(vm, child_tid, &pid, sizeof(pid));
	return 0;
}

int64_t lx_fork(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t flags, uint64_t stack,
		uint64_t parent_tid, uint64_t child_tid, uint64_t tls)
{
	int exit_signal = (int)(flags & LX_CSIGNAL);
	unsigned slot;
	int32_t pid;
	pid_t host;
	int err;

	if ((flags & ~(LX_CSIGNAL | LX_FORK_OPTIONS)) || exit_signal > LX_NR_SIGNALS)
		return -EINVAL;
	/* Inside pkvm_call() the guest must stay one context, for the call to return to. */
	if (!lx->procs || vm->call_active)
		return -EAGAIN;
	err = lx_procs_new(lx, exit_signal, &slot, &pid);
	if (err)
		return err;
	/* Linux writes it before the copy: both sides see it. */
	if ((flags & LX_CLONE_PARENT_SETTID) && (err = lx_write(vm, parent_tid, &pid, sizeof(pid)))) {
		lx_procs_free(lx, slot);
		return err;
	}
	host = pkvm_vm_fork(vm, child_end, lx);
	if (host < 0) {
		lx_procs_free(lx, slot);
		return host == -ENOMEM ? -ENOMEM : -EAGAIN;
	}
	if (host == 0) {
		err = become_child(vm, lx, slot, pid, flags, stack, child_tid, tls);
		if (err) {
			struct pkvm_exit exit = { .reason = PKVM_EXIT_EXIT };

			exit.exit.signal = SIGSEGV;
			pkvm_vm_forked_end(vm, &exit, 0);
		}
		return 0;
	}
	if (lx_procs_adopt(lx, slot, pid, host)) {
		/* Nowhere to remember it: it cannot be reaped, so it must not run. */
		kill(host, SIGKILL);
		waitpid(host, NULL, __WALL);
		lx_procs_free(lx, slot);
		return -ENOMEM;
	}
	lx_wakeup_rearm(vm, lx);	/* from now on it looks at its slot while it runs */
	return pid;
}

LX_HANDLER_DEF(lx_sys_fork)
{
	return lx_ret(result, lx_fork(vm, lx, SIGCHLD, 0, 0, 0, 0));
}

/*
 * vfork(): a fork whose parent goes on at once.  The child's writes stay its
 * own, which POSIX leaves undefined after vfork(); a posix_spawn() that
 * relies on them reports a failed exec as the child's status 127 instead.
 */
LX_HANDLER_DEF(lx_sys_vfork)
{
	return lx_ret(result, lx_fork(vm, lx, SIGCHLD, 0, 0, 0, 0));
}
