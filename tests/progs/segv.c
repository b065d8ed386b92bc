/* segv.c: writes through a NULL pointer: Linux would kill it with SIGSEGV. */
#include "guest.h"

int main(int argc, char **argv)
{
	(void)argv;
	*(volatile int *)(ulong)(argc - 1) = 1;	/* argc is 1: address 0 */
	return 0;
}
