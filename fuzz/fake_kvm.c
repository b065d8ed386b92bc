/*
 * fake_kvm.c: an in-memory double of lib/kvm.h, for fuzzing what runs around
 * the guest without a guest.
 *
 * The personality decodes system calls, copies guest memory and edits the
 * guest's page tables: all of it host code on host memory.  Only KVM itself
 * (creating the VM, entering it) needs /dev/kvm.  This file stands in for
 * lib/kvm.c and lib/probe.c: the VM, its vCPU and the registers live here,
 * the CPU it describes has XSAVE with AVX and PKRU, PKU, SMEP and SMAP, and
 * nothing ever runs.  One vCPU at a time: the harness makes one VM per input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"
#include "vm.h"

static struct {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave xsave;
} vcpu;

/* Every KVM fd is a real one, so that the library's close() is honest. */
static int fake_fd(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Nothing reaches a KVM here, so nothing is counted in @ioctls. */
int pkvm_kvm_open(const char *path, uint64_t *ioctls)
{
	(void)path;
	(void)ioctls;
	return fake_fd();
}

int pkvm_kvm_create_vm(int kvm_fd, uint64_t tss_addr, int at, uint64_t *ioctls)
{
	(void)kvm_fd;
	(void)tss_addr;
	(void)at;
	(void)ioctls;
	return fake_fd();
}

int pkvm_kvm_create_vcpu(int vm_fd, const struct kvm_cpuid2 *cpuid, int at, uint64_t *ioctls)
{
	(void)vm_fd;
	(void)cpuid;
	(void)at;
	(void)ioctls;
	memset(&vcpu, 0, sizeof(vcpu));
	return fake_fd();
}

void pkvm_kvm_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int pkvm_kvm_map_run(int kvm_fd, int vcpu_fd, struct kvm_run **run, size_t *size)
{
	size_t n = (sizeof(**run) + 4095) & ~(size_t)4095;
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)kvm_fd;
	(void)vcpu_fd;
	if (p == MAP_FAILED)
		return -ENOMEM;
	*run = p;
	*size = n;
	return 0;
}

/* Nothing runs: the harness serves exits it makes up itself. */
int pkvm_kvm_run(int vcpu_fd)
{
	(void)vcpu_fd;
	return -EOPNOTSUPP;
}

int pkvm_kvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap)
{
	(void)vm_fd;
	(void)slot;
	(void)bitmap;
	return -EOPNOTSUPP;
}

int pkvm_kvm_check_extension(int fd, long cap)
{
	(void)fd;
	(void)cap;
	return 0;	/* no sync regs, no XSAVE2: the plain paths */
}

/* Every leaf indexed: leaf 0xd's sub-leaves must not all answer as sub-leaf 0. */
#define LEAF(fn, idx, a, b, c, d) \
	{ .function = (fn), .index = (idx), .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, \
	  .eax = (a), .ebx = (b), .ecx = (c), .edx = (d) }

/* XSAVE: x87, SSE, AVX (at 576) and PKRU (at 2688), as an AMD or Intel CPU lays them out. */
static const struct kvm_cpuid_entry2 leaves[] = {
	LEAF(0, 0, 0xd, 0, 0, 0),
	LEAF(1, 0, 0, 0, (1U << 26) | (1U << 28), (1U << 0) | (1U << 24) | (1U << 25) | (1U << 26)),
	LEAF(7, 0, 0, (1U << 7) | (1U << 20), 1U << 3, 0),
	LEAF(0xd, 0, 0x207, 2696, 2696, 0),
	LEAF(0xd, 2, 256, 576, 0, 0),
	LEAF(0xd, 9, 8, 2688, 0, 0),
	LEAF(0x80000000, 0, 0x80000008, 0, 0, 0),
	LEAF(0x80000001, 0, 0, 0, 0, (1U << 20) | (1U << 26) | (1U << 29)),
	LEAF(0x80000008, 0, 0x3030, 0, 0, 0),
};

int pkvm_kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **cpuid)
{
	const unsigned n = sizeof(leaves) / sizeof(leaves[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	(void)kvm_fd;
	if (!c)
		return -ENOMEM;
	c->nent = n;
	memcpy(c->entries, leaves, sizeof(leaves));
	*cpuid = c;
	return 0;
}

int pkvm_kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
			 void *host)
{
	(void)vm_fd, (void)slot, (void)flags, (void)gpa, (void)size, (void)host;
	return 0;
}

int pkvm_kvm_get_regs(int vcpu_fd, struct kvm_regs *regs)
{
	(void)vcpu_fd;
	*regs = vcpu.regs;
	return 0;
}

int pkvm_kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs)
{
	(void)vcpu_fd;
	vcpu.regs = *regs;
	return 0;
}

int pkvm_kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs)
{
	(void)vcpu_fd;
	*sregs = vcpu.sregs;
	return 0;
}

int pkvm_kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs)
{
	(void)vcpu_fd;
	vcpu.sregs = *sregs;
	return 0;
}

int pkvm_kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *events)
{
	(void)vcpu_fd;
	memset(events, 0, sizeof(*events));
	return 0;
}

int pkvm_kvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value)
{
	(void)vcpu_fd, (void)index, (void)value;
	return 0;
}

int pkvm_kvm_set_xcr0(int vcpu_fd, uint64_t xcr0)
{
	(void)vcpu_fd, (void)xcr0;
	return 0;
}

int pkvm_kvm_get_xsave(int vcpu_fd, struct kvm_xsave *buf, int use_xsave2)
{
	(void)vcpu_fd, (void)use_xsave2;
	*buf = vcpu.xsave;
	return 0;
}

int pkvm_kvm_set_xsave(int vcpu_fd, const struct kvm_xsave *buf)
{
	(void)vcpu_fd;
	vcpu.xsave = *buf;
	return 0;
}

int pkvm_kvm_get_fpu(int vcpu_fd, struct kvm_fpu *fpu)
{
	(void)vcpu_fd;
	*fpu = vcpu.fpu;
	return 0;
}

int pkvm_kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu)
{
	(void)vcpu_fd;
	vcpu.fpu = *fpu;
	return 0;
}

enum pkvm_paging pkvm_kvm_paging(void)
{
	return PKVM_PAGING_EPT;
}

/* lib/probe.c's stand-in: this "KVM" honours the guest ABI by construction. */
int pkvm_vm_probe(struct pkvm_vm *vm)
{
	(void)vm;
	return 0;
}
