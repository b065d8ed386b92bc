/*
 * test_demand_ranges.c: the demand-backed range set (lib/demand.c) against
 * a model of one attribute per page, over a small address space, under
 * random adds, removes and attribute changes; plus its edges.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "../lib/demand.h"

#define PAGES	64
#define PG	4096ULL
#define NONE	0xffffffffU	/* model: page not reserved */

/* A page's attributes folded into one number: flags in the low bits, key above. */
static unsigned attrs(uint64_t flags, unsigned pkey)
{
	return (unsigned)flags | pkey << 16;
}

static void check_model(const struct pkvm_demand *d, const unsigned model[PAGES])
{
	for (unsigned p = 0; p < PAGES; p++) {
		const struct pkvm_demand_range *r = pkvm_demand_find(d, p * PG + 123);

		if (model[p] == NONE)
			ck_assert_msg(!r, "page %u should not be reserved", p);
		else
			ck_assert_msg(r && attrs(r->flags, r->pkey) == model[p],
				      "page %u: expected attrs %#x", p, model[p]);
	}
	/* Sorted, disjoint, non-empty, and merged: no two touching ranges alike. */
	for (size_t i = 0; i < d->n; i++) {
		ck_assert(d->r[i].start < d->r[i].end);
		if (i) {
			ck_assert(d->r[i - 1].end <= d->r[i].start);
			ck_assert(d->r[i - 1].end < d->r[i].start ||
				  attrs(d->r[i - 1].flags, d->r[i - 1].pkey) !=
					  attrs(d->r[i].flags, d->r[i].pkey));
		}
	}
}

static bool model_overlaps(const unsigned model[PAGES], unsigned a, unsigned b)
{
	for (unsigned p = a; p < b; p++)
		if (model[p] != NONE)
			return true;
	return false;
}

static bool model_covers(const unsigned model[PAGES], unsigned a, unsigned b)
{
	for (unsigned p = a; p < b; p++)
		if (model[p] == NONE)
			return false;
	return true;
}

START_TEST(test_against_page_model)
{
	struct pkvm_demand d;
	unsigned model[PAGES];

	srand(1234 + _i);
	pkvm_demand_init(&d);
	for (unsigned p = 0; p < PAGES; p++)
		model[p] = NONE;
	for (unsigned step = 0; step < 4000; step++) {
		unsigned a = rand() % PAGES, b = a + 1 + rand() % (PAGES - a);
		uint64_t flags = rand() % 4;
		unsigned pkey = rand() % 3;
		int op = rand() % 4, err;

		ck_assert_int_eq(pkvm_demand_overlaps(&d, a * PG, b * PG), model_overlaps(model, a, b));
		ck_assert_int_eq(pkvm_demand_covers(&d, a * PG, b * PG), model_covers(model, a, b));
		switch (op) {
		case 0:
			err = pkvm_demand_add(&d, a * PG, b * PG, flags, pkey);
			if (model_overlaps(model, a, b)) {
				ck_assert_int_eq(err, -EEXIST);
				break;
			}
			ck_assert_int_eq(err, 0);
			for (unsigned p = a; p < b; p++)
				model[p] = attrs(flags, pkey);
			break;
		case 1:
			ck_assert_int_eq(pkvm_demand_remove(&d, a * PG, b * PG), 0);
			for (unsigned p = a; p < b; p++)
				model[p] = NONE;
			break;
		case 2:
			ck_assert_int_eq(pkvm_demand_set_flags(&d, a * PG, b * PG, flags), 0);
			for (unsigned p = a; p < b; p++)
				if (model[p] != NONE)
					model[p] = attrs(flags, model[p] >> 16);
			break;
		case 3:
			ck_assert_int_eq(pkvm_demand_set_pkey(&d, a * PG, b * PG, pkey), 0);
			for (unsigned p = a; p < b; p++)
				if (model[p] != NONE)
					model[p] = attrs(model[p] & 0xffff, pkey);
			break;
		}
		check_model(&d, model);
	}
	pkvm_demand_destroy(&d);
}
END_TEST

START_TEST(test_copy_and_next)
{
	struct pkvm_demand d, copy;

	pkvm_demand_init(&d);
	pkvm_demand_init(&copy);
	ck_assert_int_eq(pkvm_demand_add(&d, 4 * PG, 8 * PG, 1, 0), 0);
	ck_assert_int_eq(pkvm_demand_add(&d, 10 * PG, 12 * PG, 1, 0), 0);
	ck_assert_int_eq(pkvm_demand_add(&d, 0, 0, 1, 0), -EINVAL);
	ck_assert_ptr_eq(pkvm_demand_next(&d, 0), &d.r[0]);
	ck_assert_ptr_eq(pkvm_demand_next(&d, 8 * PG), &d.r[1]);
	ck_assert_ptr_null(pkvm_demand_next(&d, 12 * PG));
	ck_assert_int_eq(pkvm_demand_copy(&copy, &d), 0);
	ck_assert_int_eq(pkvm_demand_remove(&d, 0, 100 * PG), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(copy.n, 2);
	ck_assert(pkvm_demand_covers(&copy, 5 * PG, 8 * PG));
	ck_assert(!pkvm_demand_covers(&copy, 5 * PG, 11 * PG));
	ck_assert(pkvm_demand_covers(&copy, 5 * PG, 5 * PG));	/* empty: trivially */
	ck_assert(!pkvm_demand_overlaps(&copy, 5 * PG, 5 * PG));
	pkvm_demand_destroy(&d);
	pkvm_demand_destroy(&copy);
}
END_TEST

/* Alternating attributes page by page: the set stops at PKVM_DEMAND_MAX_RANGES, cleanly. */
START_TEST(test_range_limit)
{
	struct pkvm_demand d;
	uint64_t pages = PKVM_DEMAND_MAX_RANGES + 10, page;
	int err = 0;

	pkvm_demand_init(&d);
	ck_assert_int_eq(pkvm_demand_add(&d, 0, pages * PG, 0, 0), 0);
	for (page = 0; page < pages && !err; page += 2)
		err = pkvm_demand_set_flags(&d, page * PG, (page + 1) * PG, 1);
	ck_assert_int_eq(err, -ENOMEM);
	ck_assert_uint_le(d.n, PKVM_DEMAND_MAX_RANGES);
	/* What failed changed nothing: the page it was for keeps its flags. */
	page -= 2;
	ck_assert_uint_eq(pkvm_demand_find(&d, page * PG)->flags, 0);
	ck_assert_uint_eq(pkvm_demand_find(&d, (page - 2) * PG)->flags, 1);
	pkvm_demand_destroy(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("demand_ranges");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_against_page_model, 0, 8);
	tcase_add_test(tc, test_copy_and_next);
	tcase_add_test(tc, test_range_limit);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
