/* spin.c: never ends on its own: pksandbox --timeout must stop it. */
#include "guest.h"

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (;;)
		__asm__ volatile("" ::: "memory");
}
