/* test_pagetable.c: the guest page-table builder, checked through lookups and the software walker. */
/*
 * Every result is checked twice: by pkvm_pt_lookup (the builder's own view of
 * its leaves) and by pkvm_walk (what the CPU would make of the tables).  Guest
 * memory is fenced by PROT_NONE guard pages, so a builder writing outside it
 * crashes the (forked) test instead of passing by luck.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pagetable.h"
#include "pkeys.h"
#include "walk.h"
#include "x86.h"

/*
 * ck_assert_* records every passing assertion with the parent process; loops
 * of millions of checks use this instead.
 */
#define EXPECT(cond, ...)						\
	do {								\
		if (!(cond))						\
			ck_abort_msg(__VA_ARGS__);			\
	} while (0)

#define KiB4		((uint64_t)0x1000)
#define MiB2		((uint64_t)0x200000)
#define GiB1		((uint64_t)0x40000000)
#define LEAF_FIXED	(PTE_P | PTE_A | PTE_D)

/* ------------------------------------------------------------------------- */
/* Fake guest memory with guard pages, a pool at its end, and a walker.       */

#define MEM_PAGES	8192		/* 32 MiB */
#define POOL_PAGES	256		/* the last 1 MiB */

struct env {
	struct pkvm_gmem gmem;
	uint8_t *map;
	size_t map_len;
	uint64_t pool_gpa;
	struct pkvm_pt pt;
	struct pkvm_walk_ctx wctx;
};

static void env_init(struct env *e, uint64_t mem_pages, uint64_t pool_pages)
{
	size_t len = (mem_pages + 2) * PAGE_SIZE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* NXE so that PTE_NX is a right, not a reserved bit; PKE so keys count. */
	struct pkvm_mmu_mode mode = { .wp = true, .nxe = true, .pke = true };

	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(mprotect(p, PAGE_SIZE, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(p + (mem_pages + 1) * PAGE_SIZE, PAGE_SIZE, PROT_NONE), 0);
	e->map = p;
	e->map_len = len;
	e->gmem.base = p + PAGE_SIZE;
	e->gmem.size = mem_pages * PAGE_SIZE;
	e->pool_gpa = (mem_pages - pool_pages) * PAGE_SIZE;
	ck_assert_int_eq(pkvm_pt_init(&e->pt, &e->gmem, e->pool_gpa, pool_pages), 0);
	ck_assert_uint_eq(e->pt.pool_in_use, 1);
	pkvm_walk_ctx_init(&e->wctx, &e->gmem, &mode, 52, false);
}

static void env_default(struct env *e)
{
	env_init(e, MEM_PAGES, POOL_PAGES);
}

static void env_fini(struct env *e)
{
	pkvm_pt_destroy(&e->pt);
	munmap(e->map, e->map_len);
}

/* The rights pkvm_walk should report for leaf flags @flags. */
static unsigned acc_of(uint64_t flags)
{
	return (flags & PTE_W ? PKVM_PTE_ACC_W : 0) | (flags & PTE_U ? PKVM_PTE_ACC_U : 0) |
	       (flags & PTE_NX ? 0 : PKVM_PTE_ACC_X);
}

/*
 * @gva must translate to @gpa through a leaf at @level (0: either) with
 * exactly @flags and @pkey, both for the builder and for the walker.
 */
static void expect_mapped(const struct env *e, uint64_t gva, uint64_t gpa, uint64_t flags,
			  unsigned pkey, unsigned level)
{
	uint64_t leaf, span;
	unsigned lvl;
	struct pkvm_walk w;
	uint64_t off = (gva * 7 + 0x123) & 0xff8;	/* some offset inside the page */
	int err = pkvm_pt_lookup(&e->pt, gva, &leaf, &lvl);

	EXPECT(err == 0, "gva %#" PRIx64 ": lookup %d, expected mapped", gva, err);
	EXPECT(level == 0 || lvl == level, "gva %#" PRIx64 ": level %u, expected %u", gva, lvl,
	       level);
	EXPECT(lvl == 1 || lvl == 2, "gva %#" PRIx64 ": level %u", gva, lvl);
	span = lvl == 2 ? MiB2 : KiB4;
	EXPECT((leaf & PKVM_PT_FLAGS) == flags, "gva %#" PRIx64 ": leaf %#" PRIx64
	       " flags, expected %#" PRIx64, gva, leaf, flags);
	EXPECT((leaf & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT == pkey, "gva %#" PRIx64 ": leaf %#"
	       PRIx64 " pkey, expected %u", gva, leaf, pkey);
	EXPECT((leaf & LEAF_FIXED) == LEAF_FIXED, "gva %#" PRIx64 ": leaf %#" PRIx64
	       " lacks P/A/D", gva, leaf);
	EXPECT(!!(leaf & PTE_PS) == (lvl == 2), "gva %#" PRIx64 ": leaf %#" PRIx64 " PS", gva, leaf);
	EXPECT((leaf & PTE_ADDR_MASK_52 & ~(span - 1)) + (gva & (span - 1)) == gpa,
	       "gva %#" PRIx64 ": leaf %#" PRIx64 ", expected gpa %#" PRIx64, gva, leaf, gpa);
	/* Nothing the builder does not own: no PWT/PCD/PAT, no ignored or reserved bits. */
	EXPECT((leaf & ~(PTE_ADDR_MASK_52 | PKVM_PT_FLAGS | PTE_PKEY_MASK | LEAF_FIXED |
			 PTE_PS)) == 0, "gva %#" PRIx64 ": leaf %#" PRIx64 " stray bits", gva, leaf);

	err = pkvm_walk(&e->wctx, e->pt.root, gva + off, 0, 0, &w);
	EXPECT(err == 0, "gva %#" PRIx64 ": walk %d pfec %#x", gva, err, w.pfec);
	EXPECT(w.gpa == gpa + off, "gva %#" PRIx64 ": walk gpa %#" PRIx64 ", expected %#" PRIx64,
	       gva, w.gpa, gpa + off);
	EXPECT(w.level == lvl && w.pkey == pkey && w.pte_acc == acc_of(flags),
	       "gva %#" PRIx64 ": walk level %u pkey %u acc %#x", gva, w.level, w.pkey, w.pte_acc);
}

static void expect_unmapped(const struct env *e, uint64_t gva)
{
	uint64_t leaf;
	unsigned lvl;
	struct pkvm_walk w;
	int err = pkvm_pt_lookup(&e->pt, gva, &leaf, &lvl);

	EXPECT(err == -ENOENT, "gva %#" PRIx64 ": lookup %d (leaf %#" PRIx64 "), expected -ENOENT",
	       gva, err, err ? 0 : leaf);
	err = pkvm_walk(&e->wctx, e->pt.root, gva, 0, 0, &w);
	EXPECT(err == -EFAULT && w.pfec == 0, "gva %#" PRIx64 ": walk %d pfec %#x", gva, err,
	       w.pfec);
}

static void expect_range_mapped(const struct env *e, uint64_t gva, uint64_t gpa, uint64_t size,
				uint64_t flags, unsigned pkey, unsigned level)
{
	for (uint64_t off = 0; off < size; off += KiB4)
		expect_mapped(e, gva + off, gpa + off, flags, pkey, level);
}

static void expect_range_unmapped(const struct env *e, uint64_t gva, uint64_t size)
{
	for (uint64_t off = 0; off < size; off += KiB4)
		expect_unmapped(e, gva + off);
}

/* Every entry of every table the pool has handed out, for "nothing changed" checks. */
static uint8_t *snapshot_pool(const struct env *e)
{
	size_t len = e->gmem.size - e->pool_gpa;
	uint8_t *copy = malloc(len);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, e->gmem.base + e->pool_gpa, len);
	return copy;
}

static void expect_pool_equal(const struct env *e, uint8_t *copy)
{
	ck_assert(memcmp(copy, e->gmem.base + e->pool_gpa, e->gmem.size - e->pool_gpa) == 0);
	free(copy);
}

/* ------------------------------------------------------------------------- */
/* A log of what the release callback was told.                               */

struct rel_log {
	uint64_t *gpa, *size;
	size_t n, cap;
};

static void rel_cb(void *ctx, uint64_t gpa, uint64_t size)
{
	struct rel_log *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->gpa = realloc(l->gpa, l->cap * sizeof(*l->gpa));
		l->size = realloc(l->size, l->cap * sizeof(*l->size));
		if (!l->gpa || !l->size)
			abort();
	}
	l->gpa[l->n] = gpa;
	l->size[l->n] = size;
	l->n++;
}

