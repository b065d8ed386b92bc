/* exit42.c: exits with status 42 through exit(), not exit_group(). */
#include "guest.h"

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (;;)
		sys3(60, 42, 0, 0);
}
