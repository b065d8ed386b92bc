/* time.c: clocks and sleeps, from the host's clocks; pkvm_interrupt() and the time limit stop sleeps. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "personality.h"

#define LX_TIMER_ABSTIME	1
#define NSEC_PER_SEC		1000000000ULL
#define LX_NR_NANOSLEEP		35
#define LX_NR_CLOCK_NANOSLEEP	230

/* The clocks a process may read: CLOCK_REALTIME..CLOCK_BOOTTIME, TAI; no CPU-time of others. */
static bool clock_allowed(uint64_t id)
{
	return id <= CLOCK_BOOTTIME || id == CLOCK_TAI;
}

LX_HANDLER_DEF(lx_sys_clock_gettime)
{
	struct timespec ts;
	int64_t out[2];

	(void)lx;
	if (!clock_allowed(args[0]))
		return lx_ret(result, -EINVAL);
	if (clock_gettime((clockid_t)args[0], &ts) < 0)
		return lx_ret(result, -errno);
	out[0] = ts.tv_sec;
	out[1] = ts.tv_nsec;
	return lx_ret(result, lx_write(vm, args[1], out, sizeof(out)));
}

LX_HANDLER_DEF(lx_sys_clock_getres)
{
	struct timespec ts;
	int64_t out[2];

	(void)lx;
	if (!clock_allowed(args[0]))
		return lx_ret(result, -EINVAL);
	if (clock_getres((clockid_t)args[0], &ts) < 0)
		return lx_ret(result, -errno);
	out[0] = ts.tv_sec;
	out[1] = ts.tv_nsec;
	return lx_ret(result, args[1] ? lx_write(vm, args[1], out, sizeof(out)) : 0);
}

LX_HANDLER_DEF(lx_sys_gettimeofday)
{
	struct timespec ts;
	int64_t tv[2];
	int err = 0;

	(void)lx;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv[0] = ts.tv_sec;
	tv[1] = ts.tv_nsec / 1000;
	if (args[0])
		err = lx_write(vm, args[0], tv, sizeof(tv));
	if (!err && args[1]) {
		const int32_t tz[2] = { 0, 0 };

		err = lx_write(vm, args[1], tz, sizeof(tz));
	}
	return lx_ret(result, err);
}

LX_HANDLER_DEF(lx_sys_time)
{
	int64_t now = time(NULL);
	int err = args[0] ? lx_write(vm, args[0], &now, sizeof(now)) : 0;

	(void)lx;
	return lx_ret(result, err ? err : now);
}

int lx_read_timespec(struct pkvm_vm *vm, uint64_t gva, struct timespec *ts)
{
	int64_t in[2];
	int err = lx_read(vm, in, gva, sizeof(in));

	if (err)
		return err;
	if (in[0] < 0 || in[1] < 0 || (uint64_t)in[1] >= NSEC_PER_SEC)
		return -EINVAL;
	/* Far enough for anyone, and "now + it" cannot overflow. */
	ts->tv_sec = in[0] > (int64_t)(INT64_MAX / NSEC_PER_SEC) / 2 ?
		     (int64_t)(INT64_MAX / NSEC_PER_SEC) / 2 : in[0];
	ts->tv_nsec = in[1];
	return 0;
}

static bool same_call(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6])
{
	struct pkvm_regs regs;

	pkvm_get_regs(vm, &regs);
	return lx->restart.valid && lx->restart.rip == regs.rip &&
	       !memcmp(lx->restart.args, args, sizeof(lx->restart.args));
}

void lx_relative_deadline(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			  int64_t rel_ns, struct timespec *until)
{
	struct timespec now;

	if (same_call(vm, lx, args)) {
		*until = lx->restart.until;
	} else {
		clock_gettime(CLOCK_MONOTONIC, &now);
		until->tv_sec = now.tv_sec + rel_ns / NSEC_PER_SEC;
		until->tv_nsec = now.tv_nsec + rel_ns % NSEC_PER_SEC;
		if (until->tv_nsec >= (long)NSEC_PER_SEC) {
			until->tv_sec++;
			until->tv_nsec -= NSEC_PER_SEC;
		}
	}
	lx->restart.valid = false;
}