static void rel_free(struct rel_log *l)
{
	free(l->gpa);
	free(l->size);
	memset(l, 0, sizeof(*l));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The log, as a sorted list of the 4 KiB gpa pages it covers; *n gets the count. */
static uint64_t *rel_pages(const struct rel_log *l, size_t *n)
{
	size_t total = 0, k = 0;
	uint64_t *pages;

	for (size_t i = 0; i < l->n; i++) {
		EXPECT(l->size[i] == KiB4 || l->size[i] == MiB2, "released size %#" PRIx64,
		       l->size[i]);
		EXPECT(l->gpa[i] % l->size[i] == 0, "released gpa %#" PRIx64 " size %#" PRIx64,
		       l->gpa[i], l->size[i]);
		total += l->size[i] / KiB4;
	}
	pages = malloc((total + 1) * sizeof(*pages));
	ck_assert_ptr_nonnull(pages);
	for (size_t i = 0; i < l->n; i++)
		for (uint64_t off = 0; off < l->size[i]; off += KiB4)
			pages[k++] = l->gpa[i] + off;
	qsort(pages, total, sizeof(*pages), cmp_u64);
	*n = total;
	return pages;
}

/* The log must be exactly the gpa range [gpa, gpa + size), each page once. */
static void expect_released(const struct rel_log *l, uint64_t gpa, uint64_t size)
{
	size_t n;
	uint64_t *pages = rel_pages(l, &n);

	ck_assert_uint_eq(n, size / KiB4);
	for (size_t i = 0; i < n; i++)
		EXPECT(pages[i] == gpa + i * KiB4, "released page %zu is %#" PRIx64 ", expected %#"
		       PRIx64, i, pages[i], gpa + i * KiB4);
	free(pages);
}

/* ------------------------------------------------------------------------- */
/* Init and basic mapping.                                                    */

START_TEST(test_pt_init)
{
	struct env e;
	struct pkvm_pt pt;

	env_default(&e);
	ck_assert_uint_ge(e.pt.root, e.pool_gpa);
	ck_assert_uint_lt(e.pt.root, e.gmem.size);
	ck_assert_uint_eq(e.pt.root % PAGE_SIZE, 0);
	ck_assert(e.pt.allow_huge);
	/* A fresh root maps nothing. */
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(((uint64_t *)(e.gmem.base + e.pt.root))[i], 0);
	expect_unmapped(&e, 0);
	expect_unmapped(&e, 0x400000);
	expect_unmapped(&e, 0xffffffff80000000ULL);

	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, e.pool_gpa, 0), -EINVAL);
	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, e.pool_gpa + 8, 4), -EINVAL);
	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, e.pool_gpa, POOL_PAGES + 1), -EINVAL);
	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, e.gmem.size, 1), -EINVAL);
	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, e.gmem.size + PAGE_SIZE, 1), -EINVAL);
	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, -PAGE_SIZE, 1), -EINVAL);
	/* The very last page of memory is a valid one-page pool. */
	ck_assert_int_eq(pkvm_pt_init(&pt, &e.gmem, e.gmem.size - PAGE_SIZE, 1), 0);
	ck_assert_uint_eq(pt.root, e.gmem.size - PAGE_SIZE);
	pkvm_pt_destroy(&pt);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_map_4k)
{
	struct env e;

	env_default(&e);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0x123000, 37 * KiB4, PTE_U, 0), 0);
	ck_assert(e.pt.changed);
	expect_range_mapped(&e, 0x400000, 0x123000, 37 * KiB4, PTE_U, 0, 1);
	expect_unmapped(&e, 0x400000 - KiB4);
	expect_unmapped(&e, 0x400000 + 37 * KiB4);
	/* Root, PDPT, PD, PT. */
	ck_assert_uint_eq(e.pt.pool_in_use, 4);

	/* One page at gva 4 KiB; a range crossing a PT, a PD and a PDPT boundary. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, KiB4, 0, KiB4, PTE_U | PTE_W, 1), 0);
	expect_mapped(&e, KiB4, 0, PTE_U | PTE_W, 1, 1);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 512 * GiB1 - 3 * KiB4, 0x800000, 6 * KiB4, PTE_U, 2), 0);
	expect_range_mapped(&e, 512 * GiB1 - 3 * KiB4, 0x800000, 6 * KiB4, PTE_U, 2, 1);
	expect_unmapped(&e, 512 * GiB1 + 3 * KiB4);
	/* The last user page. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x7ffffffff000ULL, 0x900000, KiB4, PTE_U, 3), 0);
	expect_mapped(&e, 0x7ffffffff000ULL, 0x900000, PTE_U, 3, 1);
	/* The gpa range may end at the end of memory. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x10000000, e.gmem.size - 2 * KiB4, 2 * KiB4, 0, 0), 0);
	expect_range_mapped(&e, 0x10000000, e.gmem.size - 2 * KiB4, 2 * KiB4, 0, 0, 1);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_map_huge)
{
	struct env e;
	uint64_t gva, gpa;

	env_default(&e);
	/* 2 MiB-aligned gva and gpa: 2 MiB leaves, then 4 KiB leaves for the tail. */
	gva = GiB1;
	gpa = MiB2;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, gpa, 3 * MiB2 + 5 * KiB4, PTE_U | PTE_W, 4), 0);
	expect_range_mapped(&e, gva, gpa, 3 * MiB2, PTE_U | PTE_W, 4, 2);
	expect_range_mapped(&e, gva + 3 * MiB2, gpa + 3 * MiB2, 5 * KiB4, PTE_U | PTE_W, 4, 1);
	expect_unmapped(&e, gva + 3 * MiB2 + 5 * KiB4);
	/* Root, PDPT, PD, and one PT for the tail. */
	ck_assert_uint_eq(e.pt.pool_in_use, 4);

	/* Only the 2 MiB blocks the range covers whole become 2 MiB leaves. */
	gva = 2 * GiB1 + MiB2 - KiB4;
	gpa = 4 * MiB2 - KiB4;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, gpa, 2 * MiB2 + 2 * KiB4, PTE_U, 0), 0);
	expect_mapped(&e, gva, gpa, PTE_U, 0, 1);
	expect_range_mapped(&e, gva + KiB4, gpa + KiB4, 2 * MiB2, PTE_U, 0, 2);
	expect_mapped(&e, gva + KiB4 + 2 * MiB2, gpa + KiB4 + 2 * MiB2, PTE_U, 0, 1);

	/* gva aligned, gpa not: 4 KiB leaves only. */
	gva = 3 * GiB1;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, 0x1001000, 2 * MiB2, PTE_U, 0), 0);
	expect_range_mapped(&e, gva, 0x1001000, 2 * MiB2, PTE_U, 0, 1);
	/* gpa aligned, gva not. */
	gva = 4 * GiB1 + KiB4;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, 0x1000000, MiB2, PTE_U, 0), 0);
	expect_range_mapped(&e, gva, 0x1000000, MiB2, PTE_U, 0, 1);

	/* allow_huge = false: 4 KiB leaves even when both are aligned. */
	e.pt.allow_huge = false;
	gva = 5 * GiB1;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, 0x1000000, 2 * MiB2, PTE_U, 0), 0);
	expect_range_mapped(&e, gva, 0x1000000, 2 * MiB2, PTE_U, 0, 1);
	e.pt.allow_huge = true;

	/* A GiB-aligned range still gets 2 MiB leaves: the builder makes no 1 GiB ones. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 6 * GiB1, 0, 8 * MiB2, 0, 0), 0);
	expect_range_mapped(&e, 6 * GiB1, 0, 8 * MiB2, 0, 0, 2);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_map_flags_pkey)
{
	static const uint64_t bits[] = { PTE_W, PTE_U, PTE_NX, PTE_G };
	struct env e;
	struct pkvm_walk w;

	env_default(&e);
	for (unsigned combo = 0; combo < 16; combo++) {
		uint64_t flags = 0;

		for (unsigned b = 0; b < 4; b++)
			if (combo & (1U << b))
				flags |= bits[b];
		for (unsigned key = 0; key < PKVM_NR_PKEYS; key++) {
			uint64_t gva4k = 0x200000000ULL + (combo * 16 + key) * KiB4;
			uint64_t gva2m = 0x300000000ULL + (combo * 16 + key) * MiB2;

			ck_assert_int_eq(pkvm_pt_map(&e.pt, gva4k, 0x40000, KiB4, flags, key), 0);
			expect_mapped(&e, gva4k, 0x40000, flags, key, 1);
			ck_assert_int_eq(pkvm_pt_map(&e.pt, gva2m, 0x400000, MiB2, flags, key), 0);
			expect_mapped(&e, gva2m + 0x5000, 0x405000, flags, key, 2);
			if (!(flags & PTE_U))
				continue;
			/* The key is the one the CPU applies: AD on it denies a user read. */
			ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, gva4k, PKVM_ACC_USER,
						   pkvm_pkru_ad(key), &w), -EFAULT);
			ck_assert_uint_eq(w.pfec, PFEC_P | PFEC_U | PFEC_PK);
			ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, gva2m, PKVM_ACC_USER,
						   pkvm_pkru_ad((key + 1) % 16), &w), 0);
		}
	}
	env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Refusals.                                                                  */

