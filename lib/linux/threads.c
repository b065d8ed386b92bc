/*
 * threads.c: the program's threads, M:1 on the VM's one vCPU.  The running
 * thread's state is the vCPU's (registers, FS base, FPU state with PKRU) and
 * lx->sig's per-thread part (mask, pending signals, alternate stack); the
 * others keep theirs in their slot.  A switch saves the one and loads the
 * other, at a system call: when the running thread blocks on a futex, yields
 * or exits.  With every thread blocked and no timeout to wait for, no thread
 * can ever run again: a deadlock, reported rather than waited on forever.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "personality.h"

#define LX_CLONE_ARGS_MIN	64	/* CLONE_ARGS_SIZE_VER0 */
#define LX_SLICE_NS		(10 * 1000 * 1000)	/* a thread runs this long while others wait */


static struct lx_thread *thread_new(struct pkvm_vm *vm, int tid)
{
	struct lx_thread *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fpstate = malloc(pkvm_fpstate_size(vm));
	if (!t->fpstate) {
		free(t);
		return NULL;
	}
	t->tid = tid;
	return t;
}

static void thread_free(struct lx_thread *t)
{
	if (t)
		free(t->fpstate);
	free(t);
}

int lx_threads_init(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	lx->threads[0] = thread_new(vm, LX_PID);	/* the process's own id */
	lx->cur = 0;
	lx->nthreads = 1;
	lx->last_tid = LX_PID;
	return lx->threads[0] ? 0 : -ENOMEM;
}

void lx_threads_forked(struct pkvm_linux *lx, int32_t tid, uint64_t clear_tid)
{
	struct lx_thread *t = lx->threads[lx->cur];

	for (unsigned i = 0; i < LX_MAX_THREADS; i++) {
		if (i != lx->cur)
			thread_free(lx->threads[i]);
		lx->threads[i] = NULL;
	}
	lx->threads[0] = t;
	lx->cur = 0;
	lx->nthreads = 1;
	lx->yield = lx->exiting = lx->idle = lx->deadlocked = false;
	lx->slice_end = 0;
	t->tid = tid;
	t->clear_tid = clear_tid;
	t->blocked = false;
	t->restart.valid = false;
}

void lx_threads_destroy(struct pkvm_linux *lx)
{
	for (unsigned i = 0; i < LX_MAX_THREADS; i++) {
		thread_free(lx->threads[i]);
		lx->threads[i] = NULL;
	}
}

struct lx_thread *lx_current(struct pkvm_linux *lx)
{
	return lx->threads[lx->cur];
}

/* The running thread's signal state and sleep to resume, out of (or into) lx. */
static void swap_signals(struct pkvm_linux *lx, struct lx_thread *t, bool save)
{
	if (save) {
		t->sig = lx->sig.t;
		t->restart = lx->restart;
	} else {
		lx->sig.t = t->sig;
		lx->restart = t->restart;
	}
}

static void new_slice(struct pkvm_vm *vm, struct pkvm_linux *lx);

static int save_running(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	struct lx_thread *t = lx_current(lx);

	swap_signals(lx, t, true);
	pkvm_get_regs(vm, &t->regs);
	return pkvm_fpstate_save(vm, t->fpstate, pkvm_fpstate_size(vm));
}

/*
 * Run thread @i.  lx->sig still holds the last running thread's signal
 * state, which signals sent since it was saved may have changed: it is
 * saved again (if that thread lives) before @i's replaces it.
 */
static int load(struct pkvm_vm *vm, struct pkvm_linux *lx, unsigned i)
{
	struct lx_thread *t = lx->threads[i];
	int err = pkvm_fpstate_restore(vm, t->fpstate, pkvm_fpstate_size(vm));

	if (!err)
		err = pkvm_set_regs(vm, &t->regs);
	if (err)
		return err;
	if (i != lx->cur) {
		if (lx->threads[lx->cur])
			swap_signals(lx, lx->threads[lx->cur], true);
		swap_signals(lx, t, false);
		lx->cur = i;
	}
	new_slice(vm, lx);
	return 0;
}

