/* kvm.c: one wrapper per KVM ioctl the library uses, each returning 0 or -errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"

/*
 * Each VM's ioctl counter (struct pkvm_stats.ioctls), found by the fd the
 * ioctl goes to.  The wrappers take only an fd, as every caller has it;
 * fds are the process's, so the table that maps them is too.  Two levels
 * of 1024 entries, a chunk allocated when an fd in it is first counted and
 * never freed: a lookup is two loads and takes no lock, so VMs on other
 * threads cost each other nothing.  An fd past 2^20 goes uncounted.
 */
#define COUNT_CHUNK	1024
static _Atomic(uint64_t *) *_Atomic counters[COUNT_CHUNK];

static _Atomic(uint64_t *) *counter_slot(int fd, bool make)
{
	_Atomic(uint64_t *) *chunk, *fresh = NULL;

	if (fd < 0 || fd / COUNT_CHUNK >= COUNT_CHUNK)
		return NULL;
	chunk = atomic_load_explicit(&counters[fd / COUNT_CHUNK], memory_order_acquire);
	if (!chunk && make) {
		fresh = calloc(COUNT_CHUNK, sizeof(*fresh));
		if (!fresh)
			return NULL;
		/* Another thread's VM may have made it first: use that one. */
		if (atomic_compare_exchange_strong(&counters[fd / COUNT_CHUNK], &chunk, fresh))
			chunk = fresh;
		else
			free(fresh);
	}
	return chunk ? &chunk[fd % COUNT_CHUNK] : NULL;
}

/* Count what goes to @fd in *@counter from now on (NULL: no longer). */
static int count_fd(int fd, uint64_t *counter)
{
	_Atomic(uint64_t *) *slot = counter_slot(fd, counter != NULL);

	if (slot)
		atomic_store_explicit(slot, counter, memory_order_release);
	return slot || !counter ? 0 : -ENOMEM;
}

/* Relaxed: only the thread using the VM counts its ioctls, and it made the entry. */
static void count(int fd)
{
	_Atomic(uint64_t *) *slot = counter_slot(fd, false);
	uint64_t *counter = slot ? atomic_load_explicit(slot, memory_order_relaxed) : NULL;

	if (counter)
		(*counter)++;
}

static int xioctl(int fd, unsigned long request, const void *arg)
{
	int ret;

	do {
		count(fd);
		ret = ioctl(fd, request, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

void pkvm_kvm_close(int fd)
{
	if (fd < 0)
		return;
	count_fd(fd, NULL);	/* before the number can be another's */
	close(fd);
}

int pkvm_kvm_open(const char *path, uint64_t *ioctls)
{
	int fd = open(path ? path : "/dev/kvm", O_RDWR | O_CLOEXEC);
	int version, err;

	if (fd < 0)
		return -errno;
	err = count_fd(fd, ioctls);
	if (err) {
		close(fd);
		return err;
	}
	version = xioctl(fd, KVM_GET_API_VERSION, NULL);
	if (version != KVM_API_VERSION) {
		pkvm_kvm_close(fd);
		return version < 0 ? version : -ENOSYS;
	}
	return fd;
}

/*
 * A new fd numbered @at (< 0: where it came): a VM rebuilt in a forked
 * process keeps its parent's numbers, which its inherited seccomp filter
 * names (fork.c).  Before any request on it, so that the filter sees only
 * the final number.
 */
static int move_fd(int fd, int at, uint64_t *ioctls)
{
	int err;

	if (fd < 0)
		return fd;
	if (at >= 0 && fd != at) {
		if (dup3(fd, at, O_CLOEXEC) < 0) {
			err = -errno;
			close(fd);
			return err;
		}
		close(fd);
		fd = at;
	}
	err = count_fd(fd, ioctls);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int pkvm_kvm_create_vm(int kvm_fd, uint64_t tss_addr, int at, uint64_t *ioctls)
{
	int fd = move_fd(xioctl(kvm_fd, KVM_CREATE_VM, NULL), at, ioctls);

	/* Intel needs a TSS area for real mode; harmless elsewhere. */
	if (fd >= 0)
		xioctl(fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)tss_addr);
	return fd;
}

int pkvm_kvm_create_vcpu(int vm_fd, const struct kvm_cpuid2 *cpuid, int at, uint64_t *ioctls)
{
	int fd = move_fd(xioctl(vm_fd, KVM_CREATE_VCPU, NULL), at, ioctls);
	int err;

	if (fd < 0)
		return fd;
	err = xioctl(fd, KVM_SET_CPUID2, cpuid);
	if (err) {
		pkvm_kvm_close(fd);
		return err;
	}
	return fd;
}

int pkvm_kvm_map_run(int kvm_fd, int vcpu_fd, struct kvm_run **run, size_t *size)
{
	int n = xioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	void *p;

	if (n < (int)sizeof(struct kvm_run))
		return n < 0 ? n : -EINVAL;
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*run = p;
	*size = n;
	return 0;
}

int pkvm_kvm_run(int vcpu_fd)
{
	count(vcpu_fd);
	/* Not retried on EINTR: a signal that stops the guest is the caller's to see. */
	return ioctl(vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0;
}

int pkvm_kvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap)
{
	struct kvm_dirty_log d = { .slot = slot, .dirty_bitmap = bitmap };

	return xioctl(vm_fd, KVM_GET_DIRTY_LOG, &d);
}

int pkvm_kvm_check_extension(int fd, long cap)
{
	int ret = xioctl(fd, KVM_CHECK_EXTENSION, (void *)cap);

	return ret < 0 ? 0 : ret;
}

int pkvm_kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **cpuid)
{
	/* KVM says -E2BIG until the table is large enough. */
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		int err;

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		err = xioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (err == 0) {
			*cpuid = c;
			return 0;
		}
		free(c);
		if (err != -E2BIG)
			return err;
	}
	return -E2BIG;
}

int pkvm_kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
			 void *host)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	return xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

