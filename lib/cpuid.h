/* cpuid.h: finding and editing entries of the guest's CPUID table. */
#ifndef PKVM_CPUID_H
#define PKVM_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

struct kvm_cpuid_entry2 *pkvm_cpuid_find(struct kvm_cpuid_entry2 *entries, unsigned nent,
					 uint32_t function, uint32_t index);

/*
 * Shape KVM's supported CPUID into the guest's: PKU offered only when the hw
 * backend uses it (OSPKE follows CR4.PKE, KVM computes it at run time), and the
 * XCR0 bits of leaf 0xD limited to @xcr0 so the guest sees what it can enable.
 */
void pkvm_cpuid_shape(struct kvm_cpuid_entry2 *entries, unsigned nent, bool pku, uint64_t xcr0);

/* MAXPHYADDR (leaf 0x80000008), 36 when absent as the SDM says. */
unsigned pkvm_cpuid_maxphyaddr(struct kvm_cpuid_entry2 *entries, unsigned nent);

#endif /* PKVM_CPUID_H */