START_TEST(test_pt_map_eexist)
{
	static const struct { uint64_t gva, size; } clash[] = {
		{ 0x400000, KiB4 },			/* first page */
		{ 0x400000 + 9 * KiB4, KiB4 },		/* last page */
		{ 0x400000 - KiB4, 2 * KiB4 },		/* ends inside */
		{ 0x400000 + 9 * KiB4, 2 * KiB4 },	/* starts inside */
		{ 0x400000 - 5 * KiB4, 20 * KiB4 },	/* contains */
		{ 0x400000, 10 * KiB4 },		/* identical */
		{ 0x200000, 2 * MiB2 },			/* a 2 MiB-mappable range over 4 KiB pages */
		{ 0x1000000 + MiB2 - KiB4, 2 * KiB4 },	/* 4 KiB pages over a 2 MiB leaf */
		{ 0x1000000 + 0x7000, KiB4 },		/* inside a 2 MiB leaf */
		{ 0x1000000 - MiB2, 3 * MiB2 },		/* 2 MiB leaves over a 2 MiB leaf */
		{ 0x1000000 - 100 * KiB4, 2 * MiB2 },	/* unaligned, crossing into a 2 MiB leaf */
	};
	struct env e;

	env_default(&e);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0x10000, 10 * KiB4, PTE_U, 3), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x1000000, 0x200000, 2 * MiB2, PTE_U | PTE_W, 4), 0);
	for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
		uint64_t in_use = e.pt.pool_in_use;
		uint8_t *before = snapshot_pool(&e);

		e.pt.changed = false;
		ck_assert_msg(pkvm_pt_map(&e.pt, clash[i].gva, 0x800000, clash[i].size, PTE_W, 7) ==
			      -EEXIST, "clash %zu", i);
		ck_assert_msg(!e.pt.changed, "clash %zu", i);
		ck_assert_uint_eq(e.pt.pool_in_use, in_use);
		expect_pool_equal(&e, before);
		expect_range_mapped(&e, 0x400000, 0x10000, 10 * KiB4, PTE_U, 3, 1);
		expect_range_mapped(&e, 0x1000000, 0x200000, 2 * MiB2, PTE_U | PTE_W, 4, 2);
		for (uint64_t off = 0; off < clash[i].size; off += KiB4) {
			uint64_t gva = clash[i].gva + off;

			if ((gva < 0x400000 || gva >= 0x400000 + 10 * KiB4) &&
			    (gva < 0x1000000 || gva >= 0x1000000 + 2 * MiB2))
				expect_unmapped(&e, gva);
		}
	}
	env_fini(&e);
}
END_TEST

/* Ranges no entry point accepts. */
static const struct { uint64_t gva, size; } bad_range[] = {
	{ 0x400001, KiB4 },				/* gva unaligned */
	{ 0x400800, KiB4 },
	{ 0x400000, 0 },				/* empty */
	{ 0x400000, 0x800 },				/* size unaligned */
	{ 0x400000, KiB4 + 1 },
	{ 0x0000800000000000ULL, KiB4 },		/* first non-canonical page */
	{ 0xffff7ffffffff000ULL, KiB4 },		/* last non-canonical page */
	{ 0x0000123400000000ULL | (1ULL << 52), KiB4 },
	{ 0x00007ffffffff000ULL, 2 * KiB4 },		/* runs off the user half */
	{ 0x00007ffffffff000ULL, -KiB4 },		/* wraps */
	{ 0x0000000000400000ULL, -0x400000ULL },	/* to 2^64 */
	{ 0xffff800000000000ULL, -0xffff800000000000ULL },
	{ 0xfffffffffffff000ULL, KiB4 },		/* the last page: kept unmapped */
};

