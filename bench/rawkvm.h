/*
 * rawkvm.h: the bare KVM sequence the embedding benchmark compares libpkvm
 * with: one VM, one memslot, one vCPU in real mode, no library in between.
 */
#ifndef PKVM_BENCH_RAWKVM_H
#define PKVM_BENCH_RAWKVM_H

#include <stddef.h>
#include <stdint.h>

struct rawkvm {
	int kvm, vm, vcpu;
	uint8_t *mem;			/* the one memslot, at guest physical 0 */
	struct kvm_run *run;		/* the vCPU's shared run page */
	size_t run_size;
};

/* The guest code is copied here and real-mode execution starts at it (CS = 0). */
#define RAWKVM_CODE_GPA		0x1000
#define RAWKVM_MEM_SIZE		0x10000

/* mov $42, %al; out %al, $0x10; hlt */
#define RAWKVM_GUEST_ONCE	{ 0xb0, 0x2a, 0xe6, 0x10, 0xf4 }
/* 1: out %al, $0x10; jmp 1b */
#define RAWKVM_GUEST_LOOP	{ 0xe6, 0x10, 0xeb, 0xfc }

/*
 * open /dev/kvm, KVM_CREATE_VM, one memslot holding @code, KVM_CREATE_VCPU,
 * its run page, CS:IP at the code.  Returns 0 or a negative errno.
 */
int rawkvm_create(struct rawkvm *r, const uint8_t *code, size_t len);

/* KVM_RUN until the guest's OUT: returns the byte written (0..255) or a negative errno. */
int rawkvm_run(struct rawkvm *r);

/* Close and unmap everything. */
void rawkvm_destroy(struct rawkvm *r);

/*
 * One bare cold start: create a VM running RAWKVM_GUEST_ONCE, run it to its
 * OUT, destroy it.  Returns 0, or a negative errno (-EIO for a wrong result).
 */
int rawkvm_cold_start(void);

/*
 * The median time of one bare KVM_RUN exit round trip (a guest `out` loop):
 * @runs runs of @loop round trips.  Nanoseconds, or a negative errno.
 */
double rawkvm_exit_ns(unsigned runs, unsigned loop);

#endif
