/* ud.c: executes UD2: Linux would kill it with SIGILL. */
#include "guest.h"

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	__asm__ volatile("ud2");
	return 0;
}
