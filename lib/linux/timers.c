/* timers.c: the program's timers: ITIMER_REAL's SIGALRM and timer_create()'s, on the host's clock. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "personality.h"

#define NSEC_PER_SEC		1000000000ULL
#define LX_SI_KERNEL		0x80
#define LX_SI_TIMER		(-2)
#define LX_SIGEV_SIGNAL		0
#define LX_SIGEV_NONE		1
#define LX_SIGEV_THREAD_ID	4
#define LX_TIMER_ABSTIME	1

uint64_t lx_timer_expire(struct lx_timer *t, uint64_t now)
{
	uint64_t n;

	if (!t->next_ns || now < t->next_ns)
		return 0;
	if (!t->interval_ns) {
		t->next_ns = 0;
		return 1;
	}
	/* Expirations missed while nobody looked count too (overruns), then one period on. */
	n = (now - t->next_ns) / t->interval_ns + 1;
	t->next_ns += n * t->interval_ns;
	return n;
}

static void fire_posix(struct pkvm_linux *lx, int id, uint64_t now)
{
	struct lx_posix_timer *pt = &lx->timers[id];
	uint64_t n = lx_timer_expire(&pt->t, now);
	uint64_t bit = 1ULL << (pt->signo - 1);
	struct lx_siginfo info = { .signo = pt->signo, .code = LX_SI_TIMER };

	if (!n || pt->notify == LX_SIGEV_NONE)
		return;
	/* Its signal still pending: this expiry is an overrun of that one, as on Linux. */
	if (lx->sig.t.pending & bit) {
		pt->overrun += (int)n;
		return;
	}
	pt->overrun = (int)(n - 1);
	info.timer.tid = id;
	info.timer.overrun = pt->overrun;
	info.timer.value = pt->value;
	lx_signal_send(lx, pt->signo, &info);
}

void lx_timers_fire(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	uint64_t now = pkvm_now_ns();

	if (lx_timer_expire(&lx->sig.itimer_real, now)) {
		struct lx_siginfo info = { .signo = SIGALRM, .code = LX_SI_KERNEL };

		lx_signal_send(lx, SIGALRM, &info);
	}
	for (int id = 0; id < LX_MAX_TIMERS; id++) {
		if (lx->timers[id].used)
			fire_posix(lx, id, now);
	}
	lx_wakeup_rearm(vm, lx);
}

/* The core's one wakeup, at the first of the timers' next expiries and the time slice's end. */
void lx_wakeup_rearm(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	uint64_t first = lx->sig.itimer_real.next_ns, next;

	for (int id = 0; id < LX_MAX_TIMERS; id++) {
		next = lx->timers[id].used ? lx->timers[id].t.next_ns : 0;
		if (next && (!first || next < first))
			first = next;
	}
	next = lx_threads_slice_end(lx);
	if (next && (!first || next < first))
		first = next;
	next = lx_procs_check_at(lx);
	if (next && (!first || next < first))
		first = next;
	pkvm_wake_at(vm, first);
}

bool lx_timers_armed(const struct pkvm_linux *lx)
{
	if (lx->sig.itimer_real.next_ns)
		return true;
	for (int id = 0; id < LX_MAX_TIMERS; id++)
		if (lx->timers[id].used && lx->timers[id].t.next_ns)
			return true;
	return false;
}

static bool clock_ok(uint64_t clock)
{
	return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME ||
	       clock == CLOCK_TAI;
}

/* The guest's struct sigevent: value, signo, notify, then the thread id (SIGEV_THREAD_ID). */
struct lx_sigevent {
	uint64_t value;
	int32_t signo, notify;
	int32_t tid;
	int32_t pad[11];
};

