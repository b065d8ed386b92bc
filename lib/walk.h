/* walk.h: the software page walker (gva -> gpa with the full architectural permission check). */
#ifndef PKVM_WALK_H
#define PKVM_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkeys.h"

/* Guest-physical memory as the host sees it: one flat mapping from gpa 0. */
struct pkvm_gmem {
	uint8_t *base;
	uint64_t size;
};

/* Everything besides the tables themselves that a walk depends on. */
struct pkvm_walk_ctx {
	const struct pkvm_gmem *mem;
	struct pkvm_perm_masks masks;	/* from the paging mode, see pkeys.h */
	unsigned maxphyaddr;		/* CPUID 0x80000008 EAX[7:0] */
	bool gbpages;			/* 1 GiB pages allowed (CPUID PDPE1GB) */
};

struct pkvm_walk {
	uint64_t gpa;		/* the translation (valid when the walk returns 0) */
	uint64_t leaf;		/* the entry that maps the page */
	unsigned level;		/* of that entry: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
	unsigned pkey;		/* bits 62:59 of the leaf */
	unsigned pte_acc;	/* effective rights, PKVM_PTE_ACC_* */
	uint32_t pfec;		/* the error code the CPU would push (on -EFAULT) */
};

/* A @maxphyaddr outside the architectural 32..52 is taken as 52. */
void pkvm_walk_ctx_init(struct pkvm_walk_ctx *ctx, const struct pkvm_gmem *mem,
			const struct pkvm_mmu_mode *mode, unsigned maxphyaddr, bool gbpages);

/*
 * Translate @gva for an access of kind @access (PKVM_ACC_*) under @pkru,
 * reading the 4-level tables rooted at @cr3 as untrusted data.
 *
 * Returns 0 with @w filled; -EFAULT for a page fault, with w->pfec exactly as
 * the CPU would report it (and w->leaf/level/pkey set when a leaf was reached);
 * -EINVAL for a non-canonical @gva (the CPU raises #GP, not #PF); -ERANGE when
 * a table or entry lies outside guest memory.
 */
int pkvm_walk(const struct pkvm_walk_ctx *ctx, uint64_t cr3, uint64_t gva, unsigned access,
	      uint32_t pkru, struct pkvm_walk *w);

static inline bool pkvm_gva_is_canonical(uint64_t gva)
{
	return (uint64_t)((int64_t)(gva << 16) >> 16) == gva;
}

#endif /* PKVM_WALK_H */
