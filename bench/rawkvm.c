/*
 * rawkvm.c: the bare KVM sequence the embedding benchmark compares libpkvm
 * with: each ioctl once, as the kernel's KVM selftests and every VMM begin.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rawkvm.h"

int rawkvm_create(struct rawkvm *r, const uint8_t *code, size_t len)
{
	struct kvm_userspace_memory_region slot = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = RAWKVM_CODE_GPA, .rflags = 2 };
	int size;

	memset(r, 0, sizeof(*r));
	r->kvm = r->vm = r->vcpu = -1;
	r->mem = MAP_FAILED;
	r->run = MAP_FAILED;
	if (len > RAWKVM_MEM_SIZE - RAWKVM_CODE_GPA)
		return -EINVAL;
	if ((r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0 ||
	    (r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0)) < 0)
		goto fail;
	/* VMX without unrestricted guest runs real mode through a TSS; SVM ignores it. */
	if (ioctl(r->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		goto fail;
	r->mem = mmap(NULL, RAWKVM_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->mem == MAP_FAILED)
		goto fail;
	memcpy(r->mem + RAWKVM_CODE_GPA, code, len);
	slot.memory_size = RAWKVM_MEM_SIZE;
	slot.userspace_addr = (uintptr_t)r->mem;
	if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ||
	    (r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0)) < 0 ||
	    (size = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) < 0)
		goto fail;
	r->run_size = (size_t)size;
	r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu, 0);
	if (r->run == MAP_FAILED)
		goto fail;
	/* Reset leaves CS at f000:fff0 with base ffff0000: point it at our code instead. */
	if (ioctl(r->vcpu, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(r->vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:
	size = -errno;
	rawkvm_destroy(r);
	return size ? size : -EIO;
}

int rawkvm_run(struct rawkvm *r)
{
	if (ioctl(r->vcpu, KVM_RUN, 0) < 0)
		return -errno;
	if (r->run->exit_reason != KVM_EXIT_IO || r->run->io.direction != KVM_EXIT_IO_OUT)
		return -EIO;
	return ((uint8_t *)r->run)[r->run->io.data_offset];
}

void rawkvm_destroy(struct rawkvm *r)
{
	if (r->run != MAP_FAILED)
		munmap(r->run, r->run_size);
	if (r->mem != MAP_FAILED)
		munmap(r->mem, RAWKVM_MEM_SIZE);
	if (r->vcpu >= 0)
		close(r->vcpu);
	if (r->vm >= 0)
		close(r->vm);
	if (r->kvm >= 0)
		close(r->kvm);
	r->kvm = r->vm = r->vcpu = -1;
	r->mem = MAP_FAILED;
	r->run = MAP_FAILED;
}

int rawkvm_cold_start(void)
{
	static const uint8_t code[] = RAWKVM_GUEST_ONCE;
	struct rawkvm k;
	int v = rawkvm_create(&k, code, sizeof(code));

	if (v < 0)
		return v;
	v = rawkvm_run(&k);
	rawkvm_destroy(&k);
	return v == 42 ? 0 : v < 0 ? v : -EIO;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double rawkvm_exit_ns(unsigned runs, unsigned loop)
{
	static const uint8_t code[] = RAWKVM_GUEST_LOOP;
	double t[runs], median;
	struct rawkvm k;
	int err = rawkvm_create(&k, code, sizeof(code));

	if (err)
		return err;
	for (unsigned r = 0; r < runs; r++) {
		struct timespec start, end;

		clock_gettime(CLOCK_MONOTONIC, &start);
		for (unsigned i = 0; i < loop; i++)
			if ((err = rawkvm_run(&k)) < 0) {
				rawkvm_destroy(&k);
				return err;
			}
		clock_gettime(CLOCK_MONOTONIC, &end);
		t[r] = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / loop;
	}
	rawkvm_destroy(&k);
	qsort(t, runs, sizeof(t[0]), cmp_double);
	median = t[runs / 2];
	return median;
}
