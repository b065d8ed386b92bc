/*
 * kvm.h: one wrapper per KVM ioctl the library uses, each returning 0 (or an
 * fd) or -errno.  This is the whole of the library's contact with KVM: the
 * personality fuzzer (fuzz/fake_kvm.c) replaces it with an in-memory double.
 */
#ifndef PKVM_KVM_H
#define PKVM_KVM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "libpkvm.h"

/*
 * The fds these three make count every ioctl made on them (and on the
 * struct kvm_run of a vCPU: KVM_RUN) in *@ioctls, if not NULL: a VM's
 * struct pkvm_stats.ioctls.  Close them with pkvm_kvm_close(), never
 * close(): the count must stop before the number is reused.
 */
int pkvm_kvm_open(const char *path, uint64_t *ioctls);
/*
 * KVM_CREATE_VM, with the TSS area Intel needs for real mode at @tss_addr:
 * the VM's fd, numbered @at if @at >= 0 (what was there is closed).
 */
int pkvm_kvm_create_vm(int kvm_fd, uint64_t tss_addr, int at, uint64_t *ioctls);
/* vCPU 0 with @cpuid: its fd, numbered @at if @at >= 0. */
int pkvm_kvm_create_vcpu(int vm_fd, const struct kvm_cpuid2 *cpuid, int at, uint64_t *ioctls);
void pkvm_kvm_close(int fd);
/* The vCPU's shared struct kvm_run, mapped: munmap(*run, *size) releases it. */
int pkvm_kvm_map_run(int kvm_fd, int vcpu_fd, struct kvm_run **run, size_t *size);
/* One KVM_RUN; -EINTR is returned, not retried. */
int pkvm_kvm_run(int vcpu_fd);
/* KVM_GET_DIRTY_LOG of @slot into @bitmap (one bit per page of the slot), resetting it. */
int pkvm_kvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap);
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
int pkvm_kvm_get_fpu(int vcpu_fd, struct kvm_fpu *fpu);
int pkvm_kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu);
/*
 * How KVM maps guest memory: with EPT or NPT, host edits of the guest's
 * tables need no shadow flush; with shadow paging (or unknown) they do.
 */
enum pkvm_paging pkvm_kvm_paging(void);

#endif /* PKVM_KVM_H */
