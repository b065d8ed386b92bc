/* cpuid.c: finding and editing entries of the guest's CPUID table. */
#include <stddef.h>

#include "cpuid.h"
#include "x86.h"

struct kvm_cpuid_entry2 *pkvm_cpuid_find(struct kvm_cpuid_entry2 *entries, unsigned nent,
					 uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < nent; i++) {
		bool indexed = entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

		if (entries[i].function == function && (!indexed || entries[i].index == index))
			return &entries[i];
	}
	return NULL;
}

void pkvm_cpuid_shape(struct kvm_cpuid_entry2 *entries, unsigned nent, bool pku, uint64_t xcr0)
{
	struct kvm_cpuid_entry2 *e = pkvm_cpuid_find(entries, nent, 7, 0);

	if (e) {
		e->ecx &= ~CPUID_7_ECX_OSPKE;
		if (!pku)
			e->ecx &= ~CPUID_7_ECX_PKU;
	}
	e = pkvm_cpuid_find(entries, nent, 0xd, 0);
	if (e) {
		e->eax &= (uint32_t)xcr0;
		e->edx &= (uint32_t)(xcr0 >> 32);
	}
	/* User components (ECX bit 0 clear) the guest cannot enable: hide their sub-leaves. */
	for (unsigned i = 0; i < nent; i++) {
		e = &entries[i];
		if (e->function == 0xd && e->index >= 2 && e->index < 64 && !(e->ecx & 1) &&
		    !(xcr0 & XFEATURE_MASK(e->index)))
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
}

unsigned pkvm_cpuid_maxphyaddr(struct kvm_cpuid_entry2 *entries, unsigned nent)
{
	struct kvm_cpuid_entry2 *e = pkvm_cpuid_find(entries, nent, 0x80000008, 0);

	return e && (e->eax & 0xff) ? e->eax & 0xff : 36;
}