START_TEST(test_pt_map_einval)
{
	static const struct { uint64_t gpa, size, flags; unsigned pkey; } bad[] = {
		{ 0x10, KiB4, 0, 0 },				/* gpa unaligned */
		{ 0x800, KiB4, 0, 0 },
		{ MEM_PAGES * KiB4, KiB4, 0, 0 },		/* gpa beyond memory */
		{ MEM_PAGES * KiB4 - KiB4, 2 * KiB4, 0, 0 },
		{ 0, MEM_PAGES * KiB4 + KiB4, 0, 0 },
		{ -KiB4, 2 * KiB4, 0, 0 },			/* gpa + size wraps */
		{ 0x1000, 0x7ffffffff000ULL, 0, 0 },
		{ 0, KiB4, PTE_P, 0 },				/* flags the builder owns */
		{ 0, KiB4, PTE_PS, 0 },
		{ 0, KiB4, PTE_A, 0 },
		{ 0, KiB4, PTE_D, 0 },
		{ 0, KiB4, PTE_PCD, 0 },
		{ 0, KiB4, PTE_PWT, 0 },
		{ 0, KiB4, 1ULL << 9, 0 },
		{ 0, KiB4, 1ULL << 12, 0 },
		{ 0, KiB4, 1ULL << 59, 0 },			/* a key smuggled in the flags */
		{ 0, KiB4, 1ULL << 52, 0 },
		{ 0, KiB4, 0, 16 },				/* no such key */
		{ 0, KiB4, 0, ~0U },
	};
	struct env e;
	uint64_t leaf;
	unsigned lvl;

	env_default(&e);
	for (size_t i = 0; i < sizeof(bad_range) / sizeof(bad_range[0]); i++) {
		e.pt.changed = false;
		ck_assert_msg(pkvm_pt_map(&e.pt, bad_range[i].gva, 0, bad_range[i].size, 0, 0) ==
			      -EINVAL, "range %zu", i);
		ck_assert_msg(!e.pt.changed, "range %zu", i);
		ck_assert_uint_eq(e.pt.pool_in_use, 1);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.pt.changed = false;
		ck_assert_msg(pkvm_pt_map(&e.pt, 0x400000, bad[i].gpa, bad[i].size, bad[i].flags,
					  bad[i].pkey) == -EINVAL, "case %zu", i);
		ck_assert_msg(!e.pt.changed, "case %zu", i);
		ck_assert_uint_eq(e.pt.pool_in_use, 1);
	}
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(((uint64_t *)(e.gmem.base + e.pt.root))[i], 0);

	/* The other entry points check the range the same way. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0, KiB4, PTE_U, 0), 0);
	for (size_t i = 0; i < sizeof(bad_range) / sizeof(bad_range[0]); i++) {
		uint64_t gva = bad_range[i].gva, size = bad_range[i].size;

		e.pt.changed = false;
		ck_assert_msg(pkvm_pt_unmap(&e.pt, gva, size, NULL, NULL) == -EINVAL, "range %zu", i);
		ck_assert_msg(pkvm_pt_protect(&e.pt, gva, size, 0) == -EINVAL, "range %zu", i);
		ck_assert_msg(pkvm_pt_set_pkey(&e.pt, gva, size, 0) == -EINVAL, "range %zu", i);
		ck_assert_msg(!e.pt.changed, "range %zu", i);
	}
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x400000, KiB4, PTE_P), -EINVAL);
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x400000, KiB4, PTE_U | PTE_PCD), -EINVAL);
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x400000, KiB4, 1ULL << 60), -EINVAL);
	ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, 0x400000, KiB4, 16), -EINVAL);
	expect_mapped(&e, 0x400000, 0, PTE_U, 0, 1);
	/* Lookup of a non-canonical address is simply "not mapped". */
	ck_assert_int_eq(pkvm_pt_lookup(&e.pt, 0x0000800000400000ULL, &leaf, &lvl), -ENOENT);
	env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Unmapping.                                                                 */

START_TEST(test_pt_unmap_whole)
{
	struct env e;
	struct rel_log log = { 0 };

	env_default(&e);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x40000000, 0x600000, 2 * MiB2 + 3 * KiB4, PTE_U, 1), 0);
	ck_assert_uint_eq(e.pt.pool_in_use, 4);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x40000000, 2 * MiB2 + 3 * KiB4, rel_cb, &log), 0);
	ck_assert(e.pt.changed);
	expect_range_unmapped(&e, 0x40000000, 2 * MiB2 + 3 * KiB4);
	expect_released(&log, 0x600000, 2 * MiB2 + 3 * KiB4);
	/* Two 2 MiB leaves and three 4 KiB ones, each reported once at its own size. */
	ck_assert_uint_eq(log.n, 5);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(((uint64_t *)(e.gmem.base + e.pt.root))[i], 0);

	/* The same range maps again, and release may be NULL. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x40000000, 0x600000, 2 * MiB2 + 3 * KiB4, PTE_U, 1), 0);
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x40000000, 2 * MiB2 + 3 * KiB4, NULL, NULL), 0);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_unmap_partial)
{
	struct env e;
	struct rel_log log = { 0 };
	const uint64_t gva = 0x7000000 - 8 * KiB4, gpa = 0x30000;

	env_default(&e);
	/* 40 pages straddling a PT boundary. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, gpa, 40 * KiB4, PTE_U | PTE_NX, 2), 0);
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva + 5 * KiB4, 10 * KiB4, rel_cb, &log), 0);
	expect_released(&log, gpa + 5 * KiB4, 10 * KiB4);
	expect_range_mapped(&e, gva, gpa, 5 * KiB4, PTE_U | PTE_NX, 2, 1);
	expect_range_unmapped(&e, gva + 5 * KiB4, 10 * KiB4);
	expect_range_mapped(&e, gva + 15 * KiB4, gpa + 15 * KiB4, 25 * KiB4, PTE_U | PTE_NX, 2, 1);
	/* The first PT is still in use (5 pages), the second too. */
	ck_assert_uint_eq(e.pt.pool_in_use, 5);
	/* Emptying the first PT returns it. */
	log.n = 0;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva, 5 * KiB4, rel_cb, &log), 0);
	expect_released(&log, gpa, 5 * KiB4);
	ck_assert_uint_eq(e.pt.pool_in_use, 4);
	/* The first page and the last. */
	log.n = 0;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva + 15 * KiB4, KiB4, rel_cb, &log), 0);
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva + 39 * KiB4, KiB4, rel_cb, &log), 0);
	ck_assert_uint_eq(log.n, 2);
	ck_assert_uint_eq(log.gpa[0], gpa + 15 * KiB4);
	ck_assert_uint_eq(log.gpa[1], gpa + 39 * KiB4);
	expect_range_mapped(&e, gva + 16 * KiB4, gpa + 16 * KiB4, 23 * KiB4, PTE_U | PTE_NX, 2, 1);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_unmap_split_huge)
{
	struct env e;
	struct rel_log log = { 0 };
	const uint64_t gva = 0x40200000, gpa = 0xa00000, flags = PTE_U | PTE_W | PTE_NX | PTE_G;

	env_default(&e);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, gva, gpa, 2 * MiB2, flags, 5), 0);
	ck_assert_uint_eq(e.pt.pool_in_use, 3);
	/* A page in the middle of the first 2 MiB page. */
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva + 0x37000, KiB4, rel_cb, &log), 0);
	ck_assert(e.pt.changed);
	expect_released(&log, gpa + 0x37000, KiB4);
	expect_range_mapped(&e, gva, gpa, 0x37000, flags, 5, 1);
	expect_unmapped(&e, gva + 0x37000);
	expect_range_mapped(&e, gva + 0x38000, gpa + 0x38000, MiB2 - 0x38000, flags, 5, 1);
	/* The second 2 MiB page is left as it was. */
	expect_range_mapped(&e, gva + MiB2, gpa + MiB2, MiB2, flags, 5, 2);
	ck_assert_uint_eq(e.pt.pool_in_use, 4);

	/* A range from inside the first (now split) across the head of the second. */
	log.n = 0;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva + MiB2 - 2 * KiB4, 4 * KiB4, rel_cb, &log), 0);
	expect_released(&log, gpa + MiB2 - 2 * KiB4, 4 * KiB4);
	expect_range_mapped(&e, gva + MiB2 + 2 * KiB4, gpa + MiB2 + 2 * KiB4, MiB2 - 2 * KiB4,
			    flags, 5, 1);
	ck_assert_uint_eq(e.pt.pool_in_use, 5);

	/* Everything, holes included: only what was still mapped is released, once. */
	log.n = 0;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gva - MiB2, 4 * MiB2, rel_cb, &log), 0);
	{
		size_t n;
		uint64_t *pages = rel_pages(&log, &n);

		ck_assert_uint_eq(n, 1024 - 1 - 4);
		for (size_t i = 1; i < n; i++)
			ck_assert_uint_gt(pages[i], pages[i - 1]);
		free(pages);
	}
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_unmap_holes)
{
	struct env e;
	struct rel_log log = { 0 };
	size_t n;
	uint64_t *pages;

	env_default(&e);
	/* Nothing mapped: fine, nothing released, nothing changed. */
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x400000, 64 * MiB2, rel_cb, &log), 0);
	ck_assert_uint_eq(log.n, 0);
	ck_assert(!e.pt.changed);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);

	/* Three islands, in different PTs, PDs and PML4 slots, gpas disjoint. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x401000, 0x100000, 3 * KiB4, PTE_U, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x600000, 0x200000, MiB2, PTE_U, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, GiB1 + 0x5000, 0x400000, 7 * KiB4, PTE_U, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 512 * GiB1 + 0x5000, 0x500000, KiB4, PTE_U, 0), 0);
	/* Root; PDPT, 2 PDs, 2 PTs below slot 0; PDPT, PD, PT below slot 1. */
	ck_assert_uint_eq(e.pt.pool_in_use, 1 + 5 + 3);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0, 512 * GiB1 + MiB2, rel_cb, &log), 0);
	ck_assert(e.pt.changed);
	pages = rel_pages(&log, &n);
	ck_assert_uint_eq(n, 3 + 512 + 7 + 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t p = pages[i];

		ck_assert(i == 0 || p > pages[i - 1]);
		ck_assert((p >= 0x100000 && p < 0x103000) || (p >= 0x200000 && p < 0x400000) ||
			  (p >= 0x400000 && p < 0x407000) || p == 0x500000);
	}
	free(pages);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_tables_return_to_pool)
{
	static const uint64_t gvas[] = {
		0x1000, 0x200000, 0x3ff000, GiB1 - KiB4, 0x7fffffe00000ULL, 0x7ffffffff000ULL,
		0x12345678000ULL, 0xffff800000000000ULL, 0xffffffff80000000ULL,
		0xffffffffffe00000ULL, 0xffffffffffffe000ULL,
	};
	struct env e;
	struct rel_log log = { 0 };

	env_default(&e);
	for (size_t i = 0; i < sizeof(gvas) / sizeof(gvas[0]); i++)
		ck_assert_int_eq(pkvm_pt_map(&e.pt, gvas[i], i * MiB2, KiB4, 0, 0), 0);
	/* Root; slot 0: PDPT, PD, 3 PTs; slots 2, 255, 256: 3 each; slot 511: PDPT, 2 PDs, 2 PTs. */
	ck_assert_uint_eq(e.pt.pool_in_use, 1 + 5 + 3 * 3 + 5);
	for (size_t i = 0; i < sizeof(gvas) / sizeof(gvas[0]); i++)
		expect_mapped(&e, gvas[i], i * MiB2, 0, 0, 1);
	/* Unmap in an order unlike the map order. */
	for (size_t k = 0; k < sizeof(gvas) / sizeof(gvas[0]); k++) {
		size_t i = (k * 5) % (sizeof(gvas) / sizeof(gvas[0]));

		log.n = 0;
		ck_assert_int_eq(pkvm_pt_unmap(&e.pt, gvas[i], KiB4, rel_cb, &log), 0);
		expect_released(&log, i * MiB2, KiB4);
		expect_unmapped(&e, gvas[i]);
	}
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(((uint64_t *)(e.gmem.base + e.pt.root))[i], 0);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Protect and set_pkey.                                                      */

START_TEST(test_pt_protect)
{
	struct env e;
	const uint64_t g4 = 0x500000, g2 = 0x800000;

	env_default(&e);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, g4, 0x10000, 10 * KiB4, PTE_U, 3), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, g2, 0x400000, 2 * MiB2, PTE_U | PTE_W, 6), 0);

	/* Full ranges: flags change, key, gpa and level stay. */
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, g4, 10 * KiB4, PTE_U | PTE_W | PTE_NX), 0);
	ck_assert(e.pt.changed);
	expect_range_mapped(&e, g4, 0x10000, 10 * KiB4, PTE_U | PTE_W | PTE_NX, 3, 1);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, g2, 2 * MiB2, PTE_G), 0);
	ck_assert(e.pt.changed);
	expect_range_mapped(&e, g2, 0x400000, 2 * MiB2, PTE_G, 6, 2);
	ck_assert_uint_eq(e.pt.pool_in_use, 4);

	/* Part of a 2 MiB page: it is split, the rest keeps its rights. */
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, g2 + MiB2 - 3 * KiB4, 6 * KiB4, PTE_U | PTE_NX), 0);
	expect_range_mapped(&e, g2, 0x400000, MiB2 - 3 * KiB4, PTE_G, 6, 1);
	expect_range_mapped(&e, g2 + MiB2 - 3 * KiB4, 0x400000 + MiB2 - 3 * KiB4, 6 * KiB4,
			    PTE_U | PTE_NX, 6, 1);
	expect_range_mapped(&e, g2 + MiB2 + 3 * KiB4, 0x400000 + MiB2 + 3 * KiB4,
			    MiB2 - 3 * KiB4, PTE_G, 6, 1);
	ck_assert_uint_eq(e.pt.pool_in_use, 6);

	/* A range that is partly unmapped: -ENOMEM and nothing changes. */
	static const struct { uint64_t gva, size; } holes[] = {
		{ g4 - KiB4, 2 * KiB4 }, { g4 + 9 * KiB4, 2 * KiB4 }, { g4, 11 * KiB4 },
		{ g4 + 10 * KiB4, KiB4 }, { g2 - KiB4, 2 * MiB2 }, { g2, 2 * MiB2 + KiB4 },
		{ g4, g2 + 2 * MiB2 - g4 }, { 0x7ffffffff000ULL, KiB4 }, { 0xffffffff80000000ULL, KiB4 },
	};
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		uint8_t *before = snapshot_pool(&e);

		e.pt.changed = false;
		ck_assert_msg(pkvm_pt_protect(&e.pt, holes[i].gva, holes[i].size, 0) == -ENOMEM,
			      "hole %zu", i);
		ck_assert_msg(pkvm_pt_set_pkey(&e.pt, holes[i].gva, holes[i].size, 1) == -ENOMEM,
			      "hole %zu", i);
		ck_assert(!e.pt.changed);
		expect_pool_equal(&e, before);
	}
	expect_range_mapped(&e, g4, 0x10000, 10 * KiB4, PTE_U | PTE_W | PTE_NX, 3, 1);

	/* Protecting the last user page. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x7ffffffff000ULL, 0, KiB4, PTE_U, 0), 0);
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x7ffffffff000ULL, KiB4, PTE_U | PTE_W), 0);
	expect_mapped(&e, 0x7ffffffff000ULL, 0, PTE_U | PTE_W, 0, 1);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_set_pkey)
{
	struct env e;
	const uint64_t g4 = 0x500000, g2 = 0x800000;

	env_default(&e);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, g4, 0x10000, 10 * KiB4, PTE_U | PTE_W, 3), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, g2, 0x400000, 2 * MiB2, PTE_U | PTE_NX, 6), 0);
	for (unsigned key = 0; key < PKVM_NR_PKEYS; key++) {
		e.pt.changed = false;
		ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, g4, 10 * KiB4, key), 0);
		ck_assert(e.pt.changed);
		expect_range_mapped(&e, g4, 0x10000, 10 * KiB4, PTE_U | PTE_W, key, 1);
		e.pt.changed = false;
		ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, g2, 2 * MiB2, 15 - key), 0);
		ck_assert(e.pt.changed);
		expect_range_mapped(&e, g2 + 0x3000, 0x403000, KiB4, PTE_U | PTE_NX, 15 - key, 2);
		expect_range_mapped(&e, g2 + MiB2 + 0x1ff000, 0x400000 + MiB2 + 0x1ff000, KiB4,
				    PTE_U | PTE_NX, 15 - key, 2);
	}
	/* 4 KiB in the middle of the second 2 MiB page. */
	ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, g2 + MiB2 + 0x10000, KiB4, 9), 0);
	expect_range_mapped(&e, g2, 0x400000, MiB2, PTE_U | PTE_NX, 0, 2);
	expect_range_mapped(&e, g2 + MiB2, 0x400000 + MiB2, 0x10000, PTE_U | PTE_NX, 0, 1);
	expect_mapped(&e, g2 + MiB2 + 0x10000, 0x400000 + MiB2 + 0x10000, PTE_U | PTE_NX, 9, 1);
	expect_range_mapped(&e, g2 + MiB2 + 0x11000, 0x400000 + MiB2 + 0x11000,
			    MiB2 - 0x11000, PTE_U | PTE_NX, 0, 1);
	/* A split page still unmaps as one range. */
	{
		struct rel_log log = { 0 };

		ck_assert_int_eq(pkvm_pt_unmap(&e.pt, g2, 2 * MiB2, rel_cb, &log), 0);
		expect_released(&log, 0x400000, 2 * MiB2);
		rel_free(&log);
	}
	env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Running out of table pages.                                                */

