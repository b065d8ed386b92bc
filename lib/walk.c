/* walk.c: the software page walker, for host code that acts on guest virtual addresses. */
#include <errno.h>
#include <string.h>

#include "walk.h"

void pkvm_walk_ctx_init(struct pkvm_walk_ctx *ctx, const struct pkvm_gmem *mem,
			const struct pkvm_mmu_mode *mode, unsigned maxphyaddr, bool gbpages)
{
	ctx->mem = mem;
	pkvm_pkeys_compute_masks(&ctx->masks, mode);
	ctx->maxphyaddr = maxphyaddr < 32 || maxphyaddr > 52 ? 52 : maxphyaddr;
	ctx->gbpages = gbpages;
}

/* Reserved bits of an entry at @level (4 = PML4E) per SDM vol. 3A tables 4-14..4-20. */
static uint64_t reserved_bits(const struct pkvm_walk_ctx *ctx, unsigned level, bool large)
{
	uint64_t rsvd = (1ULL << 52) - (1ULL << ctx->maxphyaddr);	/* bits 51:MAXPHYADDR */

	if (!ctx->masks.mode.nxe)
		rsvd |= PTE_NX;
	if (level == 4)
		rsvd |= PTE_PS;
	else if (level == 3 && large)
		rsvd |= ctx->gbpages ? 0x3fffe000ULL : PTE_PS;	/* bits 29:13 */
	else if (level == 2 && large)
		rsvd |= 0x1fe000ULL;				/* bits 20:13 */
	return rsvd;
}

static uint64_t frame_of(const struct pkvm_walk_ctx *ctx, uint64_t entry, unsigned level, bool large)
{
	uint64_t addr = entry & ((1ULL << ctx->maxphyaddr) - 1);

	if (!large)
		return addr & PTE_ADDR_MASK_52;
	return addr & ~((1ULL << (PAGE_SHIFT + 9 * (level - 1))) - 1);
}

int pkvm_walk(const struct pkvm_walk_ctx *ctx, uint64_t cr3, uint64_t gva, unsigned access,
	      uint32_t pkru, struct pkvm_walk *w)
{
	const struct pkvm_mmu_mode *mode = &ctx->masks.mode;
	unsigned pte_acc = PKVM_PTE_ACC_X | PKVM_PTE_ACC_W | PKVM_PTE_ACC_U;
	uint64_t table = cr3 & PTE_ADDR_MASK_52 & ((1ULL << ctx->maxphyaddr) - 1);
	/* The I/D bit is only reported when NXE or SMEP make fetches special (§4.7). */
	bool report_fetch = (access & PKVM_ACC_FETCH) && (mode->nxe || mode->smep);
	uint32_t pfec = (access & (PFEC_W | PFEC_U)) | (report_fetch ? PFEC_I : 0);

	memset(w, 0, sizeof(*w));
	if (!pkvm_gva_is_canonical(gva))
		return -EINVAL;

	for (unsigned level = 4; level >= 1; level--) {
		unsigned shift = PAGE_SHIFT + 9 * (level - 1);
		uint64_t entry_gpa = table + ((gva >> shift) & 511) * 8;
		uint64_t entry;
		bool large;

		/* Page-table contents are untrusted: bound every table reference. */
		if (entry_gpa > ctx->mem->size - 8 || ctx->mem->size < 8)
			return -ERANGE;
		memcpy(&entry, ctx->mem->base + entry_gpa, sizeof(entry));

		if (!(entry & PTE_P)) {
			w->pfec = pfec;
			return -EFAULT;
		}
		large = level == 1 || ((level == 2 || level == 3) && (entry & PTE_PS));
		if (entry & reserved_bits(ctx, level, large && level != 1)) {
			w->pfec = pfec | PFEC_P | PFEC_RSVD;
			return -EFAULT;
		}
		if (!(entry & PTE_W))
			pte_acc &= ~PKVM_PTE_ACC_W;
		if (!(entry & PTE_U))
			pte_acc &= ~PKVM_PTE_ACC_U;
		if (mode->nxe && (entry & PTE_NX))
			pte_acc &= ~PKVM_PTE_ACC_X;

		if (large) {
			uint64_t frame = frame_of(ctx, entry, level, level != 1);
			uint32_t fault;

			w->leaf = entry;
			w->level = level;
			w->pkey = (entry & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT;
			w->pte_acc = pte_acc;
			fault = pkvm_pkeys_check(&ctx->masks, access, pte_acc, w->pkey, pkru);
			if (fault) {
				w->pfec = pfec | fault;
				return -EFAULT;
			}
			w->gpa = frame | (gva & ((1ULL << shift) - 1));
			return 0;
		}
		table = frame_of(ctx, entry, level, false);
	}
	return -EFAULT;	/* not reached: level 1 is always a leaf */
}
