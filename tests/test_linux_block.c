/*
 * test_linux_block.c: the personality's blocking calls end on pkvm_interrupt()
 * and the time limit; pkvm_linux_kill() from another thread reaches a program
 * that sleeps or spins.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

#define NR_READ		0
#define NR_NANOSLEEP	35
#define NR_EXIT		60
#define NR_RT_SIGACTION	13
#define NR_KILL		62
#define LX_PID		2	/* the pid the personality gives the program */
#define SIGKILL_NR	9
#define SIGCONT_NR	18
#define SIGSTOP_NR	19
#define SIGUSR1_NR	10
#define SIGTERM_NR	15
#define SA_RESTORER_FLAG 0x04000000ULL

/* Sleep @sec seconds; exit 0 if nanosleep() said 0, 1 otherwise. */
GUEST_CODE static void guest_sleep(uint64_t sec)
{
	volatile int64_t ts[2];
	uint64_t r;

	ts[0] = (int64_t)sec;
	ts[1] = 0;
	r = guest_syscall(NR_NANOSLEEP, (uint64_t)ts, 0, 0);
	guest_syscall(NR_EXIT, r == 0 ? 0 : 1, 0, 0);
}

/* Read stdin; exit with the count. */
GUEST_CODE static void guest_read(void)
{
	volatile char buf[16];
	uint64_t r = guest_syscall(NR_READ, 0, (uint64_t)buf, sizeof(buf));

	guest_syscall(NR_EXIT, r, 0, 0);
}

/* Stop itself with SIGSTOP; once continued, exit 7. */
GUEST_CODE static void guest_stop_self(void)
{
	uint64_t r = guest_syscall(NR_KILL, LX_PID, SIGSTOP_NR, 0);

	guest_syscall(NR_EXIT, r == 0 ? 7 : 99, 0, 0);
}

/* Spin in user code: nothing but a kick can stop it. */
GUEST_CODE static void guest_spin(void)
{
	for (;;)
		__asm__ volatile("pause");
}

/* SIGUSR1's handler: exit with 40 + the signal number. */
GUEST_CODE static void guest_on_usr1(uint64_t sig)
{
	guest_syscall(NR_EXIT, 40 + sig, 0, 0);
}

/* Handle SIGUSR1 with the handler at @handler, then spin. */
GUEST_CODE static void guest_handle_then_spin(uint64_t handler)
{
	volatile uint64_t act[4];
	register uint64_t sigsetsize __asm__("r10") = 8;
	uint64_t r;

	act[0] = handler;
	act[1] = SA_RESTORER_FLAG;
	act[2] = handler;	/* never returned to: the handler exits */
	act[3] = 0;
	__asm__ volatile("syscall" : "=a"(r) : "a"(NR_RT_SIGACTION), "D"(SIGUSR1_NR),
			 "S"((uint64_t)act), "d"(0), "r"(sigsetsize) : "rcx", "r11", "memory");
	if (r)
		guest_syscall(NR_EXIT, 99, 0, 0);
	for (;;)
		__asm__ volatile("pause");
}

struct kicker {
	struct pkvm_vm *vm;
	unsigned delay_ms;
	int sig;			/* pkvm_linux_kill(sig); 0: pkvm_interrupt() */
	int ret;			/* what that returned (checked after the join) */
	pthread_t thread;
};

static void *kick_later(void *p)
{
	struct kicker *k = p;

	usleep(k->delay_ms * 1000);
	k->ret = k->sig ? pkvm_linux_kill(k->vm, k->sig) : pkvm_interrupt(k->vm);
	return NULL;
}

static void kick_in(struct kicker *k, struct pkvm_vm *vm, unsigned ms)
{
	k->vm = vm;
	k->delay_ms = ms;
	k->sig = 0;
	ck_assert_int_eq(pthread_create(&k->thread, NULL, kick_later, k), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void attach(struct vmtest *t, int stdin_fd)
{
	struct pkvm_linux_config lx = { .stdin_fd = stdin_fd, .stdout_fd = -1, .stderr_fd = -1 };

	ck_assert_int_eq(pkvm_linux_attach(t->vm, &lx), 0);
}

static void expect_exit(struct vmtest *t, int status)
{
	struct pkvm_exit *e = vmtest_run(t);

	ck_assert_msg(e->reason == PKVM_EXIT_EXIT, "expected an exit, got %s",
		      pkvm_exit_reason_name(e->reason));
	ck_assert_int_eq(e->exit.status, status);
}

/* A long sleep with no time limit: pkvm_interrupt() from another thread ends the run at once. */
START_TEST(test_interrupt_ends_sleep)
{
	struct vmtest t;
	struct kicker k;
	double start;

	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_sleep, 1000, 0, 0);
	kick_in(&k, t.vm, 200);
	start = now_s();
	vmtest_expect_reason(&t, PKVM_EXIT_INTERRUPTED);
	ck_assert_msg(now_s() - start < 3.0, "interrupted after %.2f s", now_s() - start);
	pthread_join(k.thread, NULL);
	/* The sleep goes on at the next run, and the time limit ends it too. */
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 300 * 1000 * 1000), 0);
	start = now_s();
	vmtest_expect_reason(&t, PKVM_EXIT_TIMEOUT);
	ck_assert_msg(now_s() - start < 3.0, "timed out after %.2f s", now_s() - start);
	vmtest_destroy(&t);
}
END_TEST