START_TEST(test_pt_pool_exhaustion_map)
{
	struct env e;

	/* Three pages: root, PDPT, PD; no PT left. */
	env_init(&e, 2048, 3);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0, KiB4, PTE_U, 0), -ENOMEM);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	expect_unmapped(&e, 0x400000);
	/* A 2 MiB leaf needs no PT. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0, MiB2, PTE_U, 0), 0);
	ck_assert_uint_eq(e.pt.pool_in_use, 3);
	expect_range_mapped(&e, 0x400000, 0, MiB2, PTE_U, 0, 2);
	/* Another 2 MiB leaf in the same PD is fine, one in another GiB is not. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x800000, MiB2, MiB2, PTE_U, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, GiB1 - MiB2, 2 * MiB2, 2 * MiB2, PTE_U, 0), -ENOMEM);
	/* The part that did fit was taken back, along with its tables. */
	expect_range_unmapped(&e, GiB1 - MiB2, 2 * MiB2);
	ck_assert_uint_eq(e.pt.pool_in_use, 3);
	expect_range_mapped(&e, 0x400000, 0, MiB2, PTE_U, 0, 2);
	expect_range_mapped(&e, 0x800000, MiB2, MiB2, PTE_U, 0, 2);
	env_fini(&e);

	/*
	 * Four pages: a 4 KiB range crossing a GiB boundary gets PDPT, PD, PT for
	 * its first half and fails for the second, after mapping 100 pages.
	 */
	env_init(&e, 2048, 4);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, GiB1 - 100 * KiB4, 0, 200 * KiB4, PTE_U, 1), -ENOMEM);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	expect_range_unmapped(&e, GiB1 - 100 * KiB4, 200 * KiB4);
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(((uint64_t *)(e.gmem.base + e.pt.root))[i], 0);
	/* And the pool is whole again: the first half alone maps. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, GiB1 - 100 * KiB4, 0, 100 * KiB4, PTE_U, 1), 0);
	ck_assert_uint_eq(e.pt.pool_in_use, 4);
	env_fini(&e);

	/* A one-page pool: nothing at all can be mapped. */
	env_init(&e, 2048, 1);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0, MiB2, PTE_U, 0), -ENOMEM);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0xffffffff80000000ULL, 0, KiB4, 0, 0), -ENOMEM);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_pool_exhaustion_split)
{
	struct env e;
	struct rel_log log = { 0 };
	uint8_t *before;

	/* Root, PDPT, PD: a 2 MiB leaf fits, its split does not. */
	env_init(&e, 2048, 3);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0x200000, MiB2, PTE_U, 2), 0);
	before = snapshot_pool(&e);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x401000, KiB4, rel_cb, &log), -ENOMEM);
	ck_assert_uint_eq(log.n, 0);
	ck_assert(!e.pt.changed);
	expect_pool_equal(&e, before);
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x401000, KiB4, 0), -ENOMEM);
	ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, 0x401000, KiB4, 3), -ENOMEM);
	expect_range_mapped(&e, 0x400000, 0x200000, MiB2, PTE_U, 2, 2);
	/* Whole 2 MiB pages need no split. */
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x400000, MiB2, PTE_W), 0);
	ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, 0x400000, MiB2, 3), 0);
	expect_range_mapped(&e, 0x400000, 0x200000, MiB2, PTE_W, 3, 2);
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x400000, MiB2, rel_cb, &log), 0);
	expect_released(&log, 0x200000, MiB2);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

