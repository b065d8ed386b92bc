/* pkru.h: RDPKRU and WRPKRU for the test programs (as bytes: any assembler takes them). */
#ifndef TESTS_LINUX_PKRU_H
#define TESTS_LINUX_PKRU_H

#include <stdint.h>

static inline uint32_t rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static inline void wrpkru(uint32_t pkru)
{
	__asm__ volatile(".byte 0x0f, 0x01, 0xef" : : "a"(pkru), "c"(0), "d"(0) : "memory");
}

#endif
