/* memory.c: brk, malloc, mmap, munmap, mremap, mprotect, madvise as a libc program uses them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { printf("FAIL line %d: %s (errno %d)\n", __LINE__, #cond, errno); return 1; } } while (0)

static unsigned sum(const unsigned char *p, size_t n)
{
	unsigned s = 0;

	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

int main(int argc, char **argv)
{
	const size_t page = 4096;

	if (argc > 1 && !strcmp(argv[1], "limit")) {
		/* Far more than --memory: ENOMEM, not a crash. */
		void *p = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		printf("big mmap: %s\n", p == MAP_FAILED && errno == ENOMEM ? "ENOMEM" : "mapped");
		printf("big malloc: %s\n", malloc(1UL << 30) ? "got it" : "NULL");
		return 0;
	}
	/* malloc: small (brk) and large (mmap) blocks, realloc that grows (mremap in glibc). */
	char *small = malloc(100);
	CHECK(small);
	strcpy(small, "small");
	unsigned char *big = malloc(4 << 20);
	CHECK(big);
	for (size_t i = 0; i < (4 << 20); i++)
		big[i] = (unsigned char)(i * 7);
	unsigned before = sum(big, 4 << 20);
	big = realloc(big, 12 << 20);
	CHECK(big);
	CHECK(sum(big, 4 << 20) == before);
	memset(big + (4 << 20), 1, 8 << 20);
	free(big);
	char *zeros = calloc(1 << 20, 1);
	CHECK(zeros);
	for (size_t i = 0; i < (1 << 20); i++)
		CHECK(zeros[i] == 0);
	free(zeros);
	printf("malloc ok %s\n", small);

	/* brk itself (musl's sbrk() refuses to move it) */
	char *b0 = (char *)syscall(SYS_brk, 0);
	CHECK((char *)syscall(SYS_brk, b0 + 3 * page) == b0 + 3 * page);
	memset(b0, 0x55, 3 * page);
	CHECK((char *)syscall(SYS_brk, b0 + page) == b0 + page);
	printf("brk ok\n");

	/* mmap, mprotect, munmap, PROT_NONE, MAP_FIXED, MAP_FIXED_NOREPLACE, mremap */
	unsigned char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	memset(m, 0xab, 3 * page);
	CHECK(mprotect(m, page, PROT_READ) == 0);
	CHECK(m[0] == 0xab);
	CHECK(munmap(m + page, page) == 0);
	CHECK(mmap(m + page, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == m + page);
	CHECK(m[page] == 0);
	CHECK(mmap(m, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED && errno == EEXIST);
	CHECK(mmap(m, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == m);
	CHECK(m[0] == 0);
	CHECK(mprotect(m + 3 * page, page, PROT_READ) == -1 ? errno == ENOMEM || errno == 0 : 1);
	unsigned char *r = mremap(m + 2 * page, page, 4 * page, MREMAP_MAYMOVE);
	CHECK(r != MAP_FAILED);
	CHECK(r[0] == 0xab && r[page - 1] == 0xab && r[page] == 0);
	CHECK(munmap(m, 2 * page) == 0 && munmap(r, 4 * page) == 0);
	unsigned char *none = mmap(NULL, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(none != MAP_FAILED);
	CHECK(mprotect(none, page, PROT_READ | PROT_WRITE) == 0);
	none[5] = 9;
	CHECK(mprotect(none, page, PROT_NONE) == 0 && mprotect(none, page, PROT_READ) == 0);
	CHECK(none[5] == 9);
	/* A PROT_NONE buffer is refused by the kernel (EFAULT) rather than read. */
	CHECK(mprotect(none, page, PROT_NONE) == 0);
	CHECK(write(1, none, 1) == -1 && errno == EFAULT);
	unsigned char *d = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(d != MAP_FAILED);
	d[10] = 1;
	CHECK(madvise(d, page, MADV_DONTNEED) == 0 && d[10] == 0);
	CHECK(munmap(NULL, 0) == -1 && errno == EINVAL);
	printf("mmap ok\n");
	fflush(stdout);
	/* Touching an unmapped page ends the program with SIGSEGV. */
	if (argc > 1 && !strcmp(argv[1], "segv"))
		return *(volatile int *)none;
	return 0;
}
