/* vmas.c: sets of page ranges of the guest address space (handed out; PROT_NONE). */
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
		lx->v[i] = (struct lx_vma){ start, end };
		memmove(&lx->v[i + 1], &lx->v[j], (lx->n - j) * sizeof(*lx->v));
		lx->n -= j - i - 1;
		return 0;
	}
	err = reserve(lx, lx->n + 1);
	if (err)
		return err;
	memmove(&lx->v[i + 1], &lx->v[i], (lx->n - i) * sizeof(*lx->v));
	lx->v[i] = (struct lx_vma){ start, end };
	lx->n++;
	return 0;
}

int lx_vma_remove(struct lx_vmaset *lx, uint64_t start, uint64_t end)
{
	unsigned i = first_after(lx, start);
	int err;

	if (i < lx->n && lx->v[i].start < start && lx->v[i].end > end) {
		/* A hole in the middle of one range: it becomes two. */
		err = reserve(lx, lx->n + 1);
		if (err)
			return err;
		memmove(&lx->v[i + 1], &lx->v[i], (lx->n - i) * sizeof(*lx->v));
		lx->n++;
		lx->v[i].end = start;
		lx->v[i + 1].start = end;
		return 0;
	}
	if (i < lx->n && lx->v[i].start < start) {
		lx->v[i].end = start;
		i++;
	}
	unsigned j = i;

	while (j < lx->n && lx->v[j].end <= end)
		j++;
	if (j < lx->n && lx->v[j].start < end)
		lx->v[j].start = end;
	if (j == i)
		return 0;	/* nothing removed (and v may be NULL: no memmove) */
	memmove(&lx->v[i], &lx->v[j], (lx->n - j) * sizeof(*lx->v));
	lx->n -= j - i;
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

void lx_vmaset_destroy(struct lx_vmaset *lx)
{
	free(lx->v);
	lx->v = NULL;
	lx->n = lx->cap = 0;
}
