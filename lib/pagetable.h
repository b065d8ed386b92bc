/* pagetable.h: building 4-level guest page tables in a guest-physical pool. */
#ifndef PKVM_PAGETABLE_H
#define PKVM_PAGETABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "walk.h"

/*
 * The tables live in a pool of guest-physical pages that the guest never maps,
 * so CPL3 code cannot reach them and the host is their only writer.
 */
struct pkvm_pt {
	const struct pkvm_gmem *mem;
	uint64_t pool_gpa;
	uint64_t pool_pages;
	uint64_t *pool_used;		/* bitmap, one bit per pool page */
	uint64_t pool_in_use;
	uint64_t root;			/* gpa of the PML4 */
	bool changed;			/* entries changed or removed since the owner last cleared it */
	bool allow_huge;		/* map with 2 MiB pages where aligned */
	uint64_t *dirty;		/* if set: a bit per guest page the builder writes */
};

/* Leaf attributes a caller may ask for; everything else is the builder's. */
#define PKVM_PT_FLAGS		(PTE_W | PTE_U | PTE_NX | PTE_G)

int pkvm_pt_init(struct pkvm_pt *pt, const struct pkvm_gmem *mem, uint64_t pool_gpa,
		 uint64_t pool_pages);
void pkvm_pt_destroy(struct pkvm_pt *pt);

/*
 * Map [gva, gva + size) onto [gpa, gpa + size): page-aligned, canonical, none
 * of it mapped yet (-EEXIST otherwise).  @flags from PKVM_PT_FLAGS.  Atomic:
 * on failure nothing is left mapped.
 */
int pkvm_pt_map(struct pkvm_pt *pt, uint64_t gva, uint64_t gpa, uint64_t size, uint64_t flags,
		unsigned pkey);

/*
 * 0 if nothing in [gva, gva + size) is mapped, else -EEXIST; -EINVAL for a bad
 * range.  Costs the tables that exist, not the size of the range.
 */
int pkvm_pt_check_free(struct pkvm_pt *pt, uint64_t gva, uint64_t size);

/*
 * Remove every mapping in [gva, gva + size); holes are fine.  @release is told
 * each guest-physical range that stops being mapped.  Tables left empty are
 * returned to the pool.  Only fails (-ENOMEM) when splitting a 2 MiB page
 * needs a table page and the pool is empty; nothing is removed then.
 */
int pkvm_pt_unmap(struct pkvm_pt *pt, uint64_t gva, uint64_t size,
		  void (*release)(void *ctx, uint64_t gpa, uint64_t size), void *ctx);

/*
 * Change the PKVM_PT_FLAGS of a fully mapped range.  -ENOMEM, with nothing
 * changed, if any of it is not mapped or a 2 MiB page at an end cannot be split.
 */
int pkvm_pt_protect(struct pkvm_pt *pt, uint64_t gva, uint64_t size, uint64_t flags);

/* Change the protection key of a fully mapped range; fails as pkvm_pt_protect() does. */
int pkvm_pt_set_pkey(struct pkvm_pt *pt, uint64_t gva, uint64_t size, unsigned pkey);

/*
 * The same, for what is mapped of [gva, gva + size): holes are left alone
 * (demand-backed memory not filled yet).  -ENOMEM only when a 2 MiB page at
 * an end cannot be split.
 */
int pkvm_pt_protect_mapped(struct pkvm_pt *pt, uint64_t gva, uint64_t size, uint64_t flags);
int pkvm_pt_set_pkey_mapped(struct pkvm_pt *pt, uint64_t gva, uint64_t size, unsigned pkey);

/* Pool pages for other tables built from these (the soft backend's views). */
int pkvm_pt_alloc_page(struct pkvm_pt *pt, uint64_t *gpa);	/* zeroed; -ENOMEM */
void pkvm_pt_free_page(struct pkvm_pt *pt, uint64_t gpa);
/* The host's view of the table page at @gpa (which must be a pool page). */
uint64_t *pkvm_pt_table(const struct pkvm_pt *pt, uint64_t gpa);

/* The leaf entry mapping @gva and its level, or -ENOENT. */
int pkvm_pt_lookup(const struct pkvm_pt *pt, uint64_t gva, uint64_t *leaf, unsigned *level);

/*
 * The guest-physical address of byte @gva and the leaf that maps it, whatever
 * its rights: -ENOENT when unmapped, -ERANGE when the frame lies outside guest
 * memory.
 */
int pkvm_pt_translate(const struct pkvm_pt *pt, uint64_t gva, uint64_t *gpa, uint64_t *leaf);

/*
 * Call @fn for each mapped leaf that [gva, gva + size) touches, in address
 * order, with the part of the range it maps ([start, end)) and the leaf
 * entry; a non-zero return stops the walk and is returned.  User half only
 * (-EINVAL otherwise).  Costs the tables that exist, not the size of the
 * range: what a guest-chosen length may cost the host.
 */
typedef int (*pkvm_pt_leaf_fn)(void *ctx, uint64_t start, uint64_t end, uint64_t leaf);
int pkvm_pt_for_each_leaf(const struct pkvm_pt *pt, uint64_t gva, uint64_t size,
			  pkvm_pt_leaf_fn fn, void *ctx);

#endif /* PKVM_PAGETABLE_H */