uint64_t lx_threads_slice_end(const struct pkvm_linux *lx)
{
	return lx->nthreads > 1 ? lx->slice_end : 0;
}

/* The running thread's time starts now; the core wakes the run when it is up. */
static void new_slice(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	lx->slice_end = pkvm_now_ns() + LX_SLICE_NS;
	lx_wakeup_rearm(vm, lx);
}

/* A thread blocked on a futex whose time ran out is runnable again, with ETIMEDOUT. */
static void expire(struct lx_thread *t, uint64_t now)
{
	if (t->blocked && t->deadline_ns && now >= t->deadline_ns) {
		t->blocked = false;
		t->regs.rax = (uint64_t)-ETIMEDOUT;
	}
}

/* The next runnable thread after the running one, round robin; -1 if none. */
static int next_runnable(struct pkvm_linux *lx, bool include_current)
{
	uint64_t now = pkvm_now_ns();

	for (unsigned n = 1; n <= LX_MAX_THREADS; n++) {
		unsigned i = (lx->cur + n) % LX_MAX_THREADS;
		struct lx_thread *t = lx->threads[i];

		if (!t || (i == lx->cur && !include_current))
			continue;
		expire(t, now);
		if (!t->blocked)
			return (int)i;
	}
	return -1;
}

/* The earliest futex timeout of the blocked threads, 0 if none. */
static uint64_t earliest_deadline(const struct pkvm_linux *lx)
{
	uint64_t first = 0;

	for (unsigned i = 0; i < LX_MAX_THREADS; i++) {
		const struct lx_thread *t = lx->threads[i];

		if (t && t->blocked && t->deadline_ns && (!first || t->deadline_ns < first))
			first = t->deadline_ns;
	}
	return first;
}

/*
 * After a system call that may have changed who can run: the running
 * thread goes on if it may (and did not yield), else the next runnable one.  If none can,
 * the guest is held (lx->idle) and lx_threads_wait() waits for a timeout.
 * lx->exiting: the running thread is gone, nothing of it is saved.
 */
int lx_threads_schedule(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	struct lx_thread *t = lx_current(lx);
	bool gone = lx->exiting, yield = lx->yield;
	int next, err = 0;

	lx->exiting = lx->yield = false;
	if (!gone && !t->blocked && !yield)
		return 0;
	next = next_runnable(lx, false);
	if (next < 0 && !gone && !t->blocked)
		return 0;	/* a yield with no one else to run */
	if (!gone)
		err = save_running(vm, lx);
	if (gone) {
		thread_free(t);
		lx->threads[lx->cur] = NULL;
		lx->nthreads--;
	}
	if (err)
		return err;
	if (next < 0) {
		lx->idle = true;	/* held before the guest runs: lx_threads_wait() */
		pkvm_wake_before_entry(vm);
		return 0;
	}
	return load(vm, lx, (unsigned)next);
}

/*
 * The wake hook's part: every thread is blocked.  Wait for the first
 * timeout, then run the thread it frees.  Without one no thread can run
 * again: the program is deadlocked (1, lx->deadlocked).  A stop of the run
 * while waiting: PKVM_WAKE_HOLD.
 */
int lx_threads_wait(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	while (lx->idle) {
		uint64_t deadline = earliest_deadline(lx);
		struct timespec until;
		int next, err;

		if (!deadline && !lx_timers_armed(lx)) {
			lx->deadlocked = true;
			return 1;
		}
		if (atomic_load(&vm->kick.interrupt) || pkvm_kick_deadline_passed(&vm->kick))
			return PKVM_WAKE_HOLD;
		if (deadline) {
			until.tv_sec = deadline / 1000000000ULL;
			until.tv_nsec = deadline % 1000000000ULL;
		}
		err = lx_wait(vm, -1, 0, CLOCK_MONOTONIC, deadline ? &until : NULL);
		if (err && err != -EINTR)
			return err;
		pkvm_kick_take_wake(&vm->kick);
		lx_signal_poll(vm, lx);
		/* A signal for the last thread to run ends its wait: EINTR, then its handler. */
		if (lx->threads[lx->cur] && lx->threads[lx->cur]->blocked &&
		    (lx_signal_pending(lx) || lx->sig.killed)) {
			lx->threads[lx->cur]->blocked = false;
			lx->threads[lx->cur]->regs.rax = (uint64_t)-EINTR;
		}
		next = next_runnable(lx, true);
		if (next >= 0) {
			lx->idle = false;
			return load(vm, lx, (unsigned)next);
		}
	}
	return 0;
}