/*
 * Root, PDPT, PD and one PT, all in use: 4 KiB pages at 0x3fe000 and a 2 MiB
 * leaf right after them at 0x400000.  A range from the 4 KiB pages into the
 * 2 MiB leaf needs a split after it has already dealt with the 4 KiB pages.
 */
static void late_split_env(struct env *e)
{
	env_init(e, 2048, 4);
	ck_assert_int_eq(pkvm_pt_map(&e->pt, 0x3fe000, 0x100000, 2 * KiB4, PTE_U, 1), 0);
	ck_assert_int_eq(pkvm_pt_map(&e->pt, 0x400000, 0x200000, MiB2, PTE_U, 2), 0);
	ck_assert_uint_eq(e->pt.pool_in_use, 4);
}

/*
 * pagetable.h: unmap "only fails (-ENOMEM) when splitting a 2 MiB page needs a
 * table page and the pool is empty; nothing is removed then".
 */
START_TEST(test_pt_pool_exhaustion_unmap_late)
{
	struct env e;
	struct rel_log log = { 0 };
	uint8_t *before;
	int err;

	late_split_env(&e);
	before = snapshot_pool(&e);
	e.pt.changed = false;
	err = pkvm_pt_unmap(&e.pt, 0x3ff000, 2 * KiB4, rel_cb, &log);
	if (err == 0) {
		/* Succeeding would be fine too (a split first, say). */
		expect_unmapped(&e, 0x3ff000);
		expect_unmapped(&e, 0x400000);
		expect_mapped(&e, 0x3fe000, 0x100000, PTE_U, 1, 1);
		expect_range_mapped(&e, 0x401000, 0x201000, MiB2 - KiB4, PTE_U, 2, 1);
		ck_assert_uint_eq(log.n, 2);
		ck_assert_uint_eq(log.gpa[0], 0x101000);
		ck_assert_uint_eq(log.gpa[1], 0x200000);
		free(before);
	} else {
		ck_assert_int_eq(err, -ENOMEM);
		ck_assert_msg(log.n == 0, "unmap 0x3ff000+0x2000 failed with -ENOMEM but released "
			      "%zu range(s), first gpa %#" PRIx64, log.n, log.gpa[0]);
		expect_mapped(&e, 0x3ff000, 0x101000, PTE_U, 1, 1);
		ck_assert(!e.pt.changed);
		expect_pool_equal(&e, before);
	}
	rel_free(&log);
	env_fini(&e);
}
END_TEST

/* The same for protect and set_pkey: an error must leave nothing half done. */
START_TEST(test_pt_pool_exhaustion_modify_late)
{
	for (int kind = 0; kind < 2; kind++) {
		struct env e;
		uint8_t *before;
		uint64_t leaf;
		unsigned lvl;
		int err;

		late_split_env(&e);
		before = snapshot_pool(&e);
		e.pt.changed = false;
		if (kind == 0)
			err = pkvm_pt_protect(&e.pt, 0x3fe000, 3 * KiB4, PTE_U | PTE_W);
		else
			err = pkvm_pt_set_pkey(&e.pt, 0x3fe000, 3 * KiB4, 7);
		if (err == 0) {
			expect_range_mapped(&e, 0x3fe000, 0x100000, 2 * KiB4, kind ? PTE_U : PTE_U | PTE_W,
					    kind ? 7 : 1, 1);
			expect_mapped(&e, 0x400000, 0x200000, kind ? PTE_U : PTE_U | PTE_W,
				      kind ? 7 : 2, 1);
			expect_mapped(&e, 0x401000, 0x201000, PTE_U, 2, 1);
			free(before);
		} else {
			ck_assert_int_eq(err, -ENOMEM);
			ck_assert_int_eq(pkvm_pt_lookup(&e.pt, 0x3fe000, &leaf, &lvl), 0);
			ck_assert_msg(!e.pt.changed && memcmp(before, e.gmem.base + e.pool_gpa,
							       e.gmem.size - e.pool_gpa) == 0,
				      "%s 0x3fe000+0x3000 failed with -ENOMEM but changed the "
				      "tables: leaf of 0x3fe000 is now %#" PRIx64,
				      kind ? "set_pkey" : "protect", leaf);
			free(before);
		}
		env_fini(&e);
	}
}
END_TEST

