/*
 * threads.c: POSIX threads as a libc program uses them, printed so that a
 * run under pksandbox can be compared with a native run line for line.
 *   threads            create/join, mutexes, condition variables, TLS,
 *                      timed waits, gettid, spinning and blocking while
 *                      another thread works, signals to one thread, a
 *                      thread that ends the process
 *   threads pkeys      per-thread PKRU: inherited at creation, then each
 *                      thread's own; a thread faulting on a key it is denied
 *                      while another runs (a PKU machine; exits 77 without)
 *   threads deadlock   a thread that locks a mutex it holds: Linux waits
 *                      forever; pksandbox reports a deadlock (status 124)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <cpuid.h>
#include <stdint.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pkru.h"

#define WORKERS		8
#define ROUNDS		2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static long counter;
static __thread long mine = 100;

static void *count_up(void *arg)
{
	long id = (long)arg;

	mine += id;	/* this thread's copy only */
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
		if (i % 100 == 0)
			sched_yield();
	}
	return (void *)(mine * 10);
}

static void test_create_join(void)
{
	pthread_t t[WORKERS];
	long sum = 0;

	for (long i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, count_up, (void *)i))
			printf("pthread_create failed\n");
	for (int i = 0; i < WORKERS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		sum += (long)ret;
	}
	printf("counter %ld (want %d), results %ld, main's TLS still %ld\n", counter,
	       WORKERS * ROUNDS, sum, mine);
}

/* A bounded queue between a producer and two consumers: condition variables. */
static int queue[4], head, tail, items, done;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long consumed[2];

static void *produce(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 500; i++) {
		pthread_mutex_lock(&lock);
		while (items == 4)
			pthread_cond_wait(&not_full, &lock);
		queue[tail] = i;
		tail = (tail + 1) % 4;
		items++;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	done = 1;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *consume(void *arg)
{
	long who = (long)arg;

	for (;;) {
		pthread_mutex_lock(&lock);
		while (!items && !done)
			pthread_cond_wait(&not_empty, &lock);
		if (!items && done) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		consumed[who] += queue[head];
		head = (head + 1) % 4;
		items--;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&lock);
	}
}

static void test_condvars(void)
{
	pthread_t p, c[2];

	pthread_create(&c[0], NULL, consume, (void *)0);
	pthread_create(&c[1], NULL, consume, (void *)1);
	pthread_create(&p, NULL, produce, NULL);
	pthread_join(p, NULL);
	pthread_join(c[0], NULL);
	pthread_join(c[1], NULL);
	printf("consumed %ld in all (want %d)\n", consumed[0] + consumed[1], 500 * 501 / 2);
}

static void test_timed_wait(void)
{
	struct timespec until, before, after;
	int err;

	clock_gettime(CLOCK_REALTIME, &until);
	clock_gettime(CLOCK_MONOTONIC, &before);
	until.tv_nsec += 100 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lock);
	err = pthread_cond_timedwait(&ready, &lock, &until);
	pthread_mutex_unlock(&lock);
	clock_gettime(CLOCK_MONOTONIC, &after);
	printf("timed wait: %s after >= 100 ms: %d\n", err == ETIMEDOUT ? "ETIMEDOUT" : strerror(err),
	       (after.tv_sec - before.tv_sec) * 1000000000L + after.tv_nsec - before.tv_nsec >=
		       95 * 1000 * 1000);
}

static pid_t tids[2];

static void *report_tid(void *arg)
{
	tids[(long)arg] = (pid_t)syscall(SYS_gettid);
	return NULL;
}

static void test_tids(void)
{
	pthread_t t;

	pthread_create(&t, NULL, report_tid, (void *)0);
	pthread_join(t, NULL);
	tids[1] = (pid_t)syscall(SYS_gettid);
	printf("thread tid differs from main's: %d, main's is the pid: %d\n", tids[0] != tids[1],
	       tids[1] == getpid());
}

static volatile int flag;

static void *set_flag_later(void *arg)
{
	volatile unsigned long spin = 0;

	(void)arg;
	for (int i = 0; i < 3000000; i++)
		spin += i;
	flag = 1;
	return NULL;
}

static void *write_later(void *arg)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	write(*(int *)arg, "ping", 4);
	return NULL;
}

/* Others run while one spins on a flag (preempted) or blocks on a pipe another will fill. */
static void test_spin_and_block(void)
{
	pthread_t t;
	char buf[8];
	int p[2];
	ssize_t n;

	pthread_create(&t, NULL, set_flag_later, NULL);
	while (!flag)
		;
	pthread_join(t, NULL);
	printf("spun until another thread set the flag\n");
	pipe(p);
	pthread_create(&t, NULL, write_later, &p[1]);
	n = read(p[0], buf, sizeof(buf));
	pthread_join(t, NULL);
	printf("read %zd bytes another thread wrote: %.4s\n", n, buf);
}

static volatile sig_atomic_t usr1_in;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_in = (int)syscall(SYS_gettid);
}

