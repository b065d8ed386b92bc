/* test_walk.c: the software page walker against an oracle written from docs/protection-keys.md (SDM vol. 3A §4.5-4.7). */
/*
 * The expected results here are derived only from docs/protection-keys.md and the
 * SDM's tables of paging-structure formats, never from lib/walk.c: the point is
 * an independent oracle.  Guest memory is fenced by PROT_NONE guard pages so
 * that a walker reading outside it crashes the (forked) test instead of
 * passing by luck.
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
#include <unistd.h>

#include "pkeys.h"
#include "walk.h"
#include "x86.h"

/* ------------------------------------------------------------------------- */
/* Fake guest memory with guard pages on both sides.                          */

struct fake_mem {
	struct pkvm_gmem gmem;
	uint8_t *map;
	size_t map_len;
};

static void fake_mem_init(struct fake_mem *fm, size_t npages)
{
	size_t len = (npages + 2) * PAGE_SIZE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(mprotect(p, PAGE_SIZE, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(p + (npages + 1) * PAGE_SIZE, PAGE_SIZE, PROT_NONE), 0);
	fm->map = p;
	fm->map_len = len;
	fm->gmem.base = p + PAGE_SIZE;
	fm->gmem.size = npages * PAGE_SIZE;
}

/*
 * Guest memory of @size bytes, not a whole number of pages: it ends (to the
 * next multiple of 8, keeping base aligned) just before the trailing guard.
 */
static void fake_mem_init_bytes(struct fake_mem *fm, uint64_t size)
{
	size_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;

	fake_mem_init(fm, npages);
	fm->gmem.base += (npages * PAGE_SIZE - size) & ~7ULL;
	fm->gmem.size = size;
}

static void fake_mem_fini(struct fake_mem *fm)
{
	munmap(fm->map, fm->map_len);
}

static void put_entry(struct fake_mem *fm, uint64_t table, unsigned index, uint64_t e)
{
	ck_assert_uint_lt(index, 512);
	ck_assert_uint_le(table + 8 * index + 8, fm->gmem.size);
	memcpy(fm->gmem.base + table + 8 * index, &e, sizeof(e));
}

static uint64_t get_entry(const struct fake_mem *fm, uint64_t table, unsigned index)
{
	uint64_t e;

	memcpy(&e, fm->gmem.base + table + 8 * index, sizeof(e));
	return e;
}

/* A gva from its four table indices and page offset, sign-extended from bit 47. */
static uint64_t gva_make(unsigned i4, unsigned i3, unsigned i2, unsigned i1, uint64_t off)
{
	uint64_t v = (uint64_t)i4 << 39 | (uint64_t)i3 << 30 | (uint64_t)i2 << 21 |
		     (uint64_t)i1 << 12 | off;

	if (v & (1ULL << 47))
		v |= 0xffff000000000000ULL;
	return v;
}

/* ------------------------------------------------------------------------- */
/* Modes and accesses.                                                        */

enum { M_WP = 1, M_SMEP = 2, M_SMAP = 4, M_PKE = 8, M_NXE = 16, NR_MODES = 32 };

static struct pkvm_mmu_mode mode_of(unsigned m)
{
	return (struct pkvm_mmu_mode){
		.wp = m & M_WP, .smep = m & M_SMEP, .smap = m & M_SMAP,
		.pke = m & M_PKE, .nxe = m & M_NXE,
	};
}

static void mode_str(unsigned m, char *buf, size_t len)
{
	snprintf(buf, len, "WP=%u SMEP=%u SMAP=%u PKE=%u NXE=%u", !!(m & M_WP), !!(m & M_SMEP),
		 !!(m & M_SMAP), !!(m & M_PKE), !!(m & M_NXE));
}

/* The eight architecturally distinct accesses. */
static const unsigned accesses[] = {
	PKVM_ACC_USER,					/* user read */
	PKVM_ACC_USER | PKVM_ACC_WRITE,			/* user write */
	PKVM_ACC_USER | PKVM_ACC_FETCH,			/* user fetch */
	0,						/* supervisor read (implicit or AC=0) */
	PKVM_ACC_SMAP_EXEMPT,				/* supervisor read, explicit, AC=1 */
	PKVM_ACC_WRITE,					/* supervisor write (implicit or AC=0) */
	PKVM_ACC_WRITE | PKVM_ACC_SMAP_EXEMPT,		/* supervisor write, explicit, AC=1 */
	PKVM_ACC_FETCH,					/* supervisor fetch */
};
#define NR_ACCESSES (sizeof(accesses) / sizeof(accesses[0]))

static const char *access_str(unsigned a)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s %s%s", a & PKVM_ACC_USER ? "user" : "supervisor",
		 a & PKVM_ACC_FETCH ? "fetch" : a & PKVM_ACC_WRITE ? "write" : "read",
		 a & PKVM_ACC_SMAP_EXEMPT ? " (explicit, AC=1)" : "");
	return buf;
}

/* ------------------------------------------------------------------------- */
/* The oracle: docs/protection-keys.md "The full permission check" and "What ends a walk, and the error code". */

/* Error-code bits that describe the access itself (docs/protection-keys.md, bits 1, 2, 4). */
static uint32_t oracle_access_bits(unsigned acc, unsigned m)
{
	uint32_t e = 0;

	if ((acc & PKVM_ACC_WRITE) && !(acc & PKVM_ACC_FETCH))
		e |= PFEC_W;
	if (acc & PKVM_ACC_USER)
		e |= PFEC_U;
	/* I/D: "reported when EFER.NXE=1 or CR4.SMEP=1" */
	if ((acc & PKVM_ACC_FETCH) && (m & (M_NXE | M_SMEP)))
		e |= PFEC_I;
	return e;
}