int pkvm_kvm_get_regs(int vcpu_fd, struct kvm_regs *regs)
{
	return xioctl(vcpu_fd, KVM_GET_REGS, regs);
}

int pkvm_kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs)
{
	return xioctl(vcpu_fd, KVM_SET_REGS, regs);
}

int pkvm_kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs)
{
	return xioctl(vcpu_fd, KVM_GET_SREGS, sregs);
}

int pkvm_kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs)
{
	return xioctl(vcpu_fd, KVM_SET_SREGS, sregs);
}

int pkvm_kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *events)
{
	return xioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, events);
}

int pkvm_kvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs = { .hdr.nmsrs = 1, .entry = { .index = index, .data = value } };
	int ret = xioctl(vcpu_fd, KVM_SET_MSRS, &msrs);

	/* KVM_SET_MSRS returns how many it set: 0 means the MSR was refused. */
	return ret == 1 ? 0 : ret < 0 ? ret : -EINVAL;
}

int pkvm_kvm_set_xcr0(int vcpu_fd, uint64_t xcr0)
{
	struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs[0] = { .xcr = 0, .value = xcr0 } };

	return xioctl(vcpu_fd, KVM_SET_XCRS, &xcrs);
}

int pkvm_kvm_get_xsave(int vcpu_fd, struct kvm_xsave *buf, int use_xsave2)
{
#ifdef KVM_GET_XSAVE2
	if (use_xsave2)
		return xioctl(vcpu_fd, KVM_GET_XSAVE2, buf);
#endif
	(void)use_xsave2;
	return xioctl(vcpu_fd, KVM_GET_XSAVE, buf);
}

int pkvm_kvm_set_xsave(int vcpu_fd, const struct kvm_xsave *buf)
{
	return xioctl(vcpu_fd, KVM_SET_XSAVE, buf);
}

int pkvm_kvm_get_fpu(int vcpu_fd, struct kvm_fpu *fpu)
{
	return xioctl(vcpu_fd, KVM_GET_FPU, fpu);
}

int pkvm_kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu)
{
	return xioctl(vcpu_fd, KVM_SET_FPU, fpu);
}

/* A boolean module parameter: 1 on, 0 off, -1 when the module (or file) is absent. */
static int param_is_on(const char *path)
{
	char buf[8] = "";
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
}

/*
 * KVM says how it maps guest memory only through its vendor module's
 * parameters; a KVM of neither vendor (kvm_pvm) is UNKNOWN.
 */
enum pkvm_paging pkvm_kvm_paging(void)
{
	int ept = param_is_on("/sys/module/kvm_intel/parameters/ept");
	int npt = param_is_on("/sys/module/kvm_amd/parameters/npt");

	if (ept == 1)
		return PKVM_PAGING_EPT;
	if (npt == 1)
		return PKVM_PAGING_NPT;
	return ept == 0 || npt == 0 ? PKVM_PAGING_SHADOW : PKVM_PAGING_UNKNOWN;
}