bool lx_deadline_passed(const struct timespec *until)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > until->tv_sec ||
	       (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec);
}

void lx_remember_deadline(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			  const struct timespec *until)
{
	struct pkvm_regs regs;

	pkvm_get_regs(vm, &regs);
	lx->restart.valid = true;
	lx->restart.rip = regs.rip;
	memcpy(lx->restart.args, args, sizeof(lx->restart.args));
	lx->restart.until = *until;
}

/*
 * Sleep until @until on @clock.  pkvm_interrupt() and the time limit stop
 * it (block.c): the guest is then set to make the same call again at its
 * next run, as Linux restarts a sleep after a stop; a relative one keeps
 * its end in lx->restart, so it resumes for the time that was left
 * (Linux's restart_syscall), not for the whole of it again.
 */
static enum lx_action sleep_until(struct pkvm_vm *vm, struct pkvm_linux *lx,
				  const uint64_t args[6], uint64_t nr, clockid_t clock,
				  const struct timespec *until, bool relative, uint64_t rem_gva,
				  int64_t *result)
{
	int err = lx_wait(vm, -1, 0, clock, until);

	if (err != -EINTR)
		return lx_ret(result, err);
	/* A signal for the program: the sleep ends with EINTR and what was left, as on Linux. */
	if (lx_signal_interrupts(vm, lx)) {
		if (relative && rem_gva) {
			struct timespec now;
			int64_t left, rem[2];

			clock_gettime(clock, &now);
			left = ((int64_t)until->tv_sec - now.tv_sec) * (int64_t)NSEC_PER_SEC +
			       (until->tv_nsec - now.tv_nsec);
			if (left < 0)
				left = 0;
			rem[0] = left / (int64_t)NSEC_PER_SEC;
			rem[1] = left % (int64_t)NSEC_PER_SEC;
			err = lx_write(vm, rem_gva, rem, sizeof(rem));
			if (err)
				return lx_ret(result, err);
		}
		return lx_ret(result, -EINTR);
	}
	if (relative)
		lx_remember_deadline(vm, lx, args, until);
	return lx_restart(vm, nr, result);
}

static enum lx_action do_sleep(struct pkvm_vm *vm, struct pkvm_linux *lx, const uint64_t args[6],
			       uint64_t nr, clockid_t clock, uint64_t flags, uint64_t req_gva,
			       uint64_t rem_gva, int64_t *result)
{
	struct timespec req, until;
	int err;

	err = lx_read_timespec(vm, req_gva, &req);
	if (err) {
		lx->restart.valid = false;
		return lx_ret(result, err);
	}
	if (flags & LX_TIMER_ABSTIME) {
		lx->restart.valid = false;
		return sleep_until(vm, lx, args, nr, clock, &req, false, 0, result);
	}
	/* Relative: on CLOCK_MONOTONIC whatever the clock, as Linux measures it too. */
	lx_relative_deadline(vm, lx, args, (int64_t)req.tv_sec * NSEC_PER_SEC + req.tv_nsec, &until);
	return sleep_until(vm, lx, args, nr, CLOCK_MONOTONIC, &until, true, rem_gva, result);
}

LX_HANDLER_DEF(lx_sys_nanosleep)
{
	return do_sleep(vm, lx, args, LX_NR_NANOSLEEP, CLOCK_MONOTONIC, 0, args[0], args[1],
			result);
}

LX_HANDLER_DEF(lx_sys_clock_nanosleep)
{
	if (args[0] != CLOCK_REALTIME && args[0] != CLOCK_MONOTONIC && args[0] != CLOCK_BOOTTIME &&
	    args[0] != CLOCK_TAI)
		return lx_ret(result, -EINVAL);
	if (args[1] & ~(uint64_t)LX_TIMER_ABSTIME)
		return lx_ret(result, -EINVAL);
	return do_sleep(vm, lx, args, LX_NR_CLOCK_NANOSLEEP, (clockid_t)args[0], args[1], args[2],
			args[3], result);
}

