/* test_linux_vmas.c: the personality's address-range sets (plain and file) against page-by-page models. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "linux/personality.h"

#define PAGES	256		/* the model's window of the address space */
#define BASE	0x10000000ULL
#define PG	4096ULL

static uint64_t addr_of(unsigned page) { return BASE + page * PG; }

/* Check's assertions are costly (a pipe write each): compare quietly, assert once. */
static void check_against(const struct lx_vmaset *set, const bool *model, int step)
{
	int bad = -1;

	/* Sorted, disjoint, merged, inside the window: the invariant the header promises. */
	for (unsigned i = 0; i < set->n && bad < 0; i++)
		if (set->v[i].start >= set->v[i].end || set->v[i].start < BASE ||
		    set->v[i].end > addr_of(PAGES) || (i && set->v[i - 1].end >= set->v[i].start))
			bad = 1000 + i;
	for (unsigned p = 0; p < PAGES && bad < 0; p++)
		if (lx_vma_covered(set, addr_of(p), addr_of(p + 1)) != model[p] ||
		    lx_vma_overlaps(set, addr_of(p), addr_of(p + 1)) != model[p])
			bad = p;
	ck_assert_msg(bad < 0, "step %d: %s %d disagrees with the model", step,
		      bad >= 1000 ? "range" : "page", bad >= 1000 ? bad - 1000 : bad);
}

/* Collects the gaps lx_vma_each_gap() reports, as pages of the model. */
struct gaps {
	bool page[PAGES];
	uint64_t last_end;
	int calls, bad;
};

static int record_gap(void *ctx, uint64_t start, uint64_t end)
{
	struct gaps *g = ctx;

	/* In order, not empty, not adjacent to the previous one (maximal). */
	if (start >= end || start % PG || end % PG || (g->calls && start <= g->last_end))
		g->bad++;
	for (uint64_t a = start; a < end && a >= BASE && a < addr_of(PAGES); a += PG)
		g->page[(a - BASE) / PG] = true;
	g->last_end = end;
	g->calls++;
	return 0;
}

static void check_gaps(const struct lx_vmaset *set, const bool *model, unsigned a, unsigned b)
{
	struct gaps g = { .calls = 0 };
	int bad = -1;

	ck_assert_int_eq(lx_vma_each_gap(set, addr_of(a), addr_of(b), record_gap, &g), 0);
	ck_assert_int_eq(g.bad, 0);
	for (unsigned p = 0; p < PAGES && bad < 0; p++)
		if (g.page[p] != (p >= a && p < b && !model[p]))
			bad = p;
	ck_assert_msg(bad < 0, "gaps of [%u, %u) disagree with the model at page %d", a, b, bad);
}

START_TEST(test_random_operations_match_the_model)
{
	struct lx_vmaset set = { 0 };
	bool model[PAGES] = { false };

	srand(1234);
	for (int step = 0; step < 5000; step++) {
		unsigned a = rand() % PAGES, n = 1 + rand() % 16, op = rand() % 4;
		unsigned b = a + n > PAGES ? PAGES : a + n;
		bool covered = true, overlaps = false;

		for (unsigned p = a; p < b; p++) {
			covered &= model[p];
			overlaps |= model[p];
		}
		switch (op) {
		case 0:
		case 1:
			ck_assert_int_eq(lx_vma_add(&set, addr_of(a), addr_of(b)), 0);
			for (unsigned p = a; p < b; p++)
				model[p] = true;
			break;
		case 2:
			ck_assert_int_eq(lx_vma_remove(&set, addr_of(a), addr_of(b)), 0);
			for (unsigned p = a; p < b; p++)
				model[p] = false;
			break;
		default: {
			uint64_t addr;
			int err = lx_vma_find_free(&set, n * PG, addr_of(0), addr_of(PAGES), &addr);
			int want = -ENOMEM;

			ck_assert_int_eq(lx_vma_covered(&set, addr_of(a), addr_of(b)), covered);
			ck_assert_int_eq(lx_vma_overlaps(&set, addr_of(a), addr_of(b)), overlaps);
			check_gaps(&set, model, a, b);
			/* The highest free run of n pages in the window, as the header says. */
			for (int s = PAGES - (int)n; s >= 0 && want; s--) {
				bool free_run = true;

				for (unsigned p = s; p < s + n; p++)
					free_run &= !model[p];
				if (free_run) {
					want = 0;
					ck_assert_int_eq(err, 0);
					ck_assert_uint_eq(addr, addr_of(s));
				}
			}
			ck_assert_int_eq(err, want);
		}
		}
		check_against(&set, model, step);
	}
	lx_vmaset_destroy(&set);
}
END_TEST

/* The file-set model: each page's file (-1: none) and the file offset it maps. */
struct file_model {
	int file[PAGES];
	uint64_t offset[PAGES];
};

