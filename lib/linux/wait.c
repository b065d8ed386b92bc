/* wait.c: wait4() and waitid(): a parent learns how its children ended, and frees them. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "personality.h"

#define LX_NR_WAIT4		61
#define LX_NR_WAITID		247
#define LX_WNOHANG		0x00000001
#define LX_WUNTRACED		0x00000002	/* wait4's name for WSTOPPED */
#define LX_WEXITED		0x00000004
#define LX_WCONTINUED		0x00000008
#define LX_WNOWAIT		0x01000000
#define LX_WTHREAD_BITS		0xe0000000	/* __WNOTHREAD, __WALL, __WCLONE */
#define LX_P_ALL		0
#define LX_P_PID		1
#define LX_P_PGID		2
#define LX_CLD_EXITED		1
#define LX_CLD_KILLED		2

/* A wait status: 0xSS00 for exit(SS), the signal's number for a death by signal. */
int lx_wait_status_code(int status)
{
	return (status & 0x7f) ? LX_CLD_KILLED : LX_CLD_EXITED;
}

int lx_wait_status_value(int status)
{
	return (status & 0x7f) ? (status & 0x7f) : (status >> 8) & 0xff;
}

/* Which children a wait is for: P_ALL, P_PID @id, P_PGID @id. */
struct lx_wait_for {
	int idtype;
	int32_t id;
};

static bool wanted(const struct lx_proc *s, const struct lx_wait_for *w)
{
	return w->idtype == LX_P_ALL || (w->idtype == LX_P_PID && s->pid == w->id) ||
	       (w->idtype == LX_P_PGID && s->pgid == w->id);
}

/*
 * One look: 1 with @out a wanted child that ended (freed unless @keep), 0
 * if wanted children exist but none ended yet, -ECHILD if there are none.
 */
static int look(struct pkvm_linux *lx, const struct lx_wait_for *w, bool keep,
		struct lx_proc *out)
{
	struct lx_procs *p = lx->procs;
	int ret = -ECHILD;

	if (!p)
		return -ECHILD;
	lx_procs_reap(lx);
	lx_procs_lock(p);
	for (unsigned i = 0; i < p->max; i++) {
		struct lx_proc *s = &p->slot[i];

		if (s->state == LX_PROC_FREE || i == lx->slot || s->ppid != lx->pid || !wanted(s, w))
			continue;
		ret = 0;
		if (s->state != LX_PROC_ZOMBIE)
			continue;
		*out = *s;
		if (!keep)
			s->state = LX_PROC_FREE;
		ret = 1;
		break;
	}
	lx_procs_unlock(p);
	return ret;
}

/*
 * Wait for a wanted child to end: 1 (@out filled), 0 for WNOHANG when none
 * has, or -errno; -EINTR when a signal or a stop came first (for
 * lx_interruptible()).
 */
/* Nothing will come but a signal (or a stop): -EINTR once it does. */
static int wait_for_signal(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	while (!lx_signal_interrupts(vm, lx)) {
		int err = lx_wait(vm, -1, 0, CLOCK_MONOTONIC, NULL);

		if (err)
			return err;
	}
	return -EINTR;
}

static int wait_child(struct pkvm_vm *vm, struct pkvm_linux *lx, const struct lx_wait_for *w,
		      int options, struct lx_proc *out)
{
	struct timespec again;

	for (;;) {
		int ret = look(lx, w, options & LX_WNOWAIT, out);
		int err;

		if (ret || (options & LX_WNOHANG))
			return ret;
		if (lx_signal_interrupts(vm, lx))
			return -EINTR;
		/*
		 * A child's end rings the doorbell; one killed on the host cannot,
		 * so the wait looks again every second (lx_procs_reap()).
		 */
		clock_gettime(CLOCK_MONOTONIC, &again);
		again.tv_sec++;
		err = lx_wait(vm, -1, 0, CLOCK_MONOTONIC, &again);
		if (err)
			return err;
	}
}

LX_HANDLER_DEF(lx_sys_wait4)
{
	int32_t pid = (int32_t)args[0];
	int options = (int)args[2];
	struct lx_wait_for w = { LX_P_ALL, 0 };
	struct lx_proc child;
	int ret, err = 0;

	if (options & ~(LX_WNOHANG | LX_WUNTRACED | LX_WCONTINUED | LX_WTHREAD_BITS))
		return lx_ret(result, -EINVAL);
	if (pid == INT32_MIN)
		return lx_ret(result, -ESRCH);
	if (pid > 0)
		w = (struct lx_wait_for){ LX_P_PID, pid };
	else if (pid == 0)
		w = (struct lx_wait_for){ LX_P_PGID,
					  lx->procs ? lx->procs->slot[lx->slot].pgid : LX_PID };
	else if (pid < -1)
		w = (struct lx_wait_for){ LX_P_PGID, -pid };
	ret = wait_child(vm, lx, &w, options | LX_WEXITED, &child);
	if (ret <= 0)
		return lx_interruptible(vm, lx, LX_NR_WAIT4, ret, result);
	if (args[1])
		err = lx_write(vm, args[1], &child.status, sizeof(child.status));
	if (!err && args[3]) {
		uint8_t rusage[144] = { 0 };	/* struct rusage: times and counts are not kept */

		err = lx_write(vm, args[3], rusage, sizeof(rusage));
	}
	return lx_ret(result, err ? err : child.pid);
}

LX_HANDLER_DEF(lx_sys_waitid)
{
	int idtype = (int)args[0], options = (int)args[3];
	struct lx_wait_for w = { idtype, (int32_t)args[1] };
	struct lx_siginfo info = { 0 };
	struct lx_proc child;
	int ret, err = 0;

	if (options & ~(LX_WNOHANG | LX_WUNTRACED | LX_WEXITED | LX_WCONTINUED | LX_WNOWAIT |
			LX_WTHREAD_BITS))
		return lx_ret(result, -EINVAL);
	if (!(options & (LX_WEXITED | LX_WUNTRACED | LX_WCONTINUED)))
		return lx_ret(result, -EINVAL);
	if (idtype != LX_P_ALL && idtype != LX_P_PID && idtype != LX_P_PGID)
		return lx_ret(result, -EINVAL);
	if (idtype != LX_P_ALL && (int32_t)args[1] <= 0 && !(idtype == LX_P_PGID && !args[1]))
		return lx_ret(result, -EINVAL);
	if (idtype == LX_P_PGID && !args[1])
		w.id = lx->procs ? lx->procs->slot[lx->slot].pgid : LX_PID;
	/*
	 * Stops and continues are not reported: a wait for them alone finds
	 * none ended (WNOHANG), or waits only for a signal.
	 */
	if (options & LX_WEXITED)
		ret = wait_child(vm, lx, &w, options, &child);
	else if (look(lx, &w, true, &child) < 0)
		ret = -ECHILD;
	else
		ret = options & LX_WNOHANG ? 0 : wait_for_signal(vm, lx);
	if (ret < 0)
		return lx_interruptible(vm, lx, LX_NR_WAITID, ret, result);
	if (ret == 1) {
		info.signo = SIGCHLD;
		info.code = lx_wait_status_code(child.status);
		info.child.pid = child.pid;
		info.child.uid = LX_UID;
		info.child.status = lx_wait_status_value(child.status);
	}
	/* WNOHANG with none ended: a zeroed siginfo (si_pid 0) says so. */
	if (args[2])
		err = lx_write(vm, args[2], &info, sizeof(info));
	if (!err && args[4]) {
		uint8_t rusage[144] = { 0 };

		err = lx_write(vm, args[4], rusage, sizeof(rusage));
	}
	return lx_ret(result, err);
}
