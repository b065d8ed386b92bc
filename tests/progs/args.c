/* args.c: prints its arguments, one per line, then the count as its status. */
#include "guest.h"

int main(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		put(1, argv[i]);
		put(1, "\n");
	}
	return argc;
}
