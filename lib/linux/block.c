/* block.c: host waits that pkvm_interrupt() and the time limit end, and restarting the call. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "personality.h"

#define NSEC_PER_SEC		1000000000LL
#define LX_SYSCALL_INSN_LEN	2	/* 0f 05: the guest's only way in */

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

/*
 * A stop (pkvm_interrupt(), the time limit) or a wakeup (a signal for the
 * program: a timer, pkvm_linux_kill()) ends a wait.  Only looked at: run.c
 * takes the flags and reports the exit or serves the wakeup.
 */
static bool stop_requested(struct pkvm_vm *vm)
{
	return atomic_load(&vm->kick.interrupt) || pkvm_kick_deadline_passed(&vm->kick) ||
	       pkvm_kick_wake_pending(&vm->kick);
}

/* The nearest of the time limit and the wakeup, as a wait of at most @left ns (-1: none). */
static int64_t cap(int64_t left, uint64_t at)
{
	int64_t until_at;

	if (!at)
		return left;
	until_at = (int64_t)(at - pkvm_now_ns());
	if (until_at < 0)
		until_at = 0;
	return left < 0 || until_at < left ? until_at : left;
}

/*
 * The kick signal (kick.c: no SA_RESTART) makes a blocking call fail with
 * EINTR, but one that lands between our look at the interrupt flag and the
 * call would be lost, and the wait would last forever.  So the signal is
 * blocked while we look, and ppoll() unblocks it atomically with going to
 * sleep: a kick sent at any moment either is seen by the look or ends the
 * ppoll().  pkvm_interrupt() sets the flag before it signals, and the time
 * limit's timer re-fires every 10 ms while the run lasts; every wait is also
 * capped at the deadline itself.
 */
int lx_wait_fds(struct pkvm_vm *vm, struct pollfd *fds, unsigned nfds, clockid_t clock,
		const struct timespec *until)
{
	sigset_t kick, old, during;
	int err = 0;

	/* And the doorbell: another process sent a signal, a child ended (procs.c). */
	lx_procs_pollfds(lx_get(vm), &fds[nfds]);
	sigemptyset(&kick);
	sigaddset(&kick, vm->kick.signo);
	if (pthread_sigmask(SIG_BLOCK, &kick, &old))
		return -EINVAL;
	during = old;
	sigdelset(&during, vm->kick.signo);
	for (;;) {
		struct timespec now, wait, *timeout = NULL;
		int64_t left = -1;
		int n;

		if (stop_requested(vm)) {
			err = -EINTR;
			break;
		}
		if (until) {
			clock_gettime(clock, &now);
			left = ts_ns(until) - ts_ns(&now);
			if (left <= 0)
				break;		/* the sleep's own end */
		}
		left = cap(cap(left, vm->kick.deadline_ns), vm->kick.wake_ns);
		if (left >= 0) {
			wait.tv_sec = left / NSEC_PER_SEC;
			wait.tv_nsec = left % NSEC_PER_SEC;
			timeout = &wait;
		}
		n = ppoll(fds, nfds + LX_WAIT_EXTRA_FDS, timeout, &during);
		if (n > 0 && (fds[nfds].revents || fds[nfds + 1].revents)) {
			lx_procs_woken(lx_get(vm), &fds[nfds]);
			pkvm_wake_before_entry(vm);	/* lx_signal_poll() takes what came */
			err = -EINTR;
			break;
		}
		if (n > 0)
			break;			/* ready, or an error the call itself will report */
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int lx_wait(struct pkvm_vm *vm, int fd, short events, clockid_t clock,
	    const struct timespec *until)
{
	struct pollfd pfd[1 + LX_WAIT_EXTRA_FDS] = { { .fd = fd, .events = events } };

	return lx_wait_fds(vm, pfd, 1, clock, until);
}

/*
 * A call stopped before it moved a byte: by a signal for the program, it
 * fails with EINTR, or is made again after the handler if the handler has
 * SA_RESTART (Linux's ERESTARTSYS); by a stop of the run, it is made again
 * at the next run (block.c).
 */
enum lx_action lx_interruptible(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t nr, int64_t n,
				int64_t *result)
{
	if (n != -EINTR)
		return lx_ret(result, n);
	if (lx_signal_interrupts(vm, lx) && !lx_signal_restarts(lx))
		return lx_ret(result, -EINTR);
	return lx_restart(vm, nr, result);
}

enum lx_action lx_restart(struct pkvm_vm *vm, uint64_t nr, int64_t *result)
{
	struct pkvm_regs regs;

	/* The vCPU stopped after the SYSCALL instruction: step back onto it. */
	pkvm_get_regs(vm, &regs);
	regs.rip -= LX_SYSCALL_INSN_LEN;
	if (pkvm_set_regs(vm, &regs))
		return lx_ret(result, -EINTR);	/* cannot happen: the RIP was a user one */
	return lx_ret(result, (int64_t)nr);	/* RAX: the call's number again */
}
