/* time.c: clocks and sleeps, from the host's clocks; sleeps end at the VM's time limit. */
#include <errno.h>
#include <time.h>

#include "personality.h"

#define LX_TIMER_ABSTIME	1
#define NSEC_PER_SEC		1000000000ULL

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

/*
 * Sleep until @deadline on @clock, but never past the VM's time limit: then
 * EINTR, and the run loop reports the timeout at once.
 */
static int sleep_until(struct pkvm_vm *vm, clockid_t clock, const struct timespec *deadline)
{
	uint64_t limit = vm->kick.deadline_ns;
	struct timespec now, until = *deadline;
	int err;

	if (limit) {
		uint64_t mono = pkvm_now_ns(), left;

		if (mono >= limit)
			return -EINTR;
		left = limit - mono;
		clock_gettime(clock, &now);
		/* Where "now + left" lands on the sleep's own clock. */
		uint64_t cap = (uint64_t)now.tv_sec * NSEC_PER_SEC + now.tv_nsec + left;
		uint64_t want = (uint64_t)until.tv_sec * NSEC_PER_SEC + until.tv_nsec;

		if (want > cap) {
			until.tv_sec = cap / NSEC_PER_SEC;
			until.tv_nsec = cap % NSEC_PER_SEC;
		}
	}
	do
		err = clock_nanosleep(clock, TIMER_ABSTIME, &until, NULL);
	while (err == EINTR && !(limit && pkvm_now_ns() >= limit));
	if (err)
		return -err;
	return limit && pkvm_now_ns() >= limit && until.tv_sec != deadline->tv_sec ? -EINTR : 0;
}

static int read_timespec(struct pkvm_vm *vm, uint64_t gva, struct timespec *ts)
{
	int64_t in[2];
	int err = lx_read(vm, in, gva, sizeof(in));

	if (err)
		return err;
	if (in[0] < 0 || in[1] < 0 || (uint64_t)in[1] >= NSEC_PER_SEC)
		return -EINVAL;
	ts->tv_sec = in[0] > (int64_t)(INT64_MAX / NSEC_PER_SEC) - 1 ? (int64_t)(INT64_MAX / NSEC_PER_SEC) - 1 : in[0];
	ts->tv_nsec = in[1];
	return 0;
}

static int do_sleep(struct pkvm_vm *vm, clockid_t clock, uint64_t flags, uint64_t req_gva)
{
	struct timespec req, now, deadline;
	int err = read_timespec(vm, req_gva, &req);

	if (err)
		return err;
	if (flags & LX_TIMER_ABSTIME)
		return sleep_until(vm, clock, &req);
	clock_gettime(clock, &now);
	deadline.tv_sec = now.tv_sec + req.tv_sec;
	deadline.tv_nsec = now.tv_nsec + req.tv_nsec;
	if (deadline.tv_nsec >= (long)NSEC_PER_SEC) {
		deadline.tv_sec++;
		deadline.tv_nsec -= NSEC_PER_SEC;
	}
	return sleep_until(vm, clock, &deadline);
}

LX_HANDLER_DEF(lx_sys_nanosleep)
{
	(void)lx;
	return lx_ret(result, do_sleep(vm, CLOCK_MONOTONIC, 0, args[0]));
}

LX_HANDLER_DEF(lx_sys_clock_nanosleep)
{
	(void)lx;
	if (args[0] != CLOCK_REALTIME && args[0] != CLOCK_MONOTONIC && args[0] != CLOCK_BOOTTIME &&
	    args[0] != CLOCK_TAI)
		return lx_ret(result, -EINVAL);
	if (args[1] & ~(uint64_t)LX_TIMER_ABSTIME)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, do_sleep(vm, (clockid_t)args[0], args[1], args[2]));
}
