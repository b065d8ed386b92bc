/* pkeys.c: a program's own protection keys, with pkey_alloc/pkey_mprotect and WRPKRU. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pkru.h"

int main(int argc, char **argv)
{
	long key = syscall(SYS_pkey_alloc, 0, 0);
	char *p;

	(void)argv;	/* any argument: the write-disable fault (tests/test_linux.sh "wd") */

	if (key < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 0;
	}
	printf("key %s, pkru bits %u\n", key > 0 && key < 16 ? "ok" : "bad",
	       (rdpkru() >> (2 * key)) & 3);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (syscall(SYS_pkey_mprotect, p, 4096, PROT_READ | PROT_WRITE, key) != 0) {
		printf("pkey_mprotect: %s\n", strerror(errno));
		return 1;
	}
	strcpy(p, "keyed");
	printf("bad key: %s\n", syscall(SYS_pkey_mprotect, p, 4096, PROT_READ, 15) < 0 ? strerror(errno) : "ok");
	wrpkru(rdpkru() | (1U << (2 * key)));	/* access-disable the key */
	printf("write from AD buffer: %s\n", write(1, p, 5) < 0 ? strerror(errno) : "wrote");
	wrpkru(rdpkru() & ~(3U << (2 * key)));
	printf("write after allowing: %zd\n", write(1, p, 5));
	printf("\nfree %ld\n", syscall(SYS_pkey_free, key));
	fflush(stdout);
	if (argc > 1) {
		/* Deny writes and write: SIGSEGV, as on a PKU machine. */
		wrpkru(rdpkru() | (2U << (2 * key)));
		p[0] = 'X';
		printf("not reached\n");
	}
	return 0;
}
