/* personality.c: attaching the Linux personality to a VM and dispatching each system call. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <asm/unistd_64.h>

#include "decode.h"
#include "personality.h"

static void lx_destroy(struct pkvm_linux *lx);
static int lx_serve(struct pkvm_vm *vm, void *ctx, struct pkvm_exit *exit);

/*
 * Terminal queries forwarded for a guest stream that is a tty: only on the
 * three host streams.  pipe2 and epoll: the guest's pipes and epoll
 * instances are host ones (pipes.c, epoll.c); making one opens nothing the
 * process could not already reach.  dup: each open of /dev/null is a copy
 * of the one the personality holds (paths.c).
 */
static int lx_lockdown(void *ctx, struct pkvm_lockdown *rules)
{
	const struct pkvm_linux *lx = ctx;
	const int fds[3] = { lx->config.stdin_fd, lx->config.stdout_fd, lx->config.stderr_fd };
	static const char *const calls[] = { "pipe2", "epoll_create1", "epoll_ctl", "epoll_wait",
					      "epoll_pwait", "dup" };
	int err = 0;

	for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]) && !err; i++)
		err = pkvm_lockdown_allow_call(rules, calls[i]);
	if (!err)
		err = lx_changes_lockdown(lx, rules);
	/* The kernel holds the roots too, where seccomp cannot read a path (landlock.c). */
	if (!err)
		err = lx_landlock(lx);
	for (unsigned i = 0; i < 3 && !err; i++) {
		if (fds[i] < 0)
			continue;
		err = pkvm_lockdown_allow_ioctl(rules, fds[i], LX_TCGETS);
		if (!err)
			err = pkvm_lockdown_allow_ioctl(rules, fds[i], LX_TIOCGWINSZ);
	}
	return err;
}

static void lx_release(void *ctx)
{
	lx_destroy(ctx);
}

/*
 * Every thread blocked for good: Linux would wait forever; the run ends
 * instead (status 124, exit.deadlock).
 */
static int deadlock(struct pkvm_linux *lx, struct pkvm_exit *exit)
{
	lx->exit_status = LX_DEADLOCK_STATUS;
	lx->exit_signal = 0;
	lx_fill_exit(lx, exit);
	return 1;
}

/* A wakeup: every thread blocked (threads.c), a signal or a stop (signal.c). */
static int lx_wake(struct pkvm_vm *vm, void *ctx, struct pkvm_exit *exit)
{
	struct pkvm_linux *lx = ctx;
	int ret = lx->idle ? lx_threads_wait(vm, lx) : 0;

	if (lx->deadlocked)
		return deadlock(lx, exit);
	if (!ret)
		ret = lx_threads_preempt(vm, lx);
	if (ret)
		return ret;
	return lx_signal_wake(vm, lx, exit);
}

/* Other threads wait in the personality's slots: not one context for pkvm_call(). */
static bool lx_single_context(void *ctx)
{
	const struct pkvm_linux *lx = ctx;

	return lx->nthreads <= 1;
}

/* How the core knows the personality: the server of a guest's Linux system calls. */
static const struct pkvm_exit_server lx_server = {
	.name = "linux",
	.serve = lx_serve,
	.wake = lx_wake,
	.single_context = lx_single_context,
	.lockdown = lx_lockdown,
	.release = lx_release,
};

struct pkvm_linux *lx_get(const struct pkvm_vm *vm)
{
	return pkvm_exit_server_ctx(vm, &lx_server);
}

int pkvm_linux_attach(struct pkvm_vm *vm, const struct pkvm_linux_config *config)
{
	struct pkvm_linux *lx;
	uint32_t pkru_before = 0;
	int err;

	if (!vm || !config || !PKVM_RESERVED_ZERO(config))
		return -EINVAL;
	lx = calloc(1, sizeof(*lx));
	if (!lx)
		return -ENOMEM;
	lx->config = *config;
	lx->vm = vm;
	lx->devnull = lx->emptydir = -1;
	lx->umask = 022;
	lx->config.ro_paths = NULL;	/* copied into lx->roots; the caller's array may go */
	lx->bounce = malloc(LX_BOUNCE);
	err = lx->bounce ? 0 : -ENOMEM;
	if (!err)
		err = lx_fdtable_init(lx);
	if (!err)
		err = lx_paths_init(lx, config->ro_paths);
	if (!err)
		err = lx_memory_init(vm, lx);
	/*
	 * A new Linux process starts with every key but 0 access-disabled
	 * (init_pkru_value); a program that allocates keys expects that.
	 */
	lx_signals_init(lx);
	if (!err)
		err = lx_procs_init(vm, lx);
	if (!err)
		err = lx_threads_init(vm, lx);
	lx->pkeys = vm->backend != PKVM_PKEYS_NONE;
	lx_pkeys_init(vm, lx);
	/* A failed attach leaves the VM as it was, its PKRU included. */
	if (!err && lx->pkeys)
		err = pkvm_get_pkru(vm, &pkru_before);
	if (!err && lx->pkeys)
		err = pkvm_set_pkru(vm, LX_INIT_PKRU);
	if (!err) {
		err = pkvm_exit_server_set(vm, &lx_server, lx);	/* the one before is released */
		if (err && lx->pkeys)
			pkvm_set_pkru(vm, pkru_before);
	}
	if (err)
		lx_destroy(lx);
	return err;
}

