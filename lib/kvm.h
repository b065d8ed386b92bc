/* kvm.h: one wrapper per KVM ioctl the library uses, each returning 0 or -errno. */
#ifndef PKVM_KVM_H
#define PKVM_KVM_H

#include <stdint.h>
#include <linux/kvm.h>

int pkvm_kvm_open(const char *path);
int pkvm_kvm_check_extension(int fd, long cap);
/* KVM_GET_SUPPORTED_CPUID into a malloc'd table the caller frees. */
int pkvm_kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **cpuid);
/* @size 0 deletes the slot; @flags are KVM_MEM_* (dirty logging). */
int pkvm_kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
			 void *host);
int pkvm_kvm_get_regs(int vcpu_fd, struct kvm_regs *regs);
int pkvm_kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs);
int pkvm_kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs);
int pkvm_kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs);
int pkvm_kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *events);
int pkvm_kvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value);
int pkvm_kvm_set_xcr0(int vcpu_fd, uint64_t xcr0);
int pkvm_kvm_get_xsave(int vcpu_fd, struct kvm_xsave *buf, int use_xsave2);
int pkvm_kvm_set_xsave(int vcpu_fd, const struct kvm_xsave *buf);
int pkvm_kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu);
/* True when KVM uses EPT/NPT, so host edits of guest tables need no shadow flush. */
int pkvm_kvm_uses_tdp(void);

#endif /* PKVM_KVM_H */
