/* memory.c: brk, malloc, mmap (of files too), munmap, mremap, mprotect, madvise as a libc program uses them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* Up to 24 bytes at @p, as text: what a page of the data file (or zeros, '.') holds there. */
static void show(const char *what, const unsigned char *p)
{
	char line[25];

	for (int i = 0; i < 24; i++)
		line[i] = p[i] >= ' ' && p[i] < 127 ? p[i] : '.';
	line[24] = 0;
	printf("%s: %s\n", what, line);
}

/*
 * Address space reserved as Go and Java runtimes do: a PROT_NONE range of
 * many GiB, small parts of it made usable with mprotect() and given back
 * with MADV_DONTNEED; MAP_NORESERVE; and Linux's heuristic overcommit,
 * which refuses one private writable mapping larger than all memory.
 */
static int reservations(void)
{
	size_t huge = 16UL << 30, part = 1UL << 20;
	unsigned char *r = mmap(NULL, huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0), *q;

	CHECK(r != MAP_FAILED);
	printf("16 GiB PROT_NONE reserved\n");
	for (int i = 0; i < 4; i++) {
		unsigned char *piece = r + (size_t)i * (4UL << 30);

		CHECK(mprotect(piece, part, PROT_READ | PROT_WRITE) == 0);
		for (size_t off = 0; off < part; off += 4096)
			CHECK(piece[off] == 0);
		memset(piece, 0x5a + i, part);
	}
	CHECK(r[(4UL << 30) * 3 + 17] == 0x5a + 3);
	CHECK(madvise(r, part, MADV_DONTNEED) == 0);
	printf("after MADV_DONTNEED: %d, the next piece still %#x\n", r[100], r[(4UL << 30) + 5]);
	CHECK(mprotect(r, part, PROT_NONE) == 0);
	CHECK(munmap(r, huge) == 0);
	q = mmap(NULL, 4UL << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	CHECK(q != MAP_FAILED);
	q[0] = 1;
	q[(4UL << 30) - 1] = 2;
	printf("4 GiB MAP_NORESERVE: %d %d\n", q[0], q[(4UL << 30) - 1]);
	CHECK(munmap(q, 4UL << 30) == 0);
	q = mmap(NULL, 1UL << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("1 TiB writable, accounted: %s\n", q == MAP_FAILED ? strerror(errno) : "mapped");
	q = mmap(NULL, 32UL << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(q != MAP_FAILED);
	printf("32 MiB writable, accounted: mapped\n");
	return 0;
}

/*
 * Private file mappings: MADV_DONTNEED drops the program's writes and the
 * pages read the file again, at the right offsets after munmap() cut the
 * mapping, mremap() moved it, or grew it over more of the file.
 */
static int file_mappings(const char *path)
{
	const size_t page = 4096;
	int fd = open(path, O_RDONLY);
	struct stat st;

	CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 8 * (off_t)page);
	unsigned char *m = mmap(NULL, 6 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 2 * page);
	CHECK(m != MAP_FAILED);
	CHECK(close(fd) == 0);		/* the mapping keeps the file */
	show("offset 2 pages", m);
	for (int i = 0; i < 6; i++)
		memset(m + i * page, 'X', 8);
	CHECK(madvise(m + page, page, MADV_DONTNEED) == 0);
	show("written, page 0", m);
	show("dropped, page 1", m + page);
	CHECK(madvise(m, 6 * page, MADV_DONTNEED) == 0);
	show("dropped, page 0", m);
	show("dropped, page 5", m + 5 * page);

	/* Cut in two: each part still maps its own offsets. */
	CHECK(munmap(m + 2 * page, page) == 0);
	memset(m + 4 * page, 'Y', 8);
	CHECK(madvise(m + 3 * page, 3 * page, MADV_DONTNEED) == 0);
	show("after a cut, page 4", m + 4 * page);
	CHECK(madvise(m + 2 * page, page, MADV_DONTNEED) == -1 && errno == ENOMEM);
	printf("MADV_FREE on a file mapping: %s\n",
	       madvise(m, page, MADV_FREE) == 0 ? "ok" : errno == EINVAL ? "EINVAL" : "other");

	/* Moved: the file comes along. */
	unsigned char *to = mmap(NULL, 8 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(to != MAP_FAILED);
	unsigned char *moved = mremap(m + 3 * page, 3 * page, 3 * page, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	CHECK(moved == to);
	memset(moved + page, 'Z', 8);
	CHECK(madvise(moved, 3 * page, MADV_DONTNEED) == 0);
	show("moved, page 1", moved + page);

	/* Anonymous memory over part of it reads back as zeros. */
	CHECK(mmap(moved + 2 * page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == moved + 2 * page);
	moved[2 * page] = 'A';
	CHECK(madvise(moved, 3 * page, MADV_DONTNEED) == 0);
	show("anonymous over it", moved + 2 * page);
	show("beside it", moved);

	/* Grown in place: the new pages map the file's next bytes. */
	CHECK(munmap(to, 8 * page) == 0 && munmap(m, 2 * page) == 0);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	unsigned char *g = mmap(NULL, 4 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(g != MAP_FAILED && munmap(g + 2 * page, 2 * page) == 0);
	CHECK(mmap(g, 2 * page, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, page) == g);
	CHECK(mremap(g, 2 * page, 4 * page, 0) == g);
	show("grown, page 3", g + 3 * page);
	CHECK(madvise(g, 4 * page, MADV_DONTNEED) == 0);
	show("grown and dropped, page 3", g + 3 * page);

	/* The last page: past the end of the file, zeros, before and after. */
	off_t last = (st.st_size - 1) / page * page;
	unsigned char *t = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, last);
	size_t tail = st.st_size - last;
	CHECK(t != MAP_FAILED);
	show("last page", t);
	show("past the end", t + tail);
	memset(t, 'W', page);
	CHECK(madvise(t, page, MADV_DONTNEED) == 0);
	show("last page dropped", t);
	show("past the end dropped", t + tail);
	printf("file mappings ok\n");
	return 0;
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
	if (argc > 1 && !strcmp(argv[1], "reserve"))
		return reservations();
	if (argc > 1 && !strcmp(argv[1], "oom")) {
		/* 96 MiB, all touched: past a 64 MiB sandbox's memory (killed), fine natively. */
		size_t len = 96UL << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		CHECK(p != MAP_FAILED);
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		printf("touched all\n");
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "file"))
		return file_mappings(argv[2]);
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