/* An interrupted sleep resumes for the time that was left, and then returns 0. */
START_TEST(test_interrupted_sleep_resumes)
{
	struct vmtest t;
	struct kicker k;
	double start, took;

	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_sleep, 2, 0, 0);
	kick_in(&k, t.vm, 1000);
	start = now_s();
	vmtest_expect_reason(&t, PKVM_EXIT_INTERRUPTED);
	pthread_join(k.thread, NULL);
	expect_exit(&t, 0);
	took = now_s() - start;
	/* Restarted from scratch it would take 3 s. */
	ck_assert_msg(took >= 1.95 && took < 2.8, "the sleep took %.2f s in all", took);
	vmtest_destroy(&t);
}
END_TEST

/* A read from an empty pipe ends on pkvm_interrupt(); the next run reads what came since. */
START_TEST(test_interrupt_ends_read)
{
	struct vmtest t;
	struct kicker k;
	double start;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	vmtest_create(&t, _i);
	attach(&t, p[0]);
	vmtest_start(&t, guest_read, 0, 0, 0);
	kick_in(&k, t.vm, 200);
	start = now_s();
	vmtest_expect_reason(&t, PKVM_EXIT_INTERRUPTED);
	ck_assert_msg(now_s() - start < 3.0, "interrupted after %.2f s", now_s() - start);
	pthread_join(k.thread, NULL);
	ck_assert_int_eq(write(p[1], "hi", 2), 2);
	expect_exit(&t, 2);
	vmtest_destroy(&t);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Kill @sig into the run from another thread after 200 ms. */
static void kill_in(struct kicker *k, struct pkvm_vm *vm, int sig)
{
	k->vm = vm;
	k->delay_ms = 200;
	k->sig = sig;
	ck_assert_int_eq(pthread_create(&k->thread, NULL, kick_later, k), 0);
}

/* SIGTERM's default action ends a program that sleeps: at once, reported as the signal. */
START_TEST(test_kill_ends_sleep)
{
	struct vmtest t;
	struct kicker k;
	struct pkvm_exit *e;
	double start;

	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_sleep, 1000, 0, 0);
	kill_in(&k, t.vm, SIGTERM_NR);
	start = now_s();
	e = vmtest_run(&t);
	pthread_join(k.thread, NULL);
	ck_assert_int_eq(k.ret, 0);
	ck_assert_int_eq(e->reason, PKVM_EXIT_EXIT);
	ck_assert_int_eq(e->exit.signal, SIGTERM_NR);
	ck_assert_int_eq(e->exit.status, 128 + SIGTERM_NR);
	ck_assert_msg(now_s() - start < 3.0, "killed after %.2f s", now_s() - start);
	vmtest_destroy(&t);
}
END_TEST

/* A program spinning in its own code is stopped for the signal; its handler runs. */
START_TEST(test_kill_reaches_spinning_program)
{
	struct vmtest t;
	struct kicker k;

	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_spin, 0, 0, 0);
	kill_in(&k, t.vm, SIGUSR1_NR);
	{
		struct pkvm_exit *e = vmtest_run(&t);

		pthread_join(k.thread, NULL);
		ck_assert_int_eq(k.ret, 0);
		ck_assert_int_eq(e->reason, PKVM_EXIT_EXIT);
		ck_assert_int_eq(e->exit.signal, SIGUSR1_NR);
	}
	vmtest_destroy(&t);

	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_handle_then_spin, vmtest_guest_addr(guest_on_usr1), 0, 0);
	kill_in(&k, t.vm, SIGUSR1_NR);
	expect_exit(&t, 40 + SIGUSR1_NR);
	pthread_join(k.thread, NULL);
	ck_assert_int_eq(k.ret, 0);
	vmtest_destroy(&t);
}
END_TEST

