/* hello.c: writes a line to stdout and one to stderr, exits 0. */
#include "guest.h"

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	put(1, "hello, world\n");
	put(2, "to stderr\n");
	return 0;
}