/*
 * Preemption: a thread that ran its slice out in its own code (the core's
 * wakeup stopped it there) makes way for the next runnable one, if any.
 */
int lx_threads_preempt(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	int next, err;

	if (lx->idle || lx->nthreads < 2 || pkvm_now_ns() < lx->slice_end)
		return 0;
	next = next_runnable(lx, false);
	if (next < 0) {
		new_slice(vm, lx);	/* alone to run: another slice */
		return 0;
	}
	err = save_running(vm, lx);
	return err ? err : load(vm, lx, (unsigned)next);
}

/* The thread a tid names, or NULL. */
struct lx_thread *lx_thread_find(struct pkvm_linux *lx, int tid)
{
	for (unsigned i = 0; i < LX_MAX_THREADS; i++)
		if (lx->threads[i] && lx->threads[i]->tid == tid)
			return lx->threads[i];
	return NULL;
}

static int64_t new_thread(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t flags,
			  uint64_t stack, uint64_t parent_tid, uint64_t child_tid, uint64_t tls)
{
	struct lx_thread *t;
	unsigned slot;
	int32_t tid;
	int err;

	if (lx_clone_is_process(flags))
		return lx_fork(vm, lx, flags, stack, parent_tid, child_tid, tls);
	if ((flags & LX_THREAD_FLAGS) != LX_THREAD_FLAGS)
		return -EINVAL;		/* shared memory but not all else: not offered */
	if (flags & ~(LX_THREAD_FLAGS | LX_THREAD_OPTIONS | 0xff))
		return -EINVAL;
	if (!stack)
		return -EINVAL;
	/* Inside pkvm_call() the guest must stay one context, for the call to return to. */
	if (vm->call_active)
		return -EAGAIN;
	for (slot = 0; slot < LX_MAX_THREADS && lx->threads[slot]; slot++)
		;
	if (slot == LX_MAX_THREADS)
		return -EAGAIN;		/* RLIMIT_NPROC, as Linux says it */
	tid = lx_new_id(lx);
	t = thread_new(vm, tid);
	if (!t)
		return -ENOMEM;
	/* The child: the creator's registers and FPU state (its PKRU too), RAX 0, its own stack. */
	err = save_running(vm, lx);
	if (!err && (flags & LX_CLONE_PARENT_SETTID))
		err = lx_write(vm, parent_tid, &tid, sizeof(tid));
	if (!err && (flags & LX_CLONE_CHILD_SETTID))
		err = lx_write(vm, child_tid, &tid, sizeof(tid));
	if (err) {
		thread_free(t);
		return err;
	}
	memcpy(t->fpstate, lx_current(lx)->fpstate, pkvm_fpstate_size(vm));
	t->regs = lx_current(lx)->regs;
	t->regs.rax = 0;
	t->regs.rsp = stack;
	if (flags & LX_CLONE_SETTLS)
		t->regs.fs_base = tls;
	t->sig.blocked = lx->sig.t.blocked;
	t->sig.altstack.flags = LX_SS_DISABLE;	/* a thread starts without one, as on Linux */
	t->clear_tid = (flags & LX_CLONE_CHILD_CLEARTID) ? child_tid : 0;
	lx->threads[slot] = t;
	lx->nthreads++;
	if (lx->nthreads == 2)
		new_slice(vm, lx);	/* from now on threads share the vCPU in slices */
	return tid;
}

LX_HANDLER_DEF(lx_sys_clone)
{
	/* x86-64: clone(flags, newsp, parent_tid, child_tid, tls). */
	return lx_ret(result, new_thread(vm, lx, args[0], args[1], args[2], args[3], args[4]));
}

