/* hello.c: a libc program's start-up: argv, environment, stdio, exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	printf("argc %d\n", argc);
	for (int i = 1; i < argc; i++)
		printf("argv[%d] %s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		printf("env %s\n", *e);
	fprintf(stderr, "to stderr\n");
	syscall(999);	/* no such call: ENOSYS everywhere, and --trace shows it */
	return argc > 1 ? atoi(argv[argc - 1]) : 0;
}
