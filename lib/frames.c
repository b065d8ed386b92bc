/* frames.c: allocation of the guest-physical frames behind user mappings. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "frames.h"
#include "x86.h"

int pkvm_frames_init(struct pkvm_frames *f, uint64_t base, uint64_t size)
{
	f->base = base;
	f->count = size / PAGE_SIZE;
	f->free = f->count;
	f->used = calloc((f->count + 63) / 64 + 1, sizeof(uint64_t));
	return f->used ? 0 : -ENOMEM;
}

void pkvm_frames_destroy(struct pkvm_frames *f)
{
	free(f->used);
	f->used = NULL;
}

static bool frame_used(const struct pkvm_frames *f, uint64_t i)
{
	return f->used[i / 64] & (1ULL << (i % 64));
}

static void mark(struct pkvm_frames *f, uint64_t first, uint64_t n, bool used)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (used)
			f->used[i / 64] |= 1ULL << (i % 64);
		else
			f->used[i / 64] &= ~(1ULL << (i % 64));
	}
	f->free = used ? f->free - n : f->free + n;
}

/* First fit over runs whose start gpa is a multiple of @align. */
static int find_run(const struct pkvm_frames *f, uint64_t n, uint64_t align, uint64_t *first)
{
	uint64_t step = align / PAGE_SIZE;
	uint64_t start = ((f->base + align - 1) / align * align - f->base) / PAGE_SIZE;

	for (uint64_t i = start; i + n <= f->count; i += step) {
		uint64_t j;

		if (f->used[i / 64] == ~0ULL && step == 1) {
			i = (i | 63);	/* a full word: skip it whole */
			continue;
		}
		for (j = 0; j < n && !frame_used(f, i + j); j++)
			;
		if (j == n) {
			*first = i;
			return 0;
		}
		if (step == 1)
			i += j;	/* the run broke at i + j: restart after it */
	}
	return -ENOMEM;
}

int pkvm_frames_alloc(struct pkvm_frames *f, uint64_t size, uint64_t *gpa)
{
	uint64_t n = size / PAGE_SIZE;
	uint64_t first;

	if (n == 0 || n > f->free)
		return -ENOMEM;
	if (!(size >= (1ULL << 21) && find_run(f, n, 1ULL << 21, &first) == 0) &&
	    find_run(f, n, PAGE_SIZE, &first))
		return -ENOMEM;
	if (f->budget && !pkvm_frames_charge(f->budget, n))
		return -ENOMEM;
	mark(f, first, n, true);
	*gpa = f->base + first * PAGE_SIZE;
	return 0;
}

void pkvm_frames_release(struct pkvm_frames *f, uint64_t gpa, uint64_t size)
{
	if (gpa < f->base || size / PAGE_SIZE > f->count ||
	    (gpa - f->base) / PAGE_SIZE > f->count - size / PAGE_SIZE)
		return;	/* not ours: never let a bad range corrupt the bitmap */
	mark(f, (gpa - f->base) / PAGE_SIZE, size / PAGE_SIZE, false);
	if (f->budget)
		atomic_fetch_add(f->budget, size / PAGE_SIZE);
}

bool pkvm_frames_charge(_Atomic uint64_t *budget, uint64_t n)
{
	uint64_t left = atomic_load(budget);

	do {
		if (left < n)
			return false;
	} while (!atomic_compare_exchange_weak(budget, &left, left - n));
	return true;
}
