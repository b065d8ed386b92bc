/* xsave.c: the XSAVE layout from CPUID leaf 0xD, and PKRU inside a KVM_GET/SET_XSAVE buffer. */
#include <errno.h>
#include <string.h>

#include "cpuid.h"
#include "x86.h"
#include "xsave.h"

int pkvm_xsave_layout_init(struct pkvm_xsave_layout *layout, struct kvm_cpuid_entry2 *entries,
			   unsigned nent)
{
	struct kvm_cpuid_entry2 *e = pkvm_cpuid_find(entries, nent, 0xd, 0);

	memset(layout, 0, sizeof(*layout));
	if (!e)
		return -ENOENT;
	layout->supported_xcr0 = e->eax | (uint64_t)e->edx << 32;
	layout->max_size = e->ecx;
	/* x87 and SSE live in the legacy area at fixed places (SDM vol. 1 §13.4.1). */
	layout->feature[XFEATURE_X87].size = 160;
	layout->feature[XFEATURE_SSE].offset = 160;
	layout->feature[XFEATURE_SSE].size = 256;
	for (unsigned f = 2; f < PKVM_XSAVE_MAX_FEATURES; f++) {
		if (!(layout->supported_xcr0 & XFEATURE_MASK(f)))
			continue;
		e = pkvm_cpuid_find(entries, nent, 0xd, f);
		if (!e || !e->eax)
			return -EINVAL;
		/* A component must sit after the header and inside the whole area. */
		if (e->ebx < XSAVE_HDR_OFFSET + 64 || e->eax > layout->max_size ||
		    e->ebx > layout->max_size - e->eax)
			return -EINVAL;
		layout->feature[f].offset = e->ebx;
		layout->feature[f].size = e->eax;
	}
	return 0;
}

uint64_t pkvm_xsave_guest_xcr0(const struct pkvm_xsave_layout *layout, int want_pkru,
			       size_t buf_size)
{
	const uint64_t avx512 = XFEATURE_MASK(XFEATURE_OPMASK) | XFEATURE_MASK(XFEATURE_ZMM_HI256) |
				XFEATURE_MASK(XFEATURE_HI16_ZMM);
	uint64_t want = XFEATURE_MASK(XFEATURE_X87) | XFEATURE_MASK(XFEATURE_SSE) |
			XFEATURE_MASK(XFEATURE_YMM) | avx512;
	uint64_t xcr0;

	if (want_pkru)
		want |= XFEATURE_MASK(XFEATURE_PKRU);
	xcr0 = layout->supported_xcr0 & want;
	if ((xcr0 & avx512) != avx512 || !(xcr0 & XFEATURE_MASK(XFEATURE_YMM)))
		xcr0 &= ~avx512;	/* XCR0 must enable the AVX-512 trio as one, over AVX */
	for (unsigned f = 2; f < PKVM_XSAVE_MAX_FEATURES; f++)
		if ((xcr0 & XFEATURE_MASK(f)) &&
		    layout->feature[f].offset + (size_t)layout->feature[f].size > buf_size)
			xcr0 &= ~XFEATURE_MASK(f);
	if ((xcr0 & avx512) != avx512 || !(xcr0 & XFEATURE_MASK(XFEATURE_YMM)))
		xcr0 &= ~avx512;
	return xcr0 | XFEATURE_MASK(XFEATURE_X87);
}

static int pkru_slot(const struct pkvm_xsave_layout *layout, size_t size, uint32_t *offset)
{
	if (!(layout->supported_xcr0 & XFEATURE_MASK(XFEATURE_PKRU)))
		return -EOPNOTSUPP;
	*offset = layout->feature[XFEATURE_PKRU].offset;
	if (layout->feature[XFEATURE_PKRU].size < 4 || size < XSAVE_HDR_OFFSET + 8 ||
	    *offset > size - 4)
		return -EINVAL;
	return 0;
}

int pkvm_xsave_get_pkru(const struct pkvm_xsave_layout *layout, const void *buf, size_t size,
			uint32_t *pkru)
{
	uint64_t xstate_bv;
	uint32_t offset;
	int err = pkru_slot(layout, size, &offset);

	if (err)
		return err;
	memcpy(&xstate_bv, (const uint8_t *)buf + XSAVE_HDR_OFFSET, sizeof(xstate_bv));
	*pkru = 0;
	if (xstate_bv & XFEATURE_MASK(XFEATURE_PKRU))
		memcpy(pkru, (const uint8_t *)buf + offset, sizeof(*pkru));
	return 0;
}

int pkvm_xsave_set_pkru(const struct pkvm_xsave_layout *layout, void *buf, size_t size,
			uint32_t pkru)
{
	uint64_t xstate_bv;
	uint32_t offset;
	int err = pkru_slot(layout, size, &offset);

	if (err)
		return err;
	memcpy((uint8_t *)buf + offset, &pkru, sizeof(pkru));
	memcpy(&xstate_bv, (uint8_t *)buf + XSAVE_HDR_OFFSET, sizeof(xstate_bv));
	xstate_bv |= XFEATURE_MASK(XFEATURE_PKRU);
	memcpy((uint8_t *)buf + XSAVE_HDR_OFFSET, &xstate_bv, sizeof(xstate_bv));
	return 0;
}
