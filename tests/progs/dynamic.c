/* dynamic.c: an ordinary dynamically linked program, which pksandbox must refuse (126). */
#include <stdio.h>

int main(void)
{
	puts("dynamic");
	return 0;
}