/* Do the page's rights (table rows, ignoring keys) deny the access? */
static bool oracle_rights_deny(unsigned acc, bool w, bool u, bool x, unsigned m)
{
	bool user = acc & PKVM_ACC_USER, write = acc & PKVM_ACC_WRITE;
	bool fetch = acc & PKVM_ACC_FETCH, ac = acc & PKVM_ACC_SMAP_EXEMPT;
	bool exec = !(m & M_NXE) || x;	/* "Executable: with EFER.NXE=1, XD=0 in every entry" */

	if (fetch) {
		if (user)			/* user fetch */
			return !u || !exec;
		if (u && (m & M_SMEP))		/* supervisor fetch, user address, SMEP=1 */
			return true;
		return !exec;
	}
	if (user)				/* user read / write */
		return !u || (write && !w);
	/* supervisor read / write */
	if (u && (m & M_SMAP) && !ac)
		return true;
	if (write && (m & M_WP) && !w)
		return true;
	return false;
}

/* Does the key deny the access ("When protection keys apply")? */
static bool oracle_pk_deny(unsigned acc, bool u, unsigned key, uint32_t pkru, unsigned m)
{
	bool user = acc & PKVM_ACC_USER, write = acc & PKVM_ACC_WRITE;
	bool ad = pkru >> (2 * key) & 1, wd = pkru >> (2 * key + 1) & 1;

	if (!(m & M_PKE) || (acc & PKVM_ACC_FETCH) || !u)
		return false;
	if (ad)
		return true;
	return write && wd && (user || (m & M_WP));
}

/* The pfec of a permission check that reached the leaf, 0 if allowed. */
static uint32_t oracle_perm(unsigned acc, bool w, bool u, bool x, unsigned key, uint32_t pkru,
			    unsigned m)
{
	bool rights = oracle_rights_deny(acc, w, u, x, m);
	bool pk = oracle_pk_deny(acc, u, key, pkru, m);

	if (!rights && !pk)
		return 0;
	return PFEC_P | oracle_access_bits(acc, m) | (pk ? PFEC_PK : 0);
}

/* ------------------------------------------------------------------------- */
/* Fixed layout for the tables of the exhaustive test.                        */

#define MAXPHY		40
#define T4		0x1000ULL	/* PML4 */
#define T3		0x2000ULL	/* PDPT */
#define T2		0x3000ULL	/* PD */
#define T1		0x4000ULL	/* PT */
#define LEAF_4K		0x00f00badc000ULL	/* all within MAXPHY=40, none in memory */
#define LEAF_2M		0x00abcde00000ULL
#define LEAF_1G		0x005540000000ULL
#define JUNK_KEY	0xaULL
/* Bits the SDM calls "ignored": a walker must not read them as anything. */
#define IGN_NONLEAF	((1ULL << 6) | (0xfULL << 8) | (0x7fULL << 52) | (JUNK_KEY << 59))
#define IGN_LEAF	(PTE_D | PTE_G | (0x7ULL << 9) | (0x7fULL << 52))
#define NR_MEM_PAGES	8

/* Indices chosen non-zero and distinct at every level, upper half of the address space. */
#define I4 0x1a5
#define I3 0x0c3
#define I2 0x1f0
#define I1 0x04b
#define OFF 0x9ab

static const uint64_t table_of[5] = { 0, T1, T2, T3, T4 };
static const unsigned index_of[5] = { 0, I1, I2, I3, I4 };

struct wcase {
	unsigned leaf_level;	/* 1, 2 or 3 */
	unsigned np_level;	/* 0: all present; else the level whose entry has P=0 */
	bool w[5], u[5], xd[5];	/* per level, [leaf_level..4] used */
	unsigned key;
	unsigned acc;
	unsigned mode;
	uint32_t pkru;
	uint64_t gva;
};

struct expect {
	int ret;
	uint32_t pfec;
	uint64_t gpa;
	bool reached_leaf;	/* permission check ran: leaf/level/pkey/pte_acc are defined */
	unsigned pte_acc;
};

static uint64_t leaf_base(unsigned level)
{
	return level == 1 ? LEAF_4K : level == 2 ? LEAF_2M : LEAF_1G;
}

static uint64_t page_mask(unsigned level)
{
	return level == 1 ? PAGE_SIZE - 1 : level == 2 ? HPAGE_SIZE - 1 : GPAGE_SIZE - 1;
}

static uint64_t build_entry(const struct wcase *c, unsigned level)
{
	uint64_t e = PTE_A;

	if (c->np_level != level)
		e |= PTE_P;
	if (c->w[level])
		e |= PTE_W;
	if (c->u[level])
		e |= PTE_U;
	if (c->xd[level])
		e |= PTE_NX;
	if (level == c->leaf_level) {
		e |= leaf_base(level) | IGN_LEAF | (uint64_t)c->key << PTE_PKEY_SHIFT;
		/* In a PTE bit 7 is PAT; in a large leaf it is PS and bit 12 is PAT. */
		e |= level == 1 ? PTE_PS : PTE_PS | PTE_PAT_LARGE;
	} else {
		e |= table_of[level - 1] | IGN_NONLEAF;
	}
	return e;
}

static struct expect oracle_walk(const struct wcase *c)
{
	struct expect x = { .ret = -EFAULT };
	bool w = true, u = true, xe = true;

	for (unsigned l = 4; l >= c->leaf_level; l--) {
		if (c->np_level == l) {
			x.pfec = oracle_access_bits(c->acc, c->mode);
			return x;
		}
		if (c->xd[l] && !(c->mode & M_NXE)) {	/* XD is reserved with NXE=0 */
			x.pfec = PFEC_P | PFEC_RSVD | oracle_access_bits(c->acc, c->mode);
			return x;
		}
		w &= c->w[l];
		u &= c->u[l];
		xe &= !c->xd[l];
	}
	x.reached_leaf = true;
	x.pte_acc = (xe ? PKVM_PTE_ACC_X : 0) | (w ? PKVM_PTE_ACC_W : 0) | (u ? PKVM_PTE_ACC_U : 0);
	x.pfec = oracle_perm(c->acc, w, u, xe, c->key, c->pkru, c->mode);
	if (!x.pfec) {
		x.ret = 0;
		x.gpa = leaf_base(c->leaf_level) | (c->gva & page_mask(c->leaf_level));
	}
	return x;
}

