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

static bool stop_requested(struct pkvm_vm *vm)
{
	/* Only looked at: run.c takes the flag (atomic_exchange) and reports the exit. */
	return atomic_load(&vm->kick.interrupt) || pkvm_kick_deadline_passed(&vm->kick);
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
int lx_wait(struct pkvm_vm *vm, int fd, short events, clockid_t clock,
	    const struct timespec *until)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	sigset_t kick, old, during;
	int err = 0;

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
		if (vm->kick.deadline_ns) {
			int64_t limit = (int64_t)(vm->kick.deadline_ns - pkvm_now_ns());

			if (left < 0 || limit < left)
				left = limit > 0 ? limit : 0;
		}
		if (left >= 0) {
			wait.tv_sec = left / NSEC_PER_SEC;
			wait.tv_nsec = left % NSEC_PER_SEC;
			timeout = &wait;
		}
		n = ppoll(fd >= 0 ? &pfd : NULL, fd >= 0, timeout, &during);
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
