/* demand.c: the ranges of demand-backed memory (see demand.h), a sorted array. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "demand.h"

void pkvm_demand_init(struct pkvm_demand *d)
{
	memset(d, 0, sizeof(*d));
}

void pkvm_demand_destroy(struct pkvm_demand *d)
{
	free(d->r);
	pkvm_demand_init(d);
}

int pkvm_demand_copy(struct pkvm_demand *dst, const struct pkvm_demand *src)
{
	struct pkvm_demand_range *r = NULL;

	if (src->n) {
		r = malloc(src->n * sizeof(*r));
		if (!r)
			return -ENOMEM;
		memcpy(r, src->r, src->n * sizeof(*r));
	}
	free(dst->r);
	dst->r = r;
	dst->n = dst->cap = src->n;
	return 0;
}

/* The index of the first range that ends after @gva (n if none). */
static size_t first_ending_after(const struct pkvm_demand *d, uint64_t gva)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->r[mid].end <= gva)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct pkvm_demand_range *pkvm_demand_find(const struct pkvm_demand *d, uint64_t gva)
{
	size_t i = first_ending_after(d, gva);

	return i < d->n && d->r[i].start <= gva ? &d->r[i] : NULL;
}

const struct pkvm_demand_range *pkvm_demand_next(const struct pkvm_demand *d, uint64_t gva)
{
	size_t i = first_ending_after(d, gva);

	return i < d->n ? &d->r[i] : NULL;
}

bool pkvm_demand_overlaps(const struct pkvm_demand *d, uint64_t start, uint64_t end)
{
	size_t i = first_ending_after(d, start);

	return start < end && i < d->n && d->r[i].start < end;
}

bool pkvm_demand_covers(const struct pkvm_demand *d, uint64_t start, uint64_t end)
{
	for (size_t i = first_ending_after(d, start); start < end; i++) {
		if (i == d->n || d->r[i].start > start)
			return false;
		start = d->r[i].end;
	}
	return true;
}

int pkvm_demand_reserve(struct pkvm_demand *d)
{
	size_t cap;
	struct pkvm_demand_range *r;

	if (d->n + 2 <= d->cap)
		return 0;
	if (d->n + 2 > PKVM_DEMAND_MAX_RANGES)
		return -ENOMEM;
	cap = d->cap ? d->cap * 2 : 16;
	if (cap > PKVM_DEMAND_MAX_RANGES)
		cap = PKVM_DEMAND_MAX_RANGES;
	r = realloc(d->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	d->r = r;
	d->cap = cap;
	return 0;
}

static void insert_at(struct pkvm_demand *d, size_t i, const struct pkvm_demand_range *range)
{
	memmove(&d->r[i + 1], &d->r[i], (d->n - i) * sizeof(d->r[0]));
	d->r[i] = *range;
	d->n++;
}

static void remove_at(struct pkvm_demand *d, size_t i, size_t count)
{
	memmove(&d->r[i], &d->r[i + count], (d->n - i - count) * sizeof(d->r[0]));
	d->n -= count;
}

/* Cut the range holding @gva in two at @gva (room reserved). */
static void split_at(struct pkvm_demand *d, uint64_t gva)
{
	size_t i = first_ending_after(d, gva);
	struct pkvm_demand_range upper;

	if (i == d->n || d->r[i].start >= gva)
		return;
	upper = d->r[i];
	upper.start = gva;
	d->r[i].end = gva;
	insert_at(d, i + 1, &upper);
}

static bool same_attrs(const struct pkvm_demand_range *a, const struct pkvm_demand_range *b)
{
	return a->flags == b->flags && a->pkey == b->pkey;
}

/* Merge touching neighbours with the same attributes around [i, j]: the set stays small. */
static void merge_around(struct pkvm_demand *d, size_t i, size_t j)
{
	size_t k = i ? i - 1 : 0, last = j + 1 < d->n ? j + 1 : (d->n ? d->n - 1 : 0);

	while (k < last && k + 1 < d->n) {
		if (d->r[k].end == d->r[k + 1].start && same_attrs(&d->r[k], &d->r[k + 1])) {
			d->r[k].end = d->r[k + 1].end;
			remove_at(d, k + 1, 1);
			last--;
		} else {
			k++;
		}
	}
}

int pkvm_demand_add(struct pkvm_demand *d, uint64_t start, uint64_t end, uint64_t flags,
		    unsigned pkey)
{
	struct pkvm_demand_range range = { start, end, flags, pkey };
	size_t i;
	int err;

	if (start >= end)
		return -EINVAL;
	if (pkvm_demand_overlaps(d, start, end))
		return -EEXIST;
	err = pkvm_demand_reserve(d);
	if (err)
		return err;
	i = first_ending_after(d, start);
	insert_at(d, i, &range);
	merge_around(d, i, i);
	return 0;
}

/* Split at both ends of [start, end): the ranges inside are then [*first, *last). */
static int cut(struct pkvm_demand *d, uint64_t start, uint64_t end, size_t *first, size_t *last)
{
	int err = pkvm_demand_reserve(d);

	if (err)
		return err;
	split_at(d, start);
	split_at(d, end);
	*first = first_ending_after(d, start);
	*last = *first;
	while (*last < d->n && d->r[*last].start < end)
		(*last)++;
	return 0;
}

int pkvm_demand_remove(struct pkvm_demand *d, uint64_t start, uint64_t end)
{
	size_t first, last;
	int err;

	if (!pkvm_demand_overlaps(d, start, end))
		return 0;
	err = cut(d, start, end, &first, &last);
	if (!err)
		remove_at(d, first, last - first);
	return err;
}

static int set_attrs(struct pkvm_demand *d, uint64_t start, uint64_t end, const uint64_t *flags,
		     const unsigned *pkey)
{
	size_t first, last;
	int err;

	if (!pkvm_demand_overlaps(d, start, end))
		return 0;
	err = cut(d, start, end, &first, &last);
	if (err)
		return err;
	for (size_t i = first; i < last; i++) {
		if (flags)
			d->r[i].flags = *flags;
		if (pkey)
			d->r[i].pkey = *pkey;
	}
	merge_around(d, first, last - 1);
	return 0;
}

int pkvm_demand_set_flags(struct pkvm_demand *d, uint64_t start, uint64_t end, uint64_t flags)
{
	return set_attrs(d, start, end, &flags, NULL);
}

int pkvm_demand_set_pkey(struct pkvm_demand *d, uint64_t start, uint64_t end, unsigned pkey)
{
	return set_attrs(d, start, end, NULL, &pkey);
}