static void *wait_for_usr1(void *arg)
{
	(void)arg;
	*(volatile pid_t *)&tids[0] = (pid_t)syscall(SYS_gettid);
	while (!usr1_in)
		sched_yield();
	return NULL;
}

/* pthread_kill(): the signal runs in the thread it was sent to; raise() in a thread too. */
static void test_thread_signals(void)
{
	pthread_t t;

	signal(SIGUSR1, on_usr1);
	tids[0] = 0;
	pthread_create(&t, NULL, wait_for_usr1, NULL);
	while (!*(volatile pid_t *)&tids[0])
		sched_yield();
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	printf("SIGUSR1 handled in the thread it was sent to: %d\n", usr1_in == tids[0]);
}

/* A thread that calls exit(): the whole process ends, with its status. */
static void *end_all(void *arg)
{
	(void)arg;
	printf("a thread exits the process\n");
	exit(3);
}

static volatile int pk_stage;

static void *pk_thread(void *arg)
{
	uint32_t *seen = arg;

	seen[0] = rdpkru();		/* inherited from its creator */
	wrpkru(seen[0] | 0xc0);		/* its own change: not the creator's */
	seen[1] = rdpkru();
	pk_stage = 1;
	while (pk_stage != 2)
		sched_yield();
	seen[2] = rdpkru();		/* the creator's change did not reach it */
	return NULL;
}

/* A thread faults on a key its PKRU denies while main runs: its handler opens the frame's PKRU. */
static long fault_key;
static volatile int *keyed;
static volatile int handled_in, main_spins;

static void on_pkuerr(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	unsigned a, b, c, d;

	__cpuid_count(0xd, 9, a, b, c, d);
	handled_in = (int)syscall(SYS_gettid);
	printf("  handler: sig %d code %d (SEGV_PKUERR %d) pkey ok %d addr ok %d\n", sig,
	       si->si_code, SEGV_PKUERR, si->si_pkey == fault_key, si->si_addr == (void *)keyed);
	*(uint32_t *)((char *)uc->uc_mcontext.fpregs + b) &= ~(3U << (2 * fault_key));
}

static void *read_keyed(void *arg)
{
	int value;

	*(volatile pid_t *)arg = (pid_t)syscall(SYS_gettid);
	value = *keyed;		/* faults: this thread's PKRU denies the key */
	return (void *)(long)value;
}

static void test_thread_pk_fault(long key)
{
	struct sigaction sa = { .sa_sigaction = on_pkuerr, .sa_flags = SA_SIGINFO };
	uint32_t pkru = rdpkru();
	volatile pid_t tid = 0;
	pthread_t t;
	void *ret;

	fault_key = key;
	keyed = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*keyed = 42;
	syscall(SYS_pkey_mprotect, keyed, 4096, PROT_READ | PROT_WRITE, key);
	sigaction(SIGSEGV, &sa, NULL);
	wrpkru(pkru | 1u << (2 * key));		/* the thread is born denied the key */
	pthread_create(&t, NULL, read_keyed, (void *)&tid);
	wrpkru(pkru & ~(3u << (2 * key)));	/* main may read it meanwhile */
	while (!handled_in)
		main_spins += *keyed == 42;
	pthread_join(t, &ret);
	printf("thread read %ld after its handler; handled in that thread: %d; main ran meanwhile: %d\n",
	       (long)ret, handled_in == tid, main_spins > 0);
	wrpkru(pkru);
}

static int test_pkeys(void)
{
	uint32_t seen[3], base;
	pthread_t t;
	long key = syscall(SYS_pkey_alloc, 0, 0);

	if (key < 0)
		return 77;
	base = rdpkru();
	wrpkru(base & ~(3u << (2 * key)));	/* this thread may use its key */
	pthread_create(&t, NULL, pk_thread, seen);
	while (pk_stage != 1)
		sched_yield();
	printf("main after the thread's WRPKRU: unchanged %d\n", rdpkru() == (base & ~(3u << (2 * key))));
	wrpkru(base | 0x300);
	pk_stage = 2;
	pthread_join(t, NULL);
	printf("thread inherited PKRU: %d, its own change kept: %d, main's change not seen: %d\n",
	       seen[0] == (base & ~(3u << (2 * key))), seen[1] == (seen[0] | 0xc0), seen[2] == seen[1]);
	wrpkru(base);
	test_thread_pk_fault(key);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t t;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "pkeys"))
		return test_pkeys();
	if (argc > 1 && !strcmp(argv[1], "deadlock")) {
		pthread_mutex_t m;
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
		pthread_mutex_init(&m, &a);
		pthread_mutex_lock(&m);
		printf("locking it again\n");
		pthread_mutex_lock(&m);
		printf("not reached\n");
		return 0;
	}
	test_create_join();
	test_condvars();
	test_timed_wait();
	test_tids();
	test_spin_and_block();
	test_thread_signals();
	pthread_create(&t, NULL, end_all, NULL);
	pthread_join(t, NULL);
	printf("not reached\n");
	return 0;
}