/* ------------------------------------------------------------------------- */
/* pt->changed and the upper half.                                            */

START_TEST(test_pt_changed)
{
	struct env e;

	env_default(&e);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0, MiB2, PTE_U, 0), 0);
	ck_assert(e.pt.changed);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0x400000, 0, KiB4, PTE_U, 0), -EEXIST);
	ck_assert(!e.pt.changed);
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x400000, 2 * MiB2, 0), -ENOMEM);
	ck_assert(!e.pt.changed);
	ck_assert_int_eq(pkvm_pt_protect(&e.pt, 0x400000, MiB2, PTE_U), 0);
	ck_assert(e.pt.changed);	/* even to the same rights: the caller cannot tell */
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, 0x400000, KiB4, 2), 0);
	ck_assert(e.pt.changed);
	e.pt.changed = false;
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x800000, KiB4, NULL, NULL), 0);
	ck_assert(!e.pt.changed);
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0x5ff000, KiB4, NULL, NULL), 0);
	ck_assert(e.pt.changed);
	env_fini(&e);
}
END_TEST

START_TEST(test_pt_upper_half)
{
	struct env e;
	struct pkvm_walk w;
	struct rel_log log = { 0 };
	const uint64_t k = 0xffffffff80000000ULL;

	env_default(&e);
	/* Supervisor text, data and a 2 MiB page, like a kernel image. */
	ck_assert_int_eq(pkvm_pt_map(&e.pt, k + 0x1000, 0x1000, 3 * KiB4, PTE_G, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, k + 0x4000, 0x4000, 2 * KiB4, PTE_W | PTE_NX | PTE_G, 0),
			 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, k + MiB2, 0x600000, MiB2, PTE_W | PTE_NX, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0xffffffffffffe000ULL, 0x9000, KiB4, PTE_W, 0), 0);
	ck_assert_int_eq(pkvm_pt_map(&e.pt, 0xffff800000000000ULL, 0xa000, KiB4, 0, 0), 0);
	expect_range_mapped(&e, k + 0x1000, 0x1000, 3 * KiB4, PTE_G, 0, 1);
	expect_range_mapped(&e, k + 0x4000, 0x4000, 2 * KiB4, PTE_W | PTE_NX | PTE_G, 0, 1);
	expect_range_mapped(&e, k + MiB2, 0x600000, MiB2, PTE_W | PTE_NX, 0, 2);
	expect_mapped(&e, 0xffffffffffffe000ULL, 0x9000, PTE_W, 0, 1);
	expect_mapped(&e, 0xffff800000000000ULL, 0xa000, 0, 0, 1);
	expect_unmapped(&e, k);
	expect_unmapped(&e, 0xfffffffffffff000ULL);
	/* The same indices in the lower half are untouched. */
	expect_unmapped(&e, 0x7fff80001000ULL);
	expect_unmapped(&e, 0);

	/* CPL3 cannot touch them; CPL0 can fetch the text and write the data. */
	ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, k + 0x1000, PKVM_ACC_USER, 0, &w), -EFAULT);
	ck_assert_uint_eq(w.pfec, PFEC_P | PFEC_U);
	ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, k + 0x1000, PKVM_ACC_FETCH, 0, &w), 0);
	ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, k + 0x4000, PKVM_ACC_FETCH, 0, &w), -EFAULT);
	ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, k + 0x4000, PKVM_ACC_WRITE, 0, &w), 0);
	ck_assert_int_eq(pkvm_walk(&e.wctx, e.pt.root, k + 0x1000, PKVM_ACC_WRITE, 0, &w), -EFAULT);

	ck_assert_int_eq(pkvm_pt_protect(&e.pt, k + 0x1000, 3 * KiB4, PTE_W), 0);
	expect_range_mapped(&e, k + 0x1000, 0x1000, 3 * KiB4, PTE_W, 0, 1);
	ck_assert_int_eq(pkvm_pt_set_pkey(&e.pt, k + MiB2 + KiB4, KiB4, 4), 0);
	expect_mapped(&e, k + MiB2 + KiB4, 0x601000, PTE_W | PTE_NX, 4, 1);
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, 0xffff800000000000ULL, 0x7ffffffff000ULL, rel_cb,
				       &log), 0);
	{
		size_t n;
		uint64_t *pages = rel_pages(&log, &n);

		ck_assert_uint_eq(n, 3 + 2 + 512 + 1 + 1);
		free(pages);
	}
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Random operations against a reference model.                               */

/*
 * A 12 MiB window of six 2 MiB blocks, three each side of the 1 GiB line, so
 * that operations cross PT and PD boundaries and can make and split 2 MiB
 * leaves.
 */
#define WIN_BASE	(GiB1 - 3 * MiB2)
#define WIN_BLOCKS	6
#define WIN_PAGES	(WIN_BLOCKS * 512)
#define GPA_LIMIT	(12 * MiB2)		/* gpas drawn below this, clear of the pool */
#define RANDOM_OPS	3000

struct model_page {
	bool mapped;
	uint64_t gpa, flags;
	unsigned pkey;
};

