/*
 * demand.h: demand-backed memory, the ranges.  A range is mapped with rights
 * and a key but no frames: each page gets a zeroed frame the first time it
 * is touched (memory.c: pkvm_demand_fill()), so reserving address space
 * costs nothing until it is used.  The set holds what is reserved; the page
 * tables hold the pages filled so far.
 */
#ifndef PKVM_DEMAND_H
#define PKVM_DEMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* As Linux's vm.max_map_count: a guest alternating rights page by page stops here. */
#define PKVM_DEMAND_MAX_RANGES	65530

struct pkvm_demand_range {
	uint64_t start, end;		/* page-aligned, [start, end) */
	uint64_t flags;			/* leaf flags, PKVM_PT_FLAGS */
	unsigned pkey;
};

/* Sorted by address, never overlapping; neighbours with equal attributes are merged. */
struct pkvm_demand {
	struct pkvm_demand_range *r;
	size_t n, cap;
};

void pkvm_demand_init(struct pkvm_demand *d);
void pkvm_demand_destroy(struct pkvm_demand *d);
/* Replace @dst's ranges by a copy of @src's (snapshots); -ENOMEM leaves @dst as it was. */
int pkvm_demand_copy(struct pkvm_demand *dst, const struct pkvm_demand *src);

/* The range holding @gva, or NULL. */
const struct pkvm_demand_range *pkvm_demand_find(const struct pkvm_demand *d, uint64_t gva);
/* The first range that ends after @gva (it may start after it too), or NULL. */
const struct pkvm_demand_range *pkvm_demand_next(const struct pkvm_demand *d, uint64_t gva);
/* Does any range meet [start, end)? */
bool pkvm_demand_overlaps(const struct pkvm_demand *d, uint64_t start, uint64_t end);
/* Is every page of [start, end) in a range? */
bool pkvm_demand_covers(const struct pkvm_demand *d, uint64_t start, uint64_t end);

/*
 * Make sure the next change cannot fail for room: a change splits at most
 * two ranges.  0 or -ENOMEM (PKVM_DEMAND_MAX_RANGES reached included).
 */
int pkvm_demand_reserve(struct pkvm_demand *d);

/*
 * Add [start, end), which must meet no range (-EEXIST), with @flags and
 * @pkey.  Remove [start, end) from every range (holes are fine).  Set the
 * flags, or the key, of what ranges hold of [start, end).  Each returns 0,
 * or -ENOMEM with nothing changed; after pkvm_demand_reserve() they cannot
 * fail for room.
 */
int pkvm_demand_add(struct pkvm_demand *d, uint64_t start, uint64_t end, uint64_t flags,
		    unsigned pkey);
int pkvm_demand_remove(struct pkvm_demand *d, uint64_t start, uint64_t end);
int pkvm_demand_set_flags(struct pkvm_demand *d, uint64_t start, uint64_t end, uint64_t flags);
int pkvm_demand_set_pkey(struct pkvm_demand *d, uint64_t start, uint64_t end, unsigned pkey);

#endif /* PKVM_DEMAND_H */
