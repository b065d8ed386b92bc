/* vmas.c: sets of page ranges of the guest address space (handed out; PROT_NONE; file-backed). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "personality.h"

/* Index of the first range that ends after @addr. */
static unsigned first_after(const struct lx_vmaset *lx, uint64_t addr)
{
	unsigned lo = 0, hi = lx->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (lx->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct lx_vmaset *lx, unsigned n)
{
	struct lx_vma *v;
	unsigned cap;

	if (n <= lx->cap)
		return 0;
	if (n > LX_MAX_VMAS)
		return -ENOMEM;		/* as Linux says past vm.max_map_count */
	cap = lx->cap ? lx->cap * 2 : 64;
	if (cap > LX_MAX_VMAS)
		cap = LX_MAX_VMAS;
	if (cap < n)
		cap = n;
	v = realloc(lx->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	lx->v = v;
	lx->cap = cap;
	return 0;
}

bool lx_vma_overlaps(const struct lx_vmaset *lx, uint64_t start, uint64_t end)
{
	unsigned i = first_after(lx, start);

	return i < lx->n && lx->v[i].start < end;
}

bool lx_vma_covered(const struct lx_vmaset *lx, uint64_t start, uint64_t end)
{
	unsigned i = first_after(lx, start);

	for (; i < lx->n && start < end; i++) {
		if (lx->v[i].start > start)
			return false;
		start = lx->v[i].end;
	}
	return start >= end;
}

uint64_t lx_vma_total(const struct lx_vmaset *lx)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < lx->n; i++)
		total += lx->v[i].end - lx->v[i].start;
	return total;
}

int lx_vma_add(struct lx_vmaset *lx, uint64_t start, uint64_t end)
{
	unsigned i = first_after(lx, start > 0 ? start - 1 : 0), j = i;
	int err;

	/* Ranges [i, j) touch or overlap the new one: they merge into it. */
	while (j < lx->n && lx->v[j].start <= end)
		j++;
	if (i < j) {
		if (lx->v[i].start < start)
			start = lx->v[i].start;
		if (lx->v[j - 1].end > end)
			end = lx->v[j - 1].end;
		lx->v[i] = (struct lx_vma){ .start = start, .end = end };
		memmove(&lx->v[i + 1], &lx->v[j], (lx->n - j) * sizeof(*lx->v));
		lx->n -= j - i - 1;
		return 0;
	}
	err = reserve(lx, lx->n + 1);
	if (err)
		return err;
	memmove(&lx->v[i + 1], &lx->v[i], (lx->n - i) * sizeof(*lx->v));
	lx->v[i] = (struct lx_vma){ .start = start, .end = end };
	lx->n++;
	return 0;
}

int lx_vma_add_file(struct lx_vmaset *lx, uint64_t start, uint64_t end, struct lx_file *file,
		    uint64_t offset)
{
	unsigned i = first_after(lx, start);
	int err;

	if (i < lx->n && lx->v[i].start < end)
		return -EEXIST;
	err = reserve(lx, lx->n + 1);
	if (err)
		return err;
	memmove(&lx->v[i + 1], &lx->v[i], (lx->n - i) * sizeof(*lx->v));
	lx->v[i] = (struct lx_vma){ start, end, file, offset };
	lx->n++;
	file->refs++;
	return 0;
}

/* Does removing [start, end) cut one range in two? */
static bool splits(const struct lx_vmaset *lx, uint64_t start, uint64_t end, unsigned *at)
{
	unsigned i = first_after(lx, start);

	*at = i;
	return i < lx->n && lx->v[i].start < start && lx->v[i].end > end;
}

int lx_vma_remove_prepare(struct lx_vmaset *lx, uint64_t start, uint64_t end)
{
	unsigned i;

	return splits(lx, start, end, &i) ? reserve(lx, lx->n + 1) : 0;
}

/* Drop the front of range @v up to @to: a file range's offset moves with its start. */
static void trim_front(struct lx_vma *v, uint64_t to)
{
	v->offset += to - v->start;
	v->start = to;
}

