/* pkeys.c: protection-key allocation and the precomputed permission/PK masks. */
#include <errno.h>

#include "pkeys.h"

/* SDM vol. 3A §4.6: may an access of this kind reach a page with these rights? */
static bool access_faults(const struct pkvm_mmu_mode *mode, unsigned access, unsigned pte_acc)
{
	bool write = access & PKVM_ACC_WRITE;
	bool user = access & PKVM_ACC_USER;
	bool fetch = access & PKVM_ACC_FETCH;
	bool smap_exempt = access & PKVM_ACC_SMAP_EXEMPT;
	/* Without EFER.NXE every page is executable (SDM §4.6), whatever pte_acc says. */
	bool x = !mode->nxe || (pte_acc & PKVM_PTE_ACC_X);
	bool w = pte_acc & PKVM_PTE_ACC_W;
	bool u = pte_acc & PKVM_PTE_ACC_U;

	if (user)
		return !u || (write && !w) || (fetch && !x);
	if (fetch)
		return !x || (mode->smep && u);
	if (mode->smap && u && !smap_exempt)
		return true;
	return write && mode->wp && !w;
}

/* SDM §4.6.2: which of AD/WD can deny this access to a page with this U bit? */
static unsigned pk_bits_that_matter(const struct pkvm_mmu_mode *mode, unsigned access, bool page_user)
{
	bool write = access & PKVM_ACC_WRITE;
	bool user = access & PKVM_ACC_USER;

	/* Keys never apply to fetches, to supervisor-mode addresses, or with PKE=0. */
	if (!mode->pke || (access & PKVM_ACC_FETCH) || !page_user)
		return 0;
	/* WD denies user writes always, supervisor writes only with CR0.WP=1. */
	return 1 | ((write && (user || mode->wp)) ? 2 : 0);
}

void pkvm_pkeys_compute_masks(struct pkvm_perm_masks *m, const struct pkvm_mmu_mode *mode)
{
	m->mode = *mode;
	m->pkru_mask = 0;
	for (unsigned index = 0; index < 16; index++) {
		unsigned access = index << 1;
		uint8_t bits = 0;

		for (unsigned pte_acc = 0; pte_acc < 8; pte_acc++)
			if (access_faults(mode, access, pte_acc))
				bits |= 1U << pte_acc;
		m->permissions[index] = bits;
		for (unsigned page_user = 0; page_user < 2; page_user++) {
			uint64_t pk = pk_bits_that_matter(mode, access, page_user);

			m->pkru_mask |= pk << (((index << 1) | page_user) * 2);
		}
	}
}

void pkvm_pkeys_init(struct pkvm_pkey_set *set)
{
	set->used = 1;	/* key 0: the default key of every mapping */
}

int pkvm_pkeys_alloc(struct pkvm_pkey_set *set)
{
	for (int pkey = 1; pkey < PKVM_NR_PKEYS; pkey++) {
		if (!(set->used & (1U << pkey))) {
			set->used |= 1U << pkey;
			return pkey;
		}
	}
	return -ENOSPC;
}

int pkvm_pkeys_claim(struct pkvm_pkey_set *set, int pkey)
{
	if (pkey <= 0 || pkey >= PKVM_NR_PKEYS)
		return -EINVAL;
	if (set->used & (1U << pkey))
		return -EBUSY;
	set->used |= 1U << pkey;
	return pkey;
}

int pkvm_pkeys_free(struct pkvm_pkey_set *set, int pkey)
{
	if (pkey <= 0 || pkey >= PKVM_NR_PKEYS || !(set->used & (1U << pkey)))
		return -EINVAL;
	set->used &= ~(1U << pkey);
	return 0;
}

bool pkvm_pkeys_is_allocated(const struct pkvm_pkey_set *set, int pkey)
{
	return pkey >= 0 && pkey < PKVM_NR_PKEYS && (set->used & (1U << pkey));
}