static void print_case(const struct wcase *c, const struct expect *x, int ret,
		       const struct pkvm_walk *w)
{
	char ms[80];

	mode_str(c->mode, ms, sizeof(ms));
	fprintf(stderr, "MISMATCH: leaf level %u, not-present level %u, key %u, pkru %#010x, %s, %s\n",
		c->leaf_level, c->np_level, c->key, c->pkru, ms, access_str(c->acc));
	for (unsigned l = 4; l >= c->leaf_level; l--)
		fprintf(stderr, "  level %u: R/W=%u U/S=%u XD=%u\n", l, c->w[l], c->u[l], c->xd[l]);
	fprintf(stderr, "  expected ret %d pfec %#x gpa %#" PRIx64 "%s; got ret %d pfec %#x gpa %#"
		PRIx64 " pkey %u level %u pte_acc %#x\n",
		x->ret, x->pfec, x->gpa, x->reached_leaf ? " (leaf reached)" : "", ret, w->pfec,
		w->gpa, w->pkey, w->level, w->pte_acc);
}

struct exhaustive {
	struct fake_mem fm;
	struct pkvm_walk_ctx ctx[NR_MODES];
	struct pkvm_walk_ctx ctx_gb[NR_MODES];
	unsigned long walks, mismatches;
};

static void check_one(struct exhaustive *ex, const struct wcase *c)
{
	const struct pkvm_walk_ctx *ctx = c->leaf_level == 3 ? &ex->ctx_gb[c->mode] : &ex->ctx[c->mode];
	struct expect x = oracle_walk(c);
	struct pkvm_walk w;
	bool bad;
	int ret;

	memset(&w, 0xa5, sizeof(w));
	ret = pkvm_walk(ctx, T4, c->gva, c->acc, c->pkru, &w);
	ex->walks++;
	bad = ret != x.ret;
	if (!bad && ret == -EFAULT)
		bad = w.pfec != x.pfec;
	if (!bad && ret == 0)
		bad = w.gpa != x.gpa;
	if (!bad && x.reached_leaf)
		bad = w.pkey != c->key || w.level != c->leaf_level || w.pte_acc != x.pte_acc ||
		      w.leaf != get_entry(&ex->fm, table_of[c->leaf_level], index_of[c->leaf_level]);
	if (bad && ex->mismatches++ < 8)
		print_case(c, &x, ret, &w);
}

/* Every mode × access × PKRU(key) for one set of tables. */
static void run_tables(struct exhaustive *ex, struct wcase *c, bool all_pkru)
{
	/* Every other key fully denied: a walker that looks at the wrong key faults. */
	uint32_t others = ~(3U << (2 * c->key));

	for (unsigned m = 0; m < NR_MODES; m++) {
		c->mode = m;
		for (unsigned a = 0; a < NR_ACCESSES; a++) {
			c->acc = accesses[a];
			for (unsigned k = all_pkru ? 0 : 3; k < 4; k++) {
				c->pkru = others | k << (2 * c->key);
				check_one(ex, c);
			}
		}
	}
}