struct walk {
	const struct file_model *m;
	struct lx_file *const *files;
	uint64_t next;			/* where the next part may start, at the earliest */
	unsigned pages;			/* pages the parts cover */
	int bad;
};

/* lx_vma_each()'s parts: in order, inside the asked range, each page as the model says. */
static int check_part(void *ctx, const struct lx_vma *part)
{
	struct walk *w = ctx;

	if (part->start < w->next || part->start >= part->end)
		w->bad++;
	for (uint64_t a = part->start; a < part->end; a += PG) {
		unsigned p = (a - BASE) / PG;

		if (w->m->file[p] < 0 || w->files[w->m->file[p]] != part->file ||
		    w->m->offset[p] != part->offset + (a - part->start))
			w->bad++;
		w->pages++;
	}
	w->next = part->end;
	return 0;
}

static void check_files(const struct lx_vmaset *set, const struct file_model *m,
			struct lx_file *const *files, unsigned nfiles, unsigned a, unsigned b,
			int step)
{
	struct walk w = { .m = m, .files = files, .next = addr_of(a) };
	unsigned pages = 0, refs = 0;

	ck_assert_int_eq(lx_vma_each(set, addr_of(a), addr_of(b), check_part, &w), 0);
	for (unsigned p = a; p < b; p++)
		pages += m->file[p] >= 0;
	ck_assert_msg(w.bad == 0 && w.next <= addr_of(b) && w.pages == pages,
		      "step %d: parts of [%u, %u) disagree with the model", step, a, b);
	/* Each range holds one reference to its file, beside the test's own. */
	for (unsigned f = 0; f < nfiles; f++) {
		unsigned held = 0;

		for (unsigned i = 0; i < set->n; i++)
			held += set->v[i].file == files[f];
		refs += files[f]->refs != 1 + held;
	}
	ck_assert_msg(refs == 0, "step %d: %u files' references are off", step, refs);
}

START_TEST(test_file_ranges_keep_offsets_and_references)
{
	struct lx_vmaset set = { 0 };
	struct file_model m;
	struct lx_file *files[3];

	for (unsigned f = 0; f < 3; f++) {
		files[f] = lx_file_new(-1, false, true, false);
		ck_assert_ptr_nonnull(files[f]);
	}
	for (unsigned p = 0; p < PAGES; p++)
		m.file[p] = -1;
	srand(4321);
	for (int step = 0; step < 5000; step++) {
		unsigned a = rand() % PAGES, n = 1 + rand() % 16, op = rand() % 4, f = rand() % 3;
		unsigned t = rand() % PAGES;
		unsigned b = a + n > PAGES ? PAGES : a + n;
		uint64_t offset = (uint64_t)(rand() % 64) * PG;
		bool overlaps = false;

		for (unsigned p = a; p < b; p++)
			overlaps |= m.file[p] >= 0;
		if (op == 0) {
			ck_assert_int_eq(lx_vma_add_file(&set, addr_of(a), addr_of(b), files[f], offset),
					 overlaps ? -EEXIST : 0);
			for (unsigned p = a; p < b && !overlaps; p++) {
				m.file[p] = f;
				m.offset[p] = offset + (p - a) * PG;
			}
		} else if (op == 3 && t + (b - a) <= PAGES && (t >= b || t + (b - a) <= a)) {
			/* mremap's copy, to a free place apart from the source. */
			bool target_free = true;

			for (unsigned p = t; p < t + (b - a); p++)
				target_free &= m.file[p] < 0;
			if (!target_free)
				continue;
			ck_assert_int_eq(lx_vma_copy_files(&set, addr_of(a), addr_of(b), addr_of(t)), 0);
			for (unsigned p = a; p < b; p++) {
				m.file[t + p - a] = m.file[p];
				m.offset[t + p - a] = m.offset[p];
			}
		} else if (op == 1) {
			/* Once prepared, a removal cannot fail. */
			ck_assert_int_eq(lx_vma_remove_prepare(&set, addr_of(a), addr_of(b)), 0);
			ck_assert_int_eq(lx_vma_remove(&set, addr_of(a), addr_of(b)), 0);
			for (unsigned p = a; p < b; p++)
				m.file[p] = -1;
		}
		check_files(&set, &m, files, 3, op == 2 ? a : 0, op == 2 ? b : PAGES, step);
	}
	lx_vmaset_destroy(&set);
	for (unsigned f = 0; f < 3; f++) {
		ck_assert_uint_eq(files[f]->refs, 1);
		lx_file_put(files[f]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("linux_vmas");
	TCase *tc = tcase_create("vmas");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_random_operations_match_the_model);
	tcase_add_test(tc, test_file_ranges_keep_offsets_and_references);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