/*
 * ITIMER_REAL, which alarm() sets too: SIGALRM on the host's monotonic
 * clock, when due; the core wakes the run for it, even while the program
 * spins in its own code.
 */
#define LX_ITIMER_REAL		0
#define USEC_PER_SEC		1000000ULL

/* Set ITIMER_REAL to fire in @value_ns (0: off), then every @interval_ns; the old setting out. */
static void set_real(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t value_ns,
		     uint64_t interval_ns, uint64_t *old_left, uint64_t *old_interval)
{
	uint64_t now = pkvm_now_ns(), next = lx->sig.itimer_real.next_ns;

	*old_left = next ? (next > now ? next - now : 1) : 0;
	*old_interval = lx->sig.itimer_real.interval_ns;
	lx->sig.itimer_real.next_ns = value_ns ? now + value_ns : 0;
	lx->sig.itimer_real.interval_ns = value_ns ? interval_ns : 0;
	lx_timers_fire(vm, lx);		/* the core's wakeup, for the first timer */
}

LX_HANDLER_DEF(lx_sys_alarm)
{
	uint64_t left_ns, interval, secs = (uint32_t)args[0], left;

	set_real(vm, lx, secs * NSEC_PER_SEC, 0, &left_ns, &interval);
	/* What the old alarm had left, in whole seconds, rounded; never 0 if it was pending. */
	left = (left_ns + NSEC_PER_SEC / 2) / NSEC_PER_SEC;
	return lx_ret(result, (int64_t)(left || !left_ns ? left : 1));
}

static int timeval_ns(const int64_t tv[2], uint64_t *ns)
{
	if (tv[0] < 0 || tv[1] < 0 || (uint64_t)tv[1] >= USEC_PER_SEC)
		return -EINVAL;
	/* Capped far away, so that "now + it" cannot overflow. */
	*ns = (uint64_t)tv[0] > (UINT64_MAX / 4) / NSEC_PER_SEC ? UINT64_MAX / 4 :
	      (uint64_t)tv[0] * NSEC_PER_SEC + (uint64_t)tv[1] * 1000;
	return 0;
}

static void ns_timeval(uint64_t ns, int64_t tv[2])
{
	/* Linux rounds a remaining time up to the next microsecond. */
	ns = (ns + 999) / 1000;
	tv[0] = (int64_t)(ns / USEC_PER_SEC);
	tv[1] = (int64_t)(ns % USEC_PER_SEC);
}

LX_HANDLER_DEF(lx_sys_getitimer)
{
	uint64_t now = pkvm_now_ns(), next = lx->sig.itimer_real.next_ns;
	int64_t out[4];

	if (args[0] != LX_ITIMER_REAL)
		return lx_ret(result, -EINVAL);
	ns_timeval(lx->sig.itimer_real.interval_ns, out);
	ns_timeval(next ? (next > now ? next - now : 1) : 0, out + 2);
	return lx_ret(result, lx_write(vm, args[1], out, sizeof(out)));
}

LX_HANDLER_DEF(lx_sys_setitimer)
{
	int64_t in[4] = { 0 }, out[4];
	uint64_t value, interval, left, old_interval;
	int err;

	/* ITIMER_VIRTUAL and ITIMER_PROF (CPU time) are not kept. */
	if (args[0] != LX_ITIMER_REAL)
		return lx_ret(result, -EINVAL);
	if (args[1]) {
		err = lx_read(vm, in, args[1], sizeof(in));
		if (!err)
			err = timeval_ns(in, &interval);
		if (!err)
			err = timeval_ns(in + 2, &value);
		if (err)
			return lx_ret(result, err);
	} else {
		value = interval = 0;	/* Linux: a NULL new value disarms */
	}
	if (args[2]) {
		uint64_t now = pkvm_now_ns(), next = lx->sig.itimer_real.next_ns;

		ns_timeval(lx->sig.itimer_real.interval_ns, out);
		ns_timeval(next ? (next > now ? next - now : 1) : 0, out + 2);
		err = lx_write(vm, args[2], out, sizeof(out));
		if (err)
			return lx_ret(result, err);
	}
	set_real(vm, lx, value, interval, &left, &old_interval);
	return lx_ret(result, 0);
}