LX_HANDLER_DEF(lx_sys_timer_create)
{
	struct lx_sigevent ev = { .signo = SIGALRM, .notify = LX_SIGEV_SIGNAL };
	int id, err;

	/* CPU-time clocks (the process's, a thread's) are not kept. */
	if (!clock_ok(args[0]))
		return lx_ret(result, -EINVAL);
	if (args[1]) {
		err = lx_read(vm, &ev, args[1], sizeof(ev));
		if (err)
			return lx_ret(result, err);
		/* SIGEV_THREAD is the libc's, on top of SIGEV_THREAD_ID; the only thread is the program. */
		if (ev.notify == LX_SIGEV_THREAD_ID && ev.tid != lx->pid)
			return lx_ret(result, -EINVAL);
		if (ev.notify != LX_SIGEV_SIGNAL && ev.notify != LX_SIGEV_NONE &&
		    ev.notify != LX_SIGEV_THREAD_ID)
			return lx_ret(result, -EINVAL);
		if (ev.notify != LX_SIGEV_NONE && (ev.signo < 1 || ev.signo > LX_NR_SIGNALS))
			return lx_ret(result, -EINVAL);
	}
	for (id = 0; id < LX_MAX_TIMERS && lx->timers[id].used; id++)
		;
	if (id == LX_MAX_TIMERS)
		return lx_ret(result, -EAGAIN);
	err = lx_write(vm, args[2], &id, sizeof(id));
	if (err)
		return lx_ret(result, err);
	lx->timers[id] = (struct lx_posix_timer){
		.used = true, .clock = (clockid_t)args[0], .signo = ev.signo,
		.notify = ev.notify == LX_SIGEV_NONE ? LX_SIGEV_NONE : LX_SIGEV_SIGNAL,
		/* No sigevent: si_value is the timer's id, as Linux gives it. */
		.value = args[1] ? ev.value : (uint64_t)id,
	};
	return lx_ret(result, id);
}

static struct lx_posix_timer *timer_of(struct pkvm_linux *lx, uint64_t id)
{
	return id < LX_MAX_TIMERS && lx->timers[id].used ? &lx->timers[id] : NULL;
}

static uint64_t ts_to_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

static void ns_to_ts(uint64_t ns, int64_t ts[2])
{
	ts[0] = (int64_t)(ns / NSEC_PER_SEC);
	ts[1] = (int64_t)(ns % NSEC_PER_SEC);
}

/* What is left until @pt fires and its period, as timer_gettime() writes them. */
static void current(const struct lx_posix_timer *pt, int64_t out[4])
{
	uint64_t now = pkvm_now_ns(), next = pt->t.next_ns;

	ns_to_ts(pt->t.interval_ns, out);
	ns_to_ts(next ? (next > now ? next - now : 1) : 0, out + 2);
}

LX_HANDLER_DEF(lx_sys_timer_settime)
{
	struct lx_posix_timer *pt = timer_of(lx, args[0]);
	struct timespec interval, value, now;
	uint64_t value_ns;
	int64_t old[4];
	int err;

	if (!pt)
		return lx_ret(result, -EINVAL);
	if (args[1] & ~(uint64_t)LX_TIMER_ABSTIME)
		return lx_ret(result, -EINVAL);
	err = lx_read_timespec(vm, args[2], &interval);
	if (!err)
		err = lx_read_timespec(vm, args[2] + 16, &value);
	if (err)
		return lx_ret(result, err);
	if (args[3]) {
		current(pt, old);
		err = lx_write(vm, args[3], old, sizeof(old));
		if (err)
			return lx_ret(result, err);
	}
	value_ns = ts_to_ns(&value);
	if (value_ns && (args[1] & LX_TIMER_ABSTIME)) {
		/* An absolute time on the timer's clock: how far from now it is. */
		uint64_t clock_now;

		clock_gettime(pt->clock, &now);
		clock_now = ts_to_ns(&now);
		value_ns = value_ns > clock_now ? value_ns - clock_now : 1;
	}
	pt->t.next_ns = value_ns ? pkvm_now_ns() + value_ns : 0;
	pt->t.interval_ns = value_ns ? ts_to_ns(&interval) : 0;
	lx_timers_fire(vm, lx);
	return lx_ret(result, 0);
}

LX_HANDLER_DEF(lx_sys_timer_gettime)
{
	struct lx_posix_timer *pt = timer_of(lx, args[0]);
	int64_t out[4];

	if (!pt)
		return lx_ret(result, -EINVAL);
	current(pt, out);
	return lx_ret(result, lx_write(vm, args[1], out, sizeof(out)));
}

LX_HANDLER_DEF(lx_sys_timer_getoverrun)
{
	struct lx_posix_timer *pt = timer_of(lx, args[0]);

	return lx_ret(result, pt ? pt->overrun : -EINVAL);
}

LX_HANDLER_DEF(lx_sys_timer_delete)
{
	struct lx_posix_timer *pt = timer_of(lx, args[0]);

	if (!pt)
		return lx_ret(result, -EINVAL);
	memset(pt, 0, sizeof(*pt));
	lx_timers_fire(vm, lx);
	return lx_ret(result, 0);
}