/* Send @sig (0: pkvm_interrupt()) after 100 ms, from another thread, and wait for it. */
static void send_later(struct vmtest *t, int sig, struct pkvm_exit **e)
{
	struct kicker k = { .vm = t->vm, .delay_ms = 100, .sig = sig };

	ck_assert_int_eq(pthread_create(&k.thread, NULL, kick_later, &k), 0);
	*e = vmtest_run(t);
	pthread_join(k.thread, NULL);
	ck_assert_int_eq(k.ret, 0);
}

/*
 * SIGSTOP stops the program: runs end only by pkvm_interrupt(), the time
 * limit or SIGKILL, and other signals wait, until SIGCONT continues it.
 */
START_TEST(test_stop_and_continue)
{
	struct vmtest t;
	struct pkvm_exit *e;

	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_stop_self, 0, 0, 0);
	send_later(&t, 0, &e);
	ck_assert_str_eq(pkvm_exit_reason_name(e->reason), "interrupted");
	/* Still stopped in the next run: SIGTERM stays pending, the program does not go on. */
	ck_assert_int_eq(pkvm_linux_kill(t.vm, SIGTERM_NR), 0);
	send_later(&t, 0, &e);
	ck_assert_str_eq(pkvm_exit_reason_name(e->reason), "interrupted");
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 200 * 1000000ULL), 0);
	e = vmtest_run(&t);
	ck_assert_str_eq(pkvm_exit_reason_name(e->reason), "timeout");
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 0), 0);
	/* SIGCONT: it goes on, and the pending SIGTERM ends it. */
	send_later(&t, SIGCONT_NR, &e);
	ck_assert_int_eq(e->reason, PKVM_EXIT_EXIT);
	ck_assert_int_eq(e->exit.signal, SIGTERM_NR);
	vmtest_destroy(&t);

	/* With nothing else pending, SIGCONT lets it finish its own way. */
	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_stop_self, 0, 0, 0);
	send_later(&t, SIGCONT_NR, &e);
	ck_assert_int_eq(e->reason, PKVM_EXIT_EXIT);
	ck_assert_int_eq(e->exit.signal, 0);
	ck_assert_int_eq(e->exit.status, 7);
	vmtest_destroy(&t);

	/* SIGKILL ends a stopped program. */
	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_stop_self, 0, 0, 0);
	send_later(&t, SIGKILL_NR, &e);
	ck_assert_int_eq(e->reason, PKVM_EXIT_EXIT);
	ck_assert_int_eq(e->exit.signal, SIGKILL_NR);
	vmtest_destroy(&t);

	/* Stopped from outside before its first instruction: it makes no call until SIGCONT. */
	vmtest_create(&t, _i);
	attach(&t, -1);
	vmtest_start(&t, guest_sleep, 0, 0, 0);
	ck_assert_int_eq(pkvm_linux_kill(t.vm, SIGSTOP_NR), 0);
	send_later(&t, 0, &e);
	ck_assert_str_eq(pkvm_exit_reason_name(e->reason), "interrupted");
	send_later(&t, SIGCONT_NR, &e);
	ck_assert_int_eq(e->reason, PKVM_EXIT_EXIT);
	ck_assert_int_eq(e->exit.status, 0);
	vmtest_destroy(&t);
}
END_TEST

START_TEST(test_kill_refuses_bad_input)
{
	struct vmtest t;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_linux_kill(t.vm, SIGUSR1_NR), -EINVAL);	/* no personality */
	attach(&t, -1);
	ck_assert_int_eq(pkvm_linux_kill(t.vm, 0), -EINVAL);
	ck_assert_int_eq(pkvm_linux_kill(t.vm, 65), -EINVAL);
	ck_assert_int_eq(pkvm_linux_kill(NULL, SIGUSR1_NR), -EINVAL);
	vmtest_destroy(&t);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("interrupt");

	vmtest_probe_backends();
	tcase_add_loop_test(tc, test_interrupt_ends_sleep, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_interrupted_sleep_resumes, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_interrupt_ends_read, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_kill_ends_sleep, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_kill_reaches_spinning_program, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_stop_and_continue, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_kill_refuses_bad_input, 0, vmtest_nbackends);
	tcase_set_timeout(tc, 30);
	return vmtest_run_tcase("linux_block", tc, CK_NORMAL);
}
