/* pkeys.h: protection-key allocation, PKRU arithmetic and precomputed permission masks. */
#ifndef PKVM_PKEYS_H
#define PKVM_PKEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "x86.h"

#define PKVM_NR_PKEYS		16

/*
 * An access, described with page-fault error-code bits so that the walker can
 * report it back unchanged: PFEC_W for a write, PFEC_U for a user-mode access,
 * PFEC_I for an instruction fetch.  PKVM_ACC_SMAP_EXEMPT marks an *explicit*
 * supervisor data access made with EFLAGS.AC=1, which SMAP lets through
 * (SDM vol. 3A §4.6.1); it reuses the RSVD position, as KVM does, because an
 * access can never itself be "reserved".
 */
#define PKVM_ACC_WRITE		PFEC_W
#define PKVM_ACC_USER		PFEC_U
#define PKVM_ACC_SMAP_EXEMPT	PFEC_RSVD
#define PKVM_ACC_FETCH		PFEC_I
#define PKVM_ACC_MASK		(PKVM_ACC_WRITE | PKVM_ACC_USER | \
				 PKVM_ACC_SMAP_EXEMPT | PKVM_ACC_FETCH)

/* Effective rights of a translation: the AND over every level's entry. */
#define PKVM_PTE_ACC_X		(1U << 0)	/* executable: no level has XD */
#define PKVM_PTE_ACC_W		(1U << 1)	/* writable: R/W=1 at every level */
#define PKVM_PTE_ACC_U		(1U << 2)	/* user: U/S=1 at every level */

/* The paging controls that change permission decisions. */
struct pkvm_mmu_mode {
	bool wp;	/* CR0.WP */
	bool smep;	/* CR4.SMEP */
	bool smap;	/* CR4.SMAP */
	bool pke;	/* CR4.PKE (or the soft backend standing in for it) */
	bool nxe;	/* EFER.NXE */
};

/*
 * KVM's idea (arch/x86/kvm/mmu/mmu.c: update_permission_bitmask and
 * update_pkru_bitmask): turn every rule of SDM §4.6 into table look-ups, so a
 * decision costs a shift and an AND, with no branch per rule.
 */
struct pkvm_perm_masks {
	/* [access index]: bit n set if effective rights n fault. */
	uint8_t permissions[16];
	/* 2 bits (AD, WD) per (access index, page U bit): which PKRU bits matter. */
	uint64_t pkru_mask;
	struct pkvm_mmu_mode mode;
};

void pkvm_pkeys_compute_masks(struct pkvm_perm_masks *m, const struct pkvm_mmu_mode *mode);

/*
 * The permission decision for one access to a translation with effective
 * rights @pte_acc and protection key @pkey under @pkru.  Returns 0 if allowed,
 * otherwise the error-code bits it adds: PFEC_P, plus PFEC_PK when the key
 * denied it (whether or not the page rights also did).
 */
static inline uint32_t pkvm_pkeys_check(const struct pkvm_perm_masks *m, unsigned access,
					unsigned pte_acc, unsigned pkey, uint32_t pkru)
{
	unsigned index = (access & PKVM_ACC_MASK) >> 1;
	uint32_t fault = (m->permissions[index] >> pte_acc) & 1;
	unsigned shift = ((index << 1) | !!(pte_acc & PKVM_PTE_ACC_U)) * 2;
	uint32_t pk = (pkru >> (2 * (pkey & 15))) & (m->pkru_mask >> shift) & 3;

	return (fault | !!pk) * PFEC_P | !!pk * PFEC_PK;
}

/* PKRU encoding: AD of key k is bit 2k, WD bit 2k+1. */
static inline uint32_t pkvm_pkru_ad(unsigned pkey) { return 1U << (2 * pkey); }
static inline uint32_t pkvm_pkru_wd(unsigned pkey) { return 2U << (2 * pkey); }

/* Key allocation: a bitmap of keys in use; key 0 is always allocated. */
struct pkvm_pkey_set {
	uint16_t used;
};

void pkvm_pkeys_init(struct pkvm_pkey_set *set);
int pkvm_pkeys_alloc(struct pkvm_pkey_set *set);
/* Allocate exactly @pkey (1..15): returns it, -EBUSY if taken, -EINVAL out of range. */
int pkvm_pkeys_claim(struct pkvm_pkey_set *set, int pkey);
int pkvm_pkeys_free(struct pkvm_pkey_set *set, int pkey);
bool pkvm_pkeys_is_allocated(const struct pkvm_pkey_set *set, int pkey);

#endif /* PKVM_PKEYS_H */