struct model {
	struct model_page page[WIN_PAGES];
	bool huge[WIN_BLOCKS];		/* block mapped by one 2 MiB leaf */
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rng_below(uint64_t n)
{
	return rng() % n;
}

static uint64_t rng_flags(void)
{
	uint64_t r = rng();

	return (r & 1 ? PTE_W : 0) | (r & 2 ? PTE_U : 0) | (r & 4 ? PTE_NX : 0) | (r & 8 ? PTE_G : 0);
}

/* A range of pages [*first, *first + *count) inside the window. */
static void rng_range(unsigned *first, unsigned *count)
{
	uint64_t r = rng_below(10);

	if (r < 4) {
		*count = 1 + rng_below(16);
		*first = rng_below(WIN_PAGES - *count + 1);
	} else if (r < 6) {
		/* Block-aligned, often whole blocks. */
		unsigned blocks = 1 + rng_below(2);

		*first = rng_below(WIN_BLOCKS - blocks + 1) * 512;
		*count = blocks * 512 + (rng_below(3) == 0 ? rng_below(20) : 0);
		if (*first + *count > WIN_PAGES)
			*count = WIN_PAGES - *first;
	} else if (r < 9) {
		*count = 1 + rng_below(700);
		*first = rng_below(WIN_PAGES - *count + 1);
	} else {
		*first = 0;
		*count = WIN_PAGES;
	}
}

/* Blocks touched but not covered by [first, first + count) lose their 2 MiB leaf. */
static void model_split_edges(struct model *m, unsigned first, unsigned count)
{
	for (unsigned b = first / 512; b <= (first + count - 1) / 512; b++)
		if (first > b * 512 || first + count < (b + 1) * 512)
			m->huge[b] = false;
}

static bool model_any(const struct model *m, unsigned first, unsigned count, bool mapped)
{
	for (unsigned i = first; i < first + count; i++)
		if (m->page[i].mapped == mapped)
			return true;
	return false;
}

/* Root, plus one PDPT, the PDs and the PTs the model's mappings need. */
static uint64_t model_tables(const struct model *m)
{
	uint64_t n = 1;
	bool pd[2] = { false, false };

	for (unsigned b = 0; b < WIN_BLOCKS; b++) {
		if (!model_any(m, b * 512, 512, true))
			continue;
		pd[b >= WIN_BLOCKS / 2] = true;
		if (!m->huge[b])
			n++;
	}
	n += pd[0] + pd[1];
	return n + (pd[0] || pd[1]);
}

static void model_check(const struct env *e, const struct model *m, unsigned step)
{
	for (unsigned i = 0; i < WIN_PAGES; i++) {
		const struct model_page *p = &m->page[i];
		uint64_t gva = WIN_BASE + i * KiB4;

		if (p->mapped)
			expect_mapped(e, gva, p->gpa, p->flags, p->pkey, m->huge[i / 512] ? 2 : 1);
		else
			expect_unmapped(e, gva);
	}
	EXPECT(e->pt.pool_in_use == model_tables(m), "step %u: %" PRIu64 " tables in use, model "
	       "says %" PRIu64, step, e->pt.pool_in_use, model_tables(m));
}

START_TEST(test_pt_random)
{
	struct env e;
	struct model *m = calloc(1, sizeof(*m));
	struct rel_log log = { 0 };
	uint64_t *expect = malloc(WIN_PAGES * sizeof(*expect));
	unsigned nmap = 0, nunmap = 0, nprot = 0, nkey = 0, nfail = 0, nhuge = 0;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(expect);
	env_default(&e);
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (unsigned step = 0; step < RANDOM_OPS; step++) {
		unsigned first, count, op = rng_below(10);
		uint64_t gva, size;
		bool changed = false;
		int err, want;

		rng_range(&first, &count);
		gva = WIN_BASE + first * KiB4;
		size = count * KiB4;
		e.pt.changed = false;
		if (op < 4) {
			/* Map: a gpa congruent mod 2 MiB half the time, so that 2 MiB leaves appear. */
			uint64_t flags = rng_flags(), gpa;
			unsigned pkey = rng_below(16);
			bool huge_ok = rng_below(8) != 0;

			gpa = rng_below(GPA_LIMIT / MiB2) * MiB2 + (gva & (MiB2 - 1));
			if (rng_below(2) || gpa + size > GPA_LIMIT)
				gpa = rng_below((GPA_LIMIT - size) / KiB4 + 1) * KiB4;
			want = model_any(m, first, count, true) ? -EEXIST : 0;
			e.pt.allow_huge = huge_ok;
			err = pkvm_pt_map(&e.pt, gva, gpa, size, flags, pkey);
			e.pt.allow_huge = true;
			EXPECT(err == want, "step %u: map %#" PRIx64 "+%#" PRIx64 " -> %#" PRIx64
			       ": %d, expected %d", step, gva, size, gpa, err, want);
			if (!want) {
				for (unsigned i = 0; i < count; i++)
					m->page[first + i] = (struct model_page){
						true, gpa + i * KiB4, flags, pkey };
				for (unsigned b = first / 512; b <= (first + count - 1) / 512; b++)
					if (first <= b * 512 && first + count >= (b + 1) * 512 &&
					    huge_ok && (gpa + (b * 512 - first) * KiB4) % MiB2 == 0)
						m->huge[b] = true;
				changed = true;
				nmap++;
			} else {
				nfail++;
			}
		} else if (op < 7) {
			size_t n = 0, got;
			uint64_t *pages;

			for (unsigned i = first; i < first + count; i++)
				if (m->page[i].mapped)
					expect[n++] = m->page[i].gpa;
			qsort(expect, n, sizeof(*expect), cmp_u64);
			log.n = 0;
			err = pkvm_pt_unmap(&e.pt, gva, size, rel_cb, &log);
			EXPECT(err == 0, "step %u: unmap %#" PRIx64 "+%#" PRIx64 ": %d", step, gva,
			       size, err);
			pages = rel_pages(&log, &got);
			EXPECT(got == n, "step %u: unmap %#" PRIx64 "+%#" PRIx64 " released %zu "
			       "pages, expected %zu", step, gva, size, got, n);
			for (size_t i = 0; i < n; i++)
				EXPECT(pages[i] == expect[i], "step %u: released page %zu is %#"
				       PRIx64 ", expected %#" PRIx64, step, i, pages[i], expect[i]);
			free(pages);
			changed = n > 0;
			model_split_edges(m, first, count);
			for (unsigned i = first; i < first + count; i++)
				m->page[i].mapped = false;
			for (unsigned b = 0; b < WIN_BLOCKS; b++)
				if (!model_any(m, b * 512, 512, true))
					m->huge[b] = false;
			nunmap++;
		} else {
			bool prot = op < 9;
			uint64_t flags = rng_flags();
			unsigned pkey = rng_below(16);

			want = model_any(m, first, count, false) ? -ENOMEM : 0;
			err = prot ? pkvm_pt_protect(&e.pt, gva, size, flags)
				   : pkvm_pt_set_pkey(&e.pt, gva, size, pkey);
			EXPECT(err == want, "step %u: %s %#" PRIx64 "+%#" PRIx64 ": %d, expected %d",
			       step, prot ? "protect" : "set_pkey", gva, size, err, want);
			if (!want) {
				model_split_edges(m, first, count);
				for (unsigned i = first; i < first + count; i++) {
					if (prot)
						m->page[i].flags = flags;
					else
						m->page[i].pkey = pkey;
				}
				changed = true;
				if (prot)
					nprot++;
				else
					nkey++;
			} else {
				nfail++;
			}
		}
		EXPECT(e.pt.changed == changed, "step %u: changed %d, expected %d", step,
		       e.pt.changed, changed);
		model_check(&e, m, step);
		for (unsigned b = 0; b < WIN_BLOCKS; b++)
			nhuge += m->huge[b];
	}
	/* Every kind of operation happened, and so did refusals and 2 MiB leaves. */
	ck_assert_uint_gt(nmap, 200);
	ck_assert_uint_gt(nunmap, 200);
	ck_assert_uint_gt(nprot, 50);
	ck_assert_uint_gt(nkey, 30);
	ck_assert_uint_gt(nfail, 200);
	ck_assert_uint_gt(nhuge, 500);

	/* Clearing the window gives every table back. */
	ck_assert_int_eq(pkvm_pt_unmap(&e.pt, WIN_BASE, WIN_PAGES * KiB4, NULL, NULL), 0);
	ck_assert_uint_eq(e.pt.pool_in_use, 1);
	free(expect);
	free(m);
	rel_free(&log);
	env_fini(&e);
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *pagetable_suite(void)
{
	Suite *s = suite_create("pagetable");
	TCase *tc;

	tc = tcase_create("map");
	tcase_add_test(tc, test_pt_init);
	tcase_add_test(tc, test_pt_map_4k);
	tcase_add_test(tc, test_pt_map_huge);
	tcase_add_test(tc, test_pt_map_flags_pkey);
	tcase_add_test(tc, test_pt_map_eexist);
	tcase_add_test(tc, test_pt_map_einval);
	suite_add_tcase(s, tc);

	tc = tcase_create("unmap");
	tcase_add_test(tc, test_pt_unmap_whole);
	tcase_add_test(tc, test_pt_unmap_partial);
	tcase_add_test(tc, test_pt_unmap_split_huge);
	tcase_add_test(tc, test_pt_unmap_holes);
	tcase_add_test(tc, test_pt_tables_return_to_pool);
	suite_add_tcase(s, tc);

	tc = tcase_create("modify");
	tcase_add_test(tc, test_pt_protect);
	tcase_add_test(tc, test_pt_set_pkey);
	tcase_add_test(tc, test_pt_changed);
	tcase_add_test(tc, test_pt_upper_half);
	suite_add_tcase(s, tc);

	tc = tcase_create("pool");
	tcase_add_test(tc, test_pt_pool_exhaustion_map);
	tcase_add_test(tc, test_pt_pool_exhaustion_split);
	tcase_add_test(tc, test_pt_pool_exhaustion_unmap_late);
	tcase_add_test(tc, test_pt_pool_exhaustion_modify_late);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);	/* about a second at -O2; room for sanitizer builds */
	tcase_add_test(tc, test_pt_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pagetable_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
