/* divzero.c: divides by zero: Linux would kill it with SIGFPE. */
#include "guest.h"

int main(int argc, char **argv)
{
	volatile int zero = argc - 1;

	(void)argv;
	return 10 / zero;
}
