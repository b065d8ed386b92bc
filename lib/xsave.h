/* xsave.h: the XSAVE layout from CPUID leaf 0xD, and PKRU inside a KVM_GET/SET_XSAVE buffer. */
#ifndef PKVM_XSAVE_H
#define PKVM_XSAVE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define PKVM_XSAVE_MAX_FEATURES	64

/* Where each state component lives in the standard (non-compacted) format. */
struct pkvm_xsave_layout {
	uint64_t supported_xcr0;	/* leaf 0xD.0 EDX:EAX */
	uint32_t max_size;		/* leaf 0xD.0 ECX: all supported components */
	struct {
		uint32_t offset;
		uint32_t size;
	} feature[PKVM_XSAVE_MAX_FEATURES];
};

/* Read the layout from a CPUID table; -ENOENT without leaf 0xD, -EINVAL if inconsistent. */
int pkvm_xsave_layout_init(struct pkvm_xsave_layout *layout, struct kvm_cpuid_entry2 *entries,
			   unsigned nent);

/*
 * The XCR0 the guest runs with: x87, SSE and AVX where supported, AVX-512 only
 * as the whole trio, PKRU when @want_pkru, never components (AMX) whose state
 * would not fit @buf_size bytes of KVM_GET_XSAVE(2) buffer.
 */
uint64_t pkvm_xsave_guest_xcr0(const struct pkvm_xsave_layout *layout, int want_pkru,
			       size_t buf_size);

/*
 * PKRU (state component 9) in a KVM XSAVE buffer of @size bytes.  A clear
 * XSTATE_BV bit 9 means the init state, PKRU = 0 (SDM vol. 1 §13.6).  Both
 * return -EOPNOTSUPP when the layout has no PKRU and -EINVAL when the buffer
 * is too small to hold it.
 */
int pkvm_xsave_get_pkru(const struct pkvm_xsave_layout *layout, const void *buf, size_t size,
			uint32_t *pkru);
int pkvm_xsave_set_pkru(const struct pkvm_xsave_layout *layout, void *buf, size_t size,
			uint32_t pkru);

#endif /* PKVM_XSAVE_H */