START_TEST(test_walk_permissions_exhaustive)
{
	struct exhaustive *ex = calloc(1, sizeof(*ex));
	static const unsigned keys[] = { 0, 5 };

	ck_assert_ptr_nonnull(ex);
	fake_mem_init(&ex->fm, NR_MEM_PAGES);
	for (unsigned m = 0; m < NR_MODES; m++) {
		struct pkvm_mmu_mode mode = mode_of(m);

		pkvm_walk_ctx_init(&ex->ctx[m], &ex->fm.gmem, &mode, MAXPHY, false);
		pkvm_walk_ctx_init(&ex->ctx_gb[m], &ex->fm.gmem, &mode, MAXPHY, true);
	}

	for (unsigned leaf = 1; leaf <= 3; leaf++) {
		unsigned nlev = 5 - leaf, nbits = 3 * nlev;

		for (unsigned bits = 0; bits < (1U << nbits); bits++) {
			for (unsigned np = 0; np <= nlev; np++) {
				struct wcase c = {
					.leaf_level = leaf,
					.np_level = np ? 5 - np : 0,	/* 4, 3, ... leaf */
					.gva = gva_make(I4, I3, I2, I1, OFF),
				};

				for (unsigned l = leaf, i = 0; l <= 4; l++, i++) {
					c.w[l] = bits >> (3 * i) & 1;
					c.u[l] = bits >> (3 * i + 1) & 1;
					c.xd[l] = bits >> (3 * i + 2) & 1;
				}
				for (unsigned k = 0; k < (np ? 1 : 2); k++) {
					c.key = np ? 5 : keys[k];
					for (unsigned l = leaf; l <= 4; l++)
						put_entry(&ex->fm, table_of[l], index_of[l],
							  build_entry(&c, l));
					run_tables(ex, &c, np == 0);
				}
			}
		}
	}
	fprintf(stderr, "exhaustive: %lu walks, %lu mismatches\n", ex->walks, ex->mismatches);
	ck_assert_uint_eq(ex->mismatches, 0);
	fake_mem_fini(&ex->fm);
	free(ex);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Hand-built tables for the targeted tests.                                  */

struct tables {
	struct fake_mem fm;
	uint64_t e[5];		/* the entry at each level, [leaf..4] */
	unsigned leaf;
};

/* Plain user, writable, executable tables mapping gva_make(I4..I1, off) to @gpa_base. */
static void tables_init(struct tables *t, unsigned leaf, uint64_t gpa_base)
{
	const uint64_t rights = PTE_P | PTE_W | PTE_U | PTE_A;

	fake_mem_init(&t->fm, NR_MEM_PAGES);
	t->leaf = leaf;
	for (unsigned l = 4; l > leaf; l--)
		t->e[l] = rights | table_of[l - 1];
	t->e[leaf] = rights | gpa_base | (leaf > 1 ? PTE_PS : 0);
}

static void tables_store(struct tables *t)
{
	for (unsigned l = t->leaf; l <= 4; l++)
		put_entry(&t->fm, table_of[l], index_of[l], t->e[l]);
}

static int walk_mode(const struct tables *t, unsigned m, unsigned maxphy, bool gb, uint64_t gva,
		     unsigned acc, uint32_t pkru, struct pkvm_walk *w)
{
	struct pkvm_mmu_mode mode = mode_of(m);
	struct pkvm_walk_ctx ctx;

	pkvm_walk_ctx_init(&ctx, &t->fm.gmem, &mode, maxphy, gb);
	memset(w, 0xa5, sizeof(*w));
	return pkvm_walk(&ctx, T4, gva, acc, pkru, w);
}

/*
 * Expect a reserved-bit fault for every access and mode (with a key that
 * would deny everything, to show PK never comes with RSVD).
 */
static void expect_rsvd(struct tables *t, unsigned maxphy, bool gb, const char *what)
{
	uint64_t gva = gva_make(I4, I3, I2, I1, OFF);

	tables_store(t);
	for (unsigned m = 0; m < NR_MODES; m++) {
		for (unsigned a = 0; a < NR_ACCESSES; a++) {
			struct pkvm_walk w;
			uint32_t want = PFEC_P | PFEC_RSVD | oracle_access_bits(accesses[a], m);
			int ret = walk_mode(t, m, maxphy, gb, gva, accesses[a], 0xffffffff, &w);

			ck_assert_msg(ret == -EFAULT && w.pfec == want,
				      "%s, mode %#x, %s: ret %d pfec %#x, want -EFAULT pfec %#x",
				      what, m, access_str(accesses[a]), ret, w.pfec, want);
		}
	}
}

/* Expect a successful read translation (the control for each reserved-bit case). */
static void expect_ok(struct tables *t, unsigned maxphy, bool gb, uint64_t gpa, const char *what)
{
	uint64_t gva = gva_make(I4, I3, I2, I1, OFF);
	struct pkvm_walk w;
	int ret;

	tables_store(t);
	ret = walk_mode(t, M_NXE | M_PKE, maxphy, gb, gva, PKVM_ACC_USER, 0, &w);
	ck_assert_msg(ret == 0 && w.gpa == gpa, "%s: ret %d gpa %#" PRIx64 ", want 0 gpa %#" PRIx64,
		      what, ret, w.gpa, gpa);
}

START_TEST(test_walk_rsvd_bit51)
{
	for (unsigned leaf = 1; leaf <= 3; leaf++) {
		for (unsigned l = leaf; l <= 4; l++) {
			struct tables t;
			char what[96];

			tables_init(&t, leaf, leaf_base(leaf));
			t.e[l] |= 1ULL << 51;
			snprintf(what, sizeof(what), "bit 51 at level %u, leaf level %u, MAXPHYADDR 46",
				 l, leaf);
			expect_rsvd(&t, 46, true, what);
			/* Bit MAXPHYADDR itself is the lowest reserved one. */
			t.e[l] &= ~(1ULL << 51);
			t.e[l] |= 1ULL << 46;
			snprintf(what, sizeof(what), "bit 46 at level %u, leaf level %u, MAXPHYADDR 46",
				 l, leaf);
			expect_rsvd(&t, 46, true, what);
			fake_mem_fini(&t.fm);
		}
		/* With MAXPHYADDR=52 bit 51 of the leaf is an address bit. */
		struct tables t;

		tables_init(&t, leaf, leaf_base(leaf) | 1ULL << 51);
		expect_ok(&t, 52, true, (leaf_base(leaf) | 1ULL << 51) | (gva_make(I4, I3, I2, I1, OFF) &
				page_mask(leaf)), "bit 51 of the leaf, MAXPHYADDR 52");
		fake_mem_fini(&t.fm);
		/* And bit MAXPHYADDR-1 is an address bit too. */
		tables_init(&t, leaf, leaf_base(leaf) | 1ULL << 45);
		expect_ok(&t, 46, true, (leaf_base(leaf) | 1ULL << 45) | (gva_make(I4, I3, I2, I1, OFF) &
				page_mask(leaf)), "bit 45 of the leaf, MAXPHYADDR 46");
		fake_mem_fini(&t.fm);
	}
}
END_TEST

START_TEST(test_walk_rsvd_xd_without_nxe)
{
	uint64_t gva = gva_make(I4, I3, I2, I1, OFF);

	for (unsigned leaf = 1; leaf <= 3; leaf++) {
		for (unsigned l = leaf; l <= 4; l++) {
			struct tables t;

			tables_init(&t, leaf, leaf_base(leaf));
			t.e[l] |= PTE_NX;
			tables_store(&t);
			for (unsigned m = 0; m < NR_MODES; m++) {
				for (unsigned a = 0; a < NR_ACCESSES; a++) {
					struct pkvm_walk w;
					unsigned acc = accesses[a];
					int ret = walk_mode(&t, m, MAXPHY, true, gva, acc, 0xffffffff, &w);
					uint32_t want;
					int want_ret = -EFAULT;

					if (!(m & M_NXE))
						want = PFEC_P | PFEC_RSVD | oracle_access_bits(acc, m);
					else if (!(want = oracle_perm(acc, true, true, false, 0, 0xffffffff, m)))
						want_ret = 0;
					ck_assert_msg(ret == want_ret && (ret || w.pfec == want),
						      "XD at level %u (leaf %u), mode %#x, %s: ret %d pfec %#x, want %d %#x",
						      l, leaf, m, access_str(acc), ret, w.pfec, want_ret, want);
				}
			}
			fake_mem_fini(&t.fm);
		}
	}
}
END_TEST

START_TEST(test_walk_rsvd_ps_bits)
{
	struct tables t;
	char what[96];

	/* PS (bit 7) is reserved in a PML4E. */
	tables_init(&t, 1, LEAF_4K);
	t.e[4] |= PTE_PS;
	expect_rsvd(&t, MAXPHY, true, "PS in the PML4E");
	fake_mem_fini(&t.fm);

	/* PS in a PDPTE without 1 GiB page support. */
	tables_init(&t, 3, LEAF_1G);
	expect_rsvd(&t, MAXPHY, false, "PS in a PDPTE without gbpages");
	expect_ok(&t, MAXPHY, true, LEAF_1G | (gva_make(I4, I3, I2, I1, OFF) & (GPAGE_SIZE - 1)),
		  "PS in a PDPTE with gbpages");
	fake_mem_fini(&t.fm);

	/* Bits 20:13 of a 2 MiB PDE; bit 12 is PAT and not part of the address. */
	for (unsigned b = 13; b <= 20; b++) {
		tables_init(&t, 2, LEAF_2M);
		t.e[2] |= 1ULL << b;
		snprintf(what, sizeof(what), "bit %u of a 2 MiB PDE", b);
		expect_rsvd(&t, MAXPHY, true, what);
		fake_mem_fini(&t.fm);
	}
	tables_init(&t, 2, LEAF_2M);
	t.e[2] |= PTE_PAT_LARGE;
	expect_ok(&t, MAXPHY, true, LEAF_2M | (gva_make(I4, I3, I2, I1, OFF) & (HPAGE_SIZE - 1)),
		  "PAT (bit 12) in a 2 MiB PDE");
	fake_mem_fini(&t.fm);

	/* Bits 29:13 of a 1 GiB PDPTE. */
	for (unsigned b = 13; b <= 29; b++) {
		tables_init(&t, 3, LEAF_1G);
		t.e[3] |= 1ULL << b;
		snprintf(what, sizeof(what), "bit %u of a 1 GiB PDPTE", b);
		expect_rsvd(&t, MAXPHY, true, what);
		fake_mem_fini(&t.fm);
	}
	tables_init(&t, 3, LEAF_1G);
	t.e[3] |= PTE_PAT_LARGE;
	expect_ok(&t, MAXPHY, true, LEAF_1G | (gva_make(I4, I3, I2, I1, OFF) & (GPAGE_SIZE - 1)),
		  "PAT (bit 12) in a 1 GiB PDPTE");
	fake_mem_fini(&t.fm);

	/* Bit 7 of a PTE is PAT, not PS: not reserved. */
	tables_init(&t, 1, LEAF_4K);
	t.e[1] |= PTE_PS;
	expect_ok(&t, MAXPHY, true, LEAF_4K | OFF, "PAT (bit 7) in a PTE");
	fake_mem_fini(&t.fm);
}
END_TEST

START_TEST(test_walk_rsvd_vs_not_present)
{
	uint64_t gva = gva_make(I4, I3, I2, I1, OFF);
	struct pkvm_walk w;
	struct tables t;
	int ret;

	/* A not-present entry's other bits are ignored: no RSVD from it or below it. */
	tables_init(&t, 1, LEAF_4K);
	t.e[3] &= ~PTE_P;
	t.e[3] |= 1ULL << 51 | PTE_NX;
	t.e[1] |= 1ULL << 51;
	tables_store(&t);
	ret = walk_mode(&t, 0, MAXPHY, true, gva, PKVM_ACC_USER | PKVM_ACC_WRITE, 0xffffffff, &w);
	ck_assert_int_eq(ret, -EFAULT);
	ck_assert_uint_eq(w.pfec, PFEC_W | PFEC_U);
	fake_mem_fini(&t.fm);

	/* A reserved bit above a not-present entry ends the walk first. */
	tables_init(&t, 1, LEAF_4K);
	t.e[4] |= 1ULL << 51;
	t.e[2] &= ~PTE_P;
	tables_store(&t);
	ret = walk_mode(&t, M_NXE, MAXPHY, true, gva, PKVM_ACC_FETCH, 0xffffffff, &w);
	ck_assert_int_eq(ret, -EFAULT);
	ck_assert_uint_eq(w.pfec, PFEC_P | PFEC_RSVD | PFEC_I);
	fake_mem_fini(&t.fm);

	/* A reserved bit wins over a permission problem higher up (no permission check). */
	tables_init(&t, 1, LEAF_4K);
	t.e[4] &= ~(PTE_U | PTE_W);
	t.e[1] |= 1ULL << 51;
	tables_store(&t);
	ret = walk_mode(&t, M_WP | M_PKE, MAXPHY, true, gva, PKVM_ACC_USER | PKVM_ACC_WRITE,
			0xffffffff, &w);
	ck_assert_int_eq(ret, -EFAULT);
	ck_assert_uint_eq(w.pfec, PFEC_P | PFEC_RSVD | PFEC_W | PFEC_U);
	fake_mem_fini(&t.fm);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Untrusted tables.                                                          */

START_TEST(test_walk_bad_cr3)
{
	static const unsigned idx4[] = { 0, 1, 255, 256, 511 };
	struct tables t;

	tables_init(&t, 1, LEAF_4K);
	tables_store(&t);
	uint64_t size = t.fm.gmem.size;
	const uint64_t cr3s[] = {
		size, size + PAGE_SIZE, 1ULL << 32, (1ULL << MAXPHY) - PAGE_SIZE,
		/* Huge values stay outside memory whether or not the walker masks them. */
		1ULL << 51 | 1ULL << 39, 0x000ffffffffff000ULL, 0x7ffffffffffff000ULL,
		0xfffffffffffff000ULL, 0xffffffffffffe000ULL, 0x800000fffffff000ULL,
		-size & ~(uint64_t)0xfff,
	};
	for (unsigned i = 0; i < sizeof(cr3s) / sizeof(cr3s[0]); i++) {
		for (unsigned j = 0; j < sizeof(idx4) / sizeof(idx4[0]); j++) {
			for (unsigned m = 0; m < NR_MODES; m += 3) {
				struct pkvm_mmu_mode mode = mode_of(m);
				struct pkvm_walk_ctx ctx;
				struct pkvm_walk w;
				uint64_t gva = gva_make(idx4[j], I3, I2, I1, OFF);
				int ret;

				pkvm_walk_ctx_init(&ctx, &t.fm.gmem, &mode, MAXPHY, true);
				ret = pkvm_walk(&ctx, cr3s[i], gva, PKVM_ACC_USER, 0, &w);
				ck_assert_msg(ret == -ERANGE, "cr3 %#" PRIx64 " gva %#" PRIx64
					      ": ret %d, want -ERANGE", cr3s[i], gva, ret);
			}
		}
	}
	fake_mem_fini(&t.fm);
}
END_TEST

START_TEST(test_walk_cr3_last_page)
{
	/* The PML4 in the last page of memory: its last entry is the last 8 bytes. */
	struct tables t;
	uint64_t last = (NR_MEM_PAGES - 1) * PAGE_SIZE;
	struct pkvm_mmu_mode mode = mode_of(M_NXE);
	struct pkvm_walk_ctx ctx;
	struct pkvm_walk w;
	uint64_t e, gva = gva_make(511, I3, I2, I1, OFF);
	int ret;

	tables_init(&t, 1, LEAF_4K);
	tables_store(&t);
	e = get_entry(&t.fm, T4, I4);
	put_entry(&t.fm, last, 511, e);
	pkvm_walk_ctx_init(&ctx, &t.fm.gmem, &mode, MAXPHY, true);
	ret = pkvm_walk(&ctx, last, gva, PKVM_ACC_USER, 0, &w);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(w.gpa, LEAF_4K | OFF);
	/* CR3 bits 11:0 (PWT, PCD, ignored bits) are not part of the table address. */
	ret = pkvm_walk(&ctx, last | 0x18, gva, PKVM_ACC_USER, 0, &w);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(w.gpa, LEAF_4K | OFF);
	fake_mem_fini(&t.fm);
}
END_TEST

START_TEST(test_walk_partial_last_page)
{
	/*
	 * Memory that ends inside a page, with the PML4 in that page: entries
	 * wholly or partly past the end are -ERANGE; entries inside it may be
	 * used or the partial table refused as a whole (docs/protection-keys.md does not say).
	 */
	static const struct {
		uint64_t size;
		unsigned inside, outside[3];
	} cases[] = {
		{ 7 * PAGE_SIZE + 0x800, 255, { 256, 300, 511 } },
		{ 7 * PAGE_SIZE + 0x7fc, 254, { 255, 256, 511 } },	/* 255 straddles the end */
		{ 7 * PAGE_SIZE + 0x008, 0, { 1, 2, 511 } },
		{ 7 * PAGE_SIZE + 0x004, 0, { 0, 0, 0 } },		/* even entry 0 straddles */
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_mem fm;
		struct pkvm_mmu_mode mode = mode_of(M_NXE);
		struct pkvm_walk_ctx ctx;
		const uint64_t rights = PTE_P | PTE_W | PTE_U;
		const uint64_t pml4 = 7 * PAGE_SIZE;
		struct pkvm_walk w;
		int ret;

		fake_mem_init_bytes(&fm, cases[i].size);
		pkvm_walk_ctx_init(&ctx, &fm.gmem, &mode, MAXPHY, true);
		put_entry(&fm, T3, I3, rights | T2);
		put_entry(&fm, T2, I2, rights | T1);
		put_entry(&fm, T1, I1, rights | LEAF_4K);
		if (pml4 + 8 * cases[i].inside + 8 <= cases[i].size) {
			put_entry(&fm, pml4, cases[i].inside, rights | T3);
			ret = pkvm_walk(&ctx, pml4, gva_make(cases[i].inside, I3, I2, I1, OFF),
					PKVM_ACC_USER, 0, &w);
			ck_assert_msg(ret == -ERANGE || (ret == 0 && w.gpa == (LEAF_4K | OFF)),
				      "size %#" PRIx64 " entry %u: ret %d gpa %#" PRIx64, cases[i].size,
				      cases[i].inside, ret, w.gpa);
		}
		for (unsigned j = 0; j < 3; j++) {
			unsigned idx = cases[i].outside[j];

			ret = pkvm_walk(&ctx, pml4, gva_make(idx, I3, I2, I1, OFF), PKVM_ACC_USER, 0, &w);
			ck_assert_msg(ret == -ERANGE, "size %#" PRIx64 " entry %u: ret %d, want -ERANGE",
				      cases[i].size, idx, ret);
		}
		/* The same for a lower-level table in that page. */
		if (cases[i].size >= T4 + PAGE_SIZE) {
			put_entry(&fm, T4, I4, rights | pml4);
			ret = pkvm_walk(&ctx, T4, gva_make(I4, cases[i].outside[0], I2, I1, OFF),
					PKVM_ACC_USER, 0, &w);
			ck_assert_msg(ret == -ERANGE, "size %#" PRIx64 " PDPT entry %u: ret %d",
				      cases[i].size, cases[i].outside[0], ret);
		}
		fake_mem_fini(&fm);
	}
}
END_TEST

START_TEST(test_walk_bad_entries)
{
	uint64_t gva = gva_make(I4, I3, I2, I1, OFF);

	/* An entry at each non-leaf level pointing outside guest memory. */
	for (unsigned l = 2; l <= 4; l++) {
		struct tables t;

		tables_init(&t, 1, LEAF_4K);
		const uint64_t size = t.fm.gmem.size;
		const uint64_t targets[] = {
			size, size + PAGE_SIZE, 1ULL << 30, 0x000ffffffffff000ULL & ((1ULL << MAXPHY) - 1),
			((1ULL << MAXPHY) - 1) & ~0xfffULL,
		};
		for (unsigned i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
			for (unsigned m = 0; m < NR_MODES; m += 5) {
				struct pkvm_walk w;
				int ret;

				t.e[l] = (t.e[l] & ~PTE_ADDR_MASK_52) | targets[i];
				tables_store(&t);
				ret = walk_mode(&t, m, MAXPHY, true, gva, PKVM_ACC_USER, 0, &w);
				ck_assert_msg(ret == -ERANGE, "level %u entry -> %#" PRIx64
					      ": ret %d, want -ERANGE", l, targets[i], ret);
				/* Same with MAXPHYADDR 52 and an address near 2^52. */
				t.e[l] = (t.e[l] & ~PTE_ADDR_MASK_52) | 0x000ffffffffff000ULL;
				tables_store(&t);
				ret = walk_mode(&t, m, 52, true, gva, PKVM_ACC_USER, 0, &w);
				ck_assert_msg(ret == -ERANGE, "level %u entry -> 0xffffffffff000"
					      " (MAXPHYADDR 52): ret %d, want -ERANGE", l, ret);
			}
		}
		/* The last page of memory is a valid table. */
		{
			uint64_t last = (NR_MEM_PAGES - 1) * PAGE_SIZE;
			struct pkvm_walk w;
			int ret;

			tables_init(&t, 1, LEAF_4K);
			tables_store(&t);
			/* Copy the next level's table to the last page. */
			memcpy(t.fm.gmem.base + last, t.fm.gmem.base + table_of[l - 1], PAGE_SIZE);
			t.e[l] = (t.e[l] & ~PTE_ADDR_MASK_52) | last;
			tables_store(&t);
			ret = walk_mode(&t, M_NXE, MAXPHY, true, gva, PKVM_ACC_USER, 0, &w);
			ck_assert_int_eq(ret, 0);
			ck_assert_uint_eq(w.gpa, LEAF_4K | OFF);
		}
		fake_mem_fini(&t.fm);
	}
}
END_TEST

START_TEST(test_walk_leaf_outside_memory_is_fine)
{
	/* Only tables are read: the page itself may be anywhere below 2^MAXPHYADDR. */
	static const uint64_t frames[] = { 0x0, 0xfffff000ULL, 0xfffffffff000ULL, 0x000ffffffffff000ULL };
	uint64_t gva = gva_make(I4, I3, I2, I1, 0x123);

	for (unsigned i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		struct tables t;
		struct pkvm_walk w;
		int ret;

		tables_init(&t, 1, frames[i]);
		tables_store(&t);
		ret = walk_mode(&t, M_NXE, 52, true, gva, PKVM_ACC_USER, 0, &w);
		ck_assert_int_eq(ret, 0);
		ck_assert_uint_eq(w.gpa, frames[i] | 0x123);
		fake_mem_fini(&t.fm);
	}
}
END_TEST

START_TEST(test_walk_noncanonical)
{
	const uint64_t bad[] = {
		0x0000800000000000ULL, 0xffff7fffffffffffULL, 0x8000000000000000ULL,
		0x00ff000000000000ULL, 0x0001000000000000ULL, 0x7fffffffffffffffULL,
		0xfffe800000000000ULL, gva_make(I4, I3, I2, I1, OFF) ^ (1ULL << 63),
	};
	struct tables t;

	tables_init(&t, 1, LEAF_4K);
	tables_store(&t);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (unsigned a = 0; a < NR_ACCESSES; a++) {
			struct pkvm_walk w;
			int ret = walk_mode(&t, M_NXE | M_PKE, MAXPHY, true, bad[i], accesses[a], 0, &w);

			ck_assert_msg(ret == -EINVAL, "gva %#" PRIx64 ": ret %d, want -EINVAL", bad[i], ret);
			/* #GP comes before paging: even with a CR3 outside memory. */
			struct pkvm_mmu_mode mode = mode_of(0);
			struct pkvm_walk_ctx ctx;

			pkvm_walk_ctx_init(&ctx, &t.fm.gmem, &mode, MAXPHY, true);
			ret = pkvm_walk(&ctx, 0xfffffffffffff000ULL, bad[i], accesses[a], 0, &w);
			ck_assert_msg(ret == -EINVAL, "gva %#" PRIx64 ", bad cr3: ret %d, want -EINVAL",
				      bad[i], ret);
		}
	}
	/* The canonical edges are walked normally (here: not present). */
	{
		struct pkvm_walk w;
		int ret;

		ret = walk_mode(&t, 0, MAXPHY, true, 0x00007fffffffffffULL, PKVM_ACC_USER, 0, &w);
		ck_assert_int_eq(ret, -EFAULT);
		ck_assert_uint_eq(w.pfec, PFEC_U);
		ret = walk_mode(&t, 0, MAXPHY, true, 0xffff800000000000ULL, PKVM_ACC_WRITE, 0, &w);
		ck_assert_int_eq(ret, -EFAULT);
		ck_assert_uint_eq(w.pfec, PFEC_W);
	}
	fake_mem_fini(&t.fm);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Translation correctness.                                                   */

START_TEST(test_walk_translate_offsets)
{
	static const uint64_t offs[] = {
		0, 1, 0x7ff, 0x800, 0xfff, 0x1000, 0x12345, 0xfffff, 0x100000, 0x1fffff,
		0x200000, 0x2468ace, 0x10000000, 0x3ffff000, 0x3fffffff,
	};

	for (unsigned leaf = 1; leaf <= 3; leaf++) {
		struct tables t;
		uint64_t base = leaf_base(leaf);

		tables_init(&t, leaf, base);
		t.e[leaf] |= (uint64_t)(leaf + 6) << PTE_PKEY_SHIFT;
		tables_store(&t);
		for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			uint64_t off = offs[i];
			/* The offset covers the indices below the leaf's level. */
			uint64_t gva = gva_make(I4, I3, leaf <= 2 ? I2 : 0, leaf == 1 ? I1 : 0, off);
			struct pkvm_walk w;
			int ret;

			if (off > page_mask(leaf))
				continue;
			for (unsigned m = 0; m < NR_MODES; m++) {
				ret = walk_mode(&t, m, MAXPHY, true, gva, PKVM_ACC_USER, 0, &w);
				ck_assert_msg(ret == 0, "leaf %u off %#" PRIx64 " mode %#x: ret %d",
					      leaf, off, m, ret);
				ck_assert_uint_eq(w.gpa, base | off);
				ck_assert_uint_eq(w.level, leaf);
				ck_assert_uint_eq(w.pkey, leaf + 6);
				ck_assert_uint_eq(w.leaf, t.e[leaf]);
				ck_assert_uint_eq(w.pte_acc, PKVM_PTE_ACC_X | PKVM_PTE_ACC_W | PKVM_PTE_ACC_U);
			}
		}
		fake_mem_fini(&t.fm);
	}
}
END_TEST

START_TEST(test_walk_translate_indices)
{
	/* A full PT and PD: every index reaches its own entry. */
	struct fake_mem fm;
	struct pkvm_mmu_mode mode = mode_of(M_NXE | M_PKE);
	struct pkvm_walk_ctx ctx;
	const uint64_t rights = PTE_P | PTE_W | PTE_U;

	fake_mem_init(&fm, NR_MEM_PAGES);
	pkvm_walk_ctx_init(&ctx, &fm.gmem, &mode, MAXPHY, true);
	/* Two PML4 slots (low and high half) share the PDPT; PDPT slot 7 -> PD; PD slot 3 -> PT. */
	put_entry(&fm, T4, 0x001, rights | T3);
	put_entry(&fm, T4, 0x1ff, rights | T3);
	put_entry(&fm, T3, 7, rights | T2);
	put_entry(&fm, T3, 9, rights | PTE_PS | (0x123ULL << 30));
	for (unsigned i = 0; i < 512; i++) {
		put_entry(&fm, T1, i, rights | ((0x40000ULL + i * 3) << 12) | (uint64_t)(i & 15) << 59);
		if (i != 3)
			put_entry(&fm, T2, i, rights | PTE_PS | ((0x800ULL + i) << 21));
	}
	put_entry(&fm, T2, 3, rights | T1);
	for (unsigned h = 0; h < 2; h++) {
		unsigned i4 = h ? 0x1ff : 0x001;

		for (unsigned i = 0; i < 512; i++) {
			struct pkvm_walk w;
			uint64_t gva = gva_make(i4, 7, 3, i, 0x5a5);
			int ret = pkvm_walk(&ctx, T4, gva, PKVM_ACC_USER | PKVM_ACC_WRITE, 0, &w);

			ck_assert_int_eq(ret, 0);
			ck_assert_uint_eq(w.gpa, ((0x40000ULL + i * 3) << 12) | 0x5a5);
			ck_assert_uint_eq(w.pkey, i & 15);
			ck_assert_uint_eq(w.level, 1);

			gva = gva_make(i4, 7, i, 0x155, 0xabc);
			ret = pkvm_walk(&ctx, T4, gva, PKVM_ACC_USER, 0, &w);
			ck_assert_int_eq(ret, 0);
			if (i == 3) {
				ck_assert_uint_eq(w.gpa, ((0x40000ULL + 0x155 * 3) << 12) | 0xabc);
			} else {
				ck_assert_uint_eq(w.gpa, ((0x800ULL + i) << 21) | (0x155ULL << 12) | 0xabc);
				ck_assert_uint_eq(w.level, 2);
			}
		}
		/* A 1 GiB page next to the PD. */
		struct pkvm_walk w;
		uint64_t gva = gva_make(i4, 9, 0x1a2, 0x0b3, 0xc4);

		ck_assert_int_eq(pkvm_walk(&ctx, T4, gva, PKVM_ACC_USER, 0, &w), 0);
		ck_assert_uint_eq(w.gpa, (0x123ULL << 30) | (0x1a2ULL << 21) | (0x0b3ULL << 12) | 0xc4);
		ck_assert_uint_eq(w.level, 3);
		/* An unused slot is not present. */
		gva = gva_make(i4, 8, 0, 0, 0);
		ck_assert_int_eq(pkvm_walk(&ctx, T4, gva, PKVM_ACC_USER, 0, &w), -EFAULT);
		ck_assert_uint_eq(w.pfec, PFEC_U);
	}
	fake_mem_fini(&fm);
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *walk_suite(void)
{
	Suite *s = suite_create("walk");
	TCase *tc;

	tc = tcase_create("permissions");
	tcase_set_timeout(tc, 120);	/* a few seconds at -O2; room for sanitizer builds */
	tcase_add_test(tc, test_walk_permissions_exhaustive);
	suite_add_tcase(s, tc);

	tc = tcase_create("reserved");
	tcase_add_test(tc, test_walk_rsvd_bit51);
	tcase_add_test(tc, test_walk_rsvd_xd_without_nxe);
	tcase_add_test(tc, test_walk_rsvd_ps_bits);
	tcase_add_test(tc, test_walk_rsvd_vs_not_present);
	suite_add_tcase(s, tc);

	tc = tcase_create("untrusted");
	tcase_add_test(tc, test_walk_bad_cr3);
	tcase_add_test(tc, test_walk_cr3_last_page);
	tcase_add_test(tc, test_walk_bad_entries);
	tcase_add_test(tc, test_walk_partial_last_page);
	tcase_add_test(tc, test_walk_leaf_outside_memory_is_fine);
	tcase_add_test(tc, test_walk_noncanonical);
	suite_add_tcase(s, tc);

	tc = tcase_create("translate");
	tcase_add_test(tc, test_walk_translate_offsets);
	tcase_add_test(tc, test_walk_translate_indices);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(walk_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
