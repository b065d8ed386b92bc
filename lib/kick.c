/* kick.c: stopping a running vCPU from outside: time limit, pkvm_interrupt(), servers' wakeups. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vm.h"

#ifndef sigev_notify_thread_id	/* glibc before 2.35 */
#define sigev_notify_thread_id _sigev_un._tid
#endif

/*
 * A signal makes KVM_RUN return -EINTR.  One that lands just before KVM_RUN
 * would be lost, so the handler also sets immediate_exit in the kvm_run of
 * the VM this thread is running (KVM's documented way to close that race).
 */
static _Thread_local struct kvm_run *kick_run;

static void kick_handler(int signo)
{
	struct kvm_run *run = kick_run;

	(void)signo;
	if (run)
		run->immediate_exit = 1;
}

/* The handler is process-wide state by nature: install it once per signal. */
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t handlers_installed[2];

static int install_handler(int signo)
{
	struct sigaction sa;
	int err = 0;

	pthread_mutex_lock(&handler_lock);
	if (!(handlers_installed[signo / 64] & (1ULL << (signo % 64)))) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;
		sigemptyset(&sa.sa_mask);
		if (sigaction(signo, &sa, NULL) < 0)
			err = -errno;
		else
			handlers_installed[signo / 64] |= 1ULL << (signo % 64);
	}
	pthread_mutex_unlock(&handler_lock);
	return err;
}

uint64_t pkvm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int pkvm_kick_init(struct pkvm_kick *kick, int signo)
{
	memset(kick, 0, sizeof(*kick));
	kick->signo = signo;
	atomic_init(&kick->interrupt, false);
	atomic_init(&kick->wake, false);
	pthread_mutex_init(&kick->lock, NULL);
	return install_handler(signo);
}

void pkvm_kick_destroy(struct pkvm_kick *kick)
{
	if (kick->timer_valid)
		timer_delete(kick->timer);
	kick->timer_valid = false;
	pthread_mutex_destroy(&kick->lock);
}

/* The first of the time limit and the wakeup: when the timer must fire; 0 if never. */
static uint64_t first_event(const struct pkvm_kick *kick)
{
	if (!kick->deadline_ns || (kick->wake_ns && kick->wake_ns < kick->deadline_ns))
		return kick->wake_ns;
	return kick->deadline_ns;
}

/* A per-thread timer: it must signal the thread that sits in KVM_RUN. */
static int arm_timer(struct pkvm_kick *kick)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	struct itimerspec its = { 0 };
	uint64_t at = first_event(kick);

	if (kick->timer_valid && kick->timer_tid != tid) {
		timer_delete(kick->timer);
		kick->timer_valid = false;
		kick->timer_armed = false;
	}
	if (!kick->timer_valid) {
		struct sigevent sev = { 0 };

		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = kick->signo;
		sev.sigev_notify_thread_id = tid;
		if (timer_create(CLOCK_MONOTONIC, &sev, &kick->timer) < 0)
			return -errno;
		kick->timer_valid = true;
		kick->timer_tid = tid;
	}
	its.it_value.tv_sec = at / 1000000000ULL;
	its.it_value.tv_nsec = at % 1000000000ULL;
	/* Re-fire while still running past it: a signal may find us between runs. */
	its.it_interval.tv_nsec = 10 * 1000 * 1000;
	if (timer_settime(kick->timer, TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	kick->timer_armed = true;
	return 0;
}

/*
 * Only a timer that was armed: the creation check's time limit leaves every
 * VM with a timer, and a system call at the end of each run for nothing
 * would cost a run that returns at once a good part of a bare exit.
 */
static void disarm_timer(struct pkvm_kick *kick)
{
	struct itimerspec its = { 0 };

	if (kick->timer_valid && kick->timer_armed && timer_settime(kick->timer, 0, &its, NULL) == 0)
		kick->timer_armed = false;
}

int pkvm_kick_begin(struct pkvm_kick *kick, struct kvm_run *run)
{
	int err = 0;

	pthread_mutex_lock(&kick->lock);
	if (kick->running) {
		pthread_mutex_unlock(&kick->lock);
		return -EBUSY;
	}
	kick->running = true;
	kick->thread = pthread_self();
	/*
	 * A kick that landed after the last run's final KVM_RUN (while the host
	 * served an exit) is stale: the checks before each entry see why it
	 * came.  Left set, it would fail this run's first entry for nothing.
	 */
	run->immediate_exit = 0;
	kick_run = run;
	pthread_mutex_unlock(&kick->lock);
	if (first_event(kick))
		err = arm_timer(kick);
	if (err)
		pkvm_kick_end(kick);
	return err;
}

void pkvm_kick_end(struct pkvm_kick *kick)
{
	disarm_timer(kick);
	pthread_mutex_lock(&kick->lock);
	kick->running = false;
	kick_run = NULL;
	pthread_mutex_unlock(&kick->lock);
}

int pkvm_kick_after_fork(struct pkvm_kick *kick, struct kvm_run *run)
{
	/* The parent's timer is not ours, and its lock may have been held by a thread we lack. */
	kick->timer_valid = false;
	kick->timer_armed = false;
	pthread_mutex_init(&kick->lock, NULL);
	kick->thread = pthread_self();
	kick_run = run;
	return first_event(kick) ? arm_timer(kick) : 0;
}

bool pkvm_kick_deadline_passed(const struct pkvm_kick *kick)
{
	return kick->deadline_ns && pkvm_now_ns() >= kick->deadline_ns;
}

/* Raise @flag, then stop the vCPU if it runs: the run looks at the flag before each entry. */
static int kick_with(struct pkvm_kick *kick, atomic_bool *flag)
{
	int err = 0;

	atomic_store(flag, true);
	pthread_mutex_lock(&kick->lock);
	if (kick->running)
		err = -pthread_kill(kick->thread, kick->signo);
	pthread_mutex_unlock(&kick->lock);
	return err;
}

int pkvm_interrupt(struct pkvm_vm *vm)
{
	return kick_with(&vm->kick, &vm->kick.interrupt);
}

int pkvm_wake(struct pkvm_vm *vm)
{
	return kick_with(&vm->kick, &vm->kick.wake);
}

/* No signal needed: the run looks at the flag before it enters the guest again. */
void pkvm_wake_before_entry(struct pkvm_vm *vm)
{
	atomic_store(&vm->kick.wake, true);
}

int pkvm_wake_at(struct pkvm_vm *vm, uint64_t ns)
{
	struct pkvm_kick *kick = &vm->kick;

	kick->wake_ns = ns;
	if (!kick->running)
		return 0;	/* pkvm_kick_begin() arms it */
	if (first_event(kick))
		return arm_timer(kick);
	disarm_timer(kick);
	return 0;
}

bool pkvm_kick_wake_pending(const struct pkvm_kick *kick)
{
	return atomic_load(&kick->wake) || (kick->wake_ns && pkvm_now_ns() >= kick->wake_ns);
}

bool pkvm_kick_take_wake(struct pkvm_kick *kick)
{
	bool due = atomic_exchange(&kick->wake, false);

	if (kick->wake_ns && pkvm_now_ns() >= kick->wake_ns) {
		kick->wake_ns = 0;
		due = true;
	}
	return due;
}

int pkvm_set_time_limit(struct pkvm_vm *vm, uint64_t ns)
{
	if (vm->kick.running)
		return -EBUSY;
	vm->kick.deadline_ns = ns ? pkvm_now_ns() + ns : 0;
	return 0;
}
