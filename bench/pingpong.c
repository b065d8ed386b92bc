/*
 * pingpong.c: a guest for bench/pkvm_bench: two threads hand a turn to each
 * other through a futex ROUNDS times (argv[1]), each hand-over a wake and a
 * wait: two thread switches per round under pksandbox's M:1 scheduler.
 */
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>

static atomic_int turn;
static long rounds;

static void wait_for(int mine)
{
	int now;

	while ((now = atomic_load(&turn)) != mine)
		syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, now, NULL, NULL, 0);
}

static void give(int to)
{
	atomic_store(&turn, to);
	syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *other(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		wait_for(1);
		give(0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	rounds = argc > 1 ? atol(argv[1]) : 1000;
	pthread_create(&t, NULL, other, NULL);
	for (long i = 0; i < rounds; i++) {
		give(1);
		wait_for(0);
	}
	pthread_join(t, NULL);
	return 0;
}