static void lx_destroy(struct pkvm_linux *lx)
{
	if (!lx)
		return;
	lx_procs_destroy(lx->vm, lx);
	lx_threads_destroy(lx);
	lx_fdtable_destroy(lx);
	lx_paths_destroy(lx);
	lx_memory_destroy(lx);
	free(lx->bounce);
	free(lx);
}

int pkvm_linux_get_stats(struct pkvm_vm *vm, struct pkvm_linux_stats *stats)
{
	const struct pkvm_linux *lx = vm ? lx_get(vm) : NULL;

	if (!lx || !stats)
		return -EINVAL;
	*stats = lx->stats;
	memset(stats->reserved, 0, sizeof(stats->reserved));
	return 0;
}

const char *pkvm_linux_syscall_name(uint64_t nr)
{
	return lx_syscall_name(nr);
}

void lx_fill_exit(const struct pkvm_linux *lx, struct pkvm_exit *exit)
{
	memset(&exit->exit, 0, sizeof(exit->exit));	/* the union held another exit */
	exit->reason = PKVM_EXIT_EXIT;
	exit->exit.status = lx->exit_status;
	exit->exit.signal = lx->exit_signal;
	exit->exit.out_of_memory = lx->out_of_memory;
	exit->exit.deadlock = lx->deadlocked;
}

static int end_program(struct pkvm_linux *lx, struct pkvm_exit *exit)
{
	lx_fill_exit(lx, exit);
	lx_procs_end_all(lx);	/* the first process: the others end with it */
	return 0;
}

/* No frame for a page first touched: SIGKILL, as from Linux's OOM killer. */
static int out_of_memory(struct pkvm_linux *lx, struct pkvm_exit *exit)
{
	lx->exit_signal = SIGKILL;
	lx->exit_status = 128 + SIGKILL;
	lx->out_of_memory = true;
	return end_program(lx, exit);
}

/*
 * A system call below the host functions' numbers, or an exception of the
 * program's (a signal): 1 served, 0 when the program ended or the exit is
 * not the personality's.
 */
static int lx_serve(struct pkvm_vm *vm, void *ctx, struct pkvm_exit *exit)
{
	struct pkvm_linux *lx = ctx;
	uint64_t nr = exit->syscall.nr, start, spent;
	const struct lx_call *call;
	enum lx_action action = LX_RETURN;
	int64_t result = -ENOSYS;
	bool traced_early;

	if (exit->reason == PKVM_EXIT_FAULT)
		return lx_signal_fault(vm, lx, exit);
	if (exit->reason == PKVM_EXIT_OUT_OF_MEMORY)
		return out_of_memory(lx, exit);
	if (exit->reason != PKVM_EXIT_SYSCALL || nr >= PKVM_HOSTCALL_BASE)
		return 0;
	start = pkvm_now_ns();
	call = lx_lookup(nr);
	/* A successful execve replaces the memory its arguments are in: show them first. */
	traced_early = lx->config.trace && (nr == __NR_execve || nr == __NR_execveat);
	if (traced_early)
		lx_trace_args(vm, lx, nr, call, exit->syscall.args, 0);

	if (call && call->handler) {
		action = call->handler(vm, lx, exit->syscall.args, &result);
	} else {
		lx->stats.unknown++;
		if (nr < PKVM_LINUX_NR_MAX)
			lx->stats.not_served[nr / 64] |= 1ULL << (nr % 64);
	}
	lx->stats.calls++;
	if (nr < PKVM_LINUX_NR_MAX) {
		lx->stats.by_nr[nr]++;
		if (action != LX_EXIT && result < 0 && result >= -4095)
			lx->stats.errors_by_nr[nr]++;
	}
	if (action == LX_EXIT)
		result = lx->exit_status;
	if (lx->config.trace) {
		struct pkvm_linux_trace t = { .nr = nr, .name = lx_syscall_name(nr),
					      .result = result, .line = lx->trace_line,
					      .pid = lx->pid };

		memcpy(t.args, exit->syscall.args, sizeof(t.args));
		if (!traced_early)
			lx_trace_args(vm, lx, nr, call, exit->syscall.args, result);
		lx_trace_result(lx, nr, call, result);
		lx->config.trace(lx->config.trace_ctx, &t);
	}
	spent = pkvm_now_ns() - start;
	lx->stats.host_ns += spent;
	if (nr < PKVM_LINUX_NR_MAX)
		lx->stats.ns_by_nr[nr] += spent;
	if (action == LX_EXIT)
		return end_program(lx, exit);
	if (!lx->exiting)
		pkvm_syscall_return(vm, (uint64_t)result);
	/* On the way back to the program, as Linux delivers signals: with RAX as the call left it. */
	if (!lx->exiting && !lx_current(lx)->blocked && lx_signal_deliver_all(vm, lx) == LX_EXIT)
		return end_program(lx, exit);
	/* A thread that blocked, yielded or ended: another one runs (threads.c). */
	if (lx->exiting || lx->yield || lx_current(lx)->blocked) {
		int err = lx_threads_schedule(vm, lx);

		if (err)
			return err;
		if (!lx->idle && lx_signal_deliver_all(vm, lx) == LX_EXIT)
			return end_program(lx, exit);
	}
	return 1;
}