LX_HANDLER_DEF(lx_sys_clone3)
{
	struct lx_clone_args ca;
	int err;

	if (args[1] < LX_CLONE_ARGS_MIN || args[1] > 4096)
		return lx_ret(result, -EINVAL);
	err = lx_read(vm, &ca, args[0], sizeof(ca));
	if (err)
		return lx_ret(result, err);
	/* (pidfd is read only with CLONE_PIDFD, which new_thread() refuses.) */
	if (ca.flags & LX_CSIGNAL || ca.exit_signal > LX_NR_SIGNALS ||
	    ca.stack + ca.stack_size < ca.stack)
		return lx_ret(result, -EINVAL);
	if (lx_clone_is_process(ca.flags))
		return lx_ret(result, lx_fork(vm, lx, ca.flags | ca.exit_signal,
					      ca.stack_size ? ca.stack + ca.stack_size : 0,
					      ca.parent_tid, ca.child_tid, ca.tls));
	if (ca.exit_signal || !ca.stack_size || ca.stack + ca.stack_size < ca.stack)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, new_thread(vm, lx, ca.flags, ca.stack + ca.stack_size,
					 ca.parent_tid, ca.child_tid, ca.tls));
}

/*
 * exit(): the thread ends; the last one ends the program.  Its
 * clear_child_tid word is zeroed and woken (how pthread_join() learns).
 */
LX_HANDLER_DEF(lx_sys_exit)
{
	struct lx_thread *t = lx_current(lx);
	uint32_t zero = 0;

	if (lx->nthreads <= 1) {
		lx->exit_status = (int)(args[0] & 0xff);
		*result = 0;
		return LX_EXIT;
	}
	if (t->clear_tid && !lx_write(vm, t->clear_tid, &zero, sizeof(zero)))
		lx_futex_wake(lx, t->clear_tid, 1, ~0U);
	lx->exiting = true;
	*result = 0;
	return LX_RETURN;
}

LX_HANDLER_DEF(lx_sys_exit_group)
{
	(void)vm;
	lx->exit_status = (int)(args[0] & 0xff);
	*result = 0;
	return LX_EXIT;
}

LX_HANDLER_DEF(lx_sys_gettid)
{
	(void)vm; (void)args;
	return lx_ret(result, lx_current(lx)->tid);
}

LX_HANDLER_DEF(lx_sys_set_tid_address)
{
	(void)vm;
	lx_current(lx)->clear_tid = args[0];
	return lx_ret(result, lx_current(lx)->tid);
}

LX_HANDLER_DEF(lx_sys_sched_yield)
{
	(void)vm; (void)args;
	lx->yield = true;
	return lx_ret(result, 0);
}

/*
 * One vCPU runs every thread: the program has one CPU, CPU 0, as
 * sched_getaffinity() says (so that runtimes size their pools to it).
 * Masks are whole unsigned longs, as the kernel's are.
 */
LX_HANDLER_DEF(lx_sys_sched_getaffinity)
{
	const uint64_t mask = 1;

	if ((int)args[0] && !lx_thread_find(lx, (int)args[0]))
		return lx_ret(result, -ESRCH);
	if (args[1] < sizeof(mask) || args[1] % sizeof(mask))
		return lx_ret(result, -EINVAL);
	/* The kernel writes (and returns) only the bytes of the CPUs it has. */
	return lx_ret(result, lx_write(vm, args[2], &mask, sizeof(mask)) ?: (int64_t)sizeof(mask));
}

LX_HANDLER_DEF(lx_sys_sched_setaffinity)
{
	uint64_t mask = 0;
	int err;

	if ((int)args[0] && !lx_thread_find(lx, (int)args[0]))
		return lx_ret(result, -ESRCH);
	err = lx_read(vm, &mask, args[2], args[1] < sizeof(mask) ? args[1] : sizeof(mask));
	if (err)
		return lx_ret(result, err);
	return lx_ret(result, (mask & 1) ? 0 : -EINVAL);	/* CPU 0 must be in it */
}
