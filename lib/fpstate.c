/* fpstate.c: the guest's user FPU, SSE, AVX and PKRU state as one XSAVE image, taken and given back. */
#include <errno.h>
#include <string.h>

#include "kvm.h"
#include "vm.h"
#include "x86.h"

#define MXCSR_OFFSET		24
#define MXCSR_RESERVED		0xffff0000U	/* a 1 here makes XRSTOR fault */
#define XCOMP_BV_OFFSET		(XSAVE_HDR_OFFSET + 8)
#define XSAVE_HDR_SIZE		64

/*
 * On soft the vCPU's XCR0 has no PKRU (the host keeps the guest's PKRU and
 * builds page-table views from it), but an image must still carry it, as
 * a signal frame does on Linux: it goes at the place CPUID gives component
 * 9, exactly as on hw.
 */
static bool pkru_in_image(const struct pkvm_vm *vm)
{
	return vm->backend != PKVM_PKEYS_NONE && vm->xsave.feature[XFEATURE_PKRU].size >= 4 &&
	       (vm->xsave.supported_xcr0 & XFEATURE_MASK(XFEATURE_PKRU));
}

uint64_t pkvm_fpstate_features(const struct pkvm_vm *vm)
{
	return vm->xcr0 | (pkru_in_image(vm) ? XFEATURE_MASK(XFEATURE_PKRU) : 0);
}

size_t pkvm_fpstate_size(const struct pkvm_vm *vm)
{
	uint64_t features = pkvm_fpstate_features(vm);
	size_t size = XSAVE_HDR_OFFSET + XSAVE_HDR_SIZE;

	for (unsigned f = 2; f < PKVM_XSAVE_MAX_FEATURES; f++) {
		size_t end = vm->xsave.feature[f].offset + (size_t)vm->xsave.feature[f].size;

		if ((features & XFEATURE_MASK(f)) && end > size)
			size = end;
	}
	return size <= vm->xsave_size ? size : vm->xsave_size;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

int pkvm_fpstate_save(struct pkvm_vm *vm, void *buf, size_t size)
{
	uint8_t *image = buf;
	uint32_t offset = vm->xsave.feature[XFEATURE_PKRU].offset;
	int err;

	if (!vm->xsave_buf || size != pkvm_fpstate_size(vm))
		return -EINVAL;
	/* A PKRU the host set is not in the vCPU yet: put it there first. */
	err = pkvm_pkru_sync_to_vcpu(vm);
	if (!err)
		err = pkvm_kvm_get_xsave(vm->vcpu_fd, vm->xsave_buf, vm->xsave2);
	if (err)
		return err;
	memcpy(image, vm->xsave_buf, size);
	if (vm->backend == PKVM_PKEYS_HW) {
		err = pkvm_xsave_get_pkru(&vm->xsave, vm->xsave_buf, vm->xsave_size, &vm->pkru);
		if (err)
			return err;
		vm->pkru_stale = false;
	} else if (pkru_in_image(vm)) {
		memcpy(image + offset, &vm->pkru, sizeof(vm->pkru));
		put64(image + XSAVE_HDR_OFFSET,
		      get64(image + XSAVE_HDR_OFFSET) | XFEATURE_MASK(XFEATURE_PKRU));
	}
	return 0;
}

int pkvm_fpstate_restore(struct pkvm_vm *vm, const void *buf, size_t size)
{
	const uint8_t *image = buf;
	uint64_t xstate_bv, features = pkvm_fpstate_features(vm);
	uint32_t mxcsr, pkru = 0, offset = vm->xsave.feature[XFEATURE_PKRU].offset;
	int err;

	if (!vm->xsave_buf || size != pkvm_fpstate_size(vm))
		return -EINVAL;
	/* What XRSTOR of this image would fault on (#GP): refused, nothing changes. */
	xstate_bv = get64(image + XSAVE_HDR_OFFSET);
	memcpy(&mxcsr, image + MXCSR_OFFSET, sizeof(mxcsr));
	if ((xstate_bv & ~features) || (mxcsr & MXCSR_RESERVED))
		return -EINVAL;
	for (size_t i = XCOMP_BV_OFFSET; i < XSAVE_HDR_OFFSET + XSAVE_HDR_SIZE; i++)
		if (image[i])
			return -EINVAL;
	/* PKRU: its init value (0) when the image says the component is in its init state. */
	if (pkru_in_image(vm) && (xstate_bv & XFEATURE_MASK(XFEATURE_PKRU)))
		memcpy(&pkru, image + offset, sizeof(pkru));
	if (features & XFEATURE_MASK(XFEATURE_PKRU)) {
		uint32_t now;

		err = pkvm_get_pkru(vm, &now);
		if (err)
			return err;
		/* The guest wrote this image: a PKRU it could not set itself, it cannot set so. */
		if (pkru != now && !pkvm_pkru_guest_may_set(vm, pkru))
			return -EPERM;
	}
	memset(vm->xsave_buf, 0, vm->xsave_size);
	memcpy(vm->xsave_buf, image, size);
	if (vm->backend != PKVM_PKEYS_HW && pkru_in_image(vm)) {
		/* Not the vCPU's to hold: the host's views follow vm->pkru. */
		put64((uint8_t *)vm->xsave_buf + XSAVE_HDR_OFFSET,
		      xstate_bv & ~XFEATURE_MASK(XFEATURE_PKRU));
		memset((uint8_t *)vm->xsave_buf + offset, 0, vm->xsave.feature[XFEATURE_PKRU].size);
	}
	err = pkvm_kvm_set_xsave(vm->vcpu_fd, vm->xsave_buf);
	if (err)
		return err == -EFAULT ? err : -EINVAL;
	if (features & XFEATURE_MASK(XFEATURE_PKRU)) {
		vm->pkru = pkru;
		vm->pkru_dirty = false;
		vm->pkru_stale = false;
	}
	return 0;
}