int lx_vma_remove(struct lx_vmaset *lx, uint64_t start, uint64_t end)
{
	unsigned i, j;
	int err;

	if (splits(lx, start, end, &i)) {
		/* A hole in the middle of one range: it becomes two, each holding the file. */
		err = reserve(lx, lx->n + 1);
		if (err)
			return err;
		memmove(&lx->v[i + 1], &lx->v[i], (lx->n - i) * sizeof(*lx->v));
		lx->n++;
		lx->v[i].end = start;
		trim_front(&lx->v[i + 1], end);
		if (lx->v[i].file)
			lx->v[i].file->refs++;
		return 0;
	}
	if (i < lx->n && lx->v[i].start < start) {
		lx->v[i].end = start;
		i++;
	}
	for (j = i; j < lx->n && lx->v[j].end <= end; j++)
		lx_file_put(lx->v[j].file);
	if (j < lx->n && lx->v[j].start < end)
		trim_front(&lx->v[j], end);
	if (j == i)
		return 0;	/* nothing removed (and v may be NULL: no memmove) */
	memmove(&lx->v[i], &lx->v[j], (lx->n - j) * sizeof(*lx->v));
	lx->n -= j - i;
	return 0;
}

int lx_vma_each(const struct lx_vmaset *lx, uint64_t start, uint64_t end,
		int (*fn)(void *ctx, const struct lx_vma *part), void *ctx)
{
	for (unsigned i = first_after(lx, start); i < lx->n && lx->v[i].start < end; i++) {
		struct lx_vma part = lx->v[i];
		int err;

		if (part.start < start)
			trim_front(&part, start);
		if (part.end > end)
			part.end = end;
		err = fn(ctx, &part);
		if (err)
			return err;
	}
	return 0;
}

int lx_vma_find_free(const struct lx_vmaset *lx, uint64_t len, uint64_t floor, uint64_t top,
		     uint64_t *addr)
{
	/* Top-down, as Linux's default mmap layout: the highest gap that fits. */
	unsigned i = first_after(lx, top > 0 ? top - 1 : 0);
	uint64_t hi = top;

	if (i < lx->n && lx->v[i].start < hi)
		hi = lx->v[i].start;
	for (;;) {
		uint64_t lo = i > 0 ? lx->v[i - 1].end : floor;

		if (lo < floor)
			lo = floor;
		if (hi >= lo && hi - lo >= len) {
			*addr = hi - len;
			return 0;
		}
		if (i == 0 || lx->v[i - 1].end <= floor)
			return -ENOMEM;
		i--;
		hi = lx->v[i].start;
	}
}

int lx_vma_each_gap(const struct lx_vmaset *lx, uint64_t start, uint64_t end,
		    int (*fn)(void *ctx, uint64_t start, uint64_t end), void *ctx)
{
	uint64_t at = start;
	int err;

	for (unsigned i = first_after(lx, start); i < lx->n && lx->v[i].start < end; i++) {
		if (lx->v[i].start > at) {
			err = fn(ctx, at, lx->v[i].start);
			if (err)
				return err;
		}
		at = lx->v[i].end;
	}
	return at < end ? fn(ctx, at, end) : 0;
}

int lx_vma_copy_files(struct lx_vmaset *lx, uint64_t start, uint64_t end, uint64_t to)
{
	unsigned first = first_after(lx, start), n = 0;
	struct lx_vma *parts;
	int err = 0;

	while (first + n < lx->n && lx->v[first + n].start < end)
		n++;
	if (!n)
		return 0;
	/* Taken aside first: adding ranges moves the ones being read. */
	parts = malloc(n * sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		parts[i] = lx->v[first + i];
		if (parts[i].start < start)
			trim_front(&parts[i], start);
		if (parts[i].end > end)
			parts[i].end = end;
	}
	for (unsigned i = 0; i < n && !err; i++)
		err = lx_vma_add_file(lx, to + (parts[i].start - start), to + (parts[i].end - start),
				      parts[i].file, parts[i].offset);
	free(parts);
	if (err)
		lx_vma_remove(lx, to, to + (end - start));	/* no split: nothing lies across */
	return err;
}

void lx_vmaset_destroy(struct lx_vmaset *lx)
{
	for (unsigned i = 0; i < lx->n; i++)
		lx_file_put(lx->v[i].file);
	free(lx->v);
	lx->v = NULL;
	lx->n = lx->cap = 0;
}
