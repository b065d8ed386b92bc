/*
 * forkexec.c: the guest procs_bench times (and runs natively for the
 * baseline): "forkexec N" forks, execs itself with "exit" and waits, N
 * times, and prints the nanoseconds one round took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long long start;
	int rounds;

	if (argc > 1 && !strcmp(argv[1], "exit"))
		return 0;
	rounds = argc > 1 ? atoi(argv[1]) : 10;
	start = now_ns();
	for (int i = 0; i < rounds; i++) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			execl(argv[0], argv[0], "exit", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
			return 1;
	}
	printf("%llu\n", (now_ns() - start) / (rounds > 0 ? rounds : 1));
	return 0;
}
