/* pkru.c: the guest's PKRU, kept by the host and carried to the vCPU per backend. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm.h"
#include "vm.h"

/* hw: PKRU is XSAVE state component 9; KVM carries it in KVM_GET/SET_XSAVE. */
static int read_hw_pkru(struct pkvm_vm *vm)
{
	int err = pkvm_kvm_get_xsave(vm->vcpu_fd, vm->xsave_buf, vm->xsave2);

	if (!err)
		err = pkvm_xsave_get_pkru(&vm->xsave, vm->xsave_buf, vm->xsave_size, &vm->pkru);
	if (!err)
		vm->pkru_stale = false;
	return err;
}

int pkvm_pkru_sync_to_vcpu(struct pkvm_vm *vm)
{
	int err;

	if (!vm->pkru_dirty)
		return 0;
	if (vm->backend == PKVM_PKEYS_HW) {
		err = pkvm_kvm_get_xsave(vm->vcpu_fd, vm->xsave_buf, vm->xsave2);
		if (!err)
			err = pkvm_xsave_set_pkru(&vm->xsave, vm->xsave_buf, vm->xsave_size,
						  vm->pkru);
		if (!err)
			err = pkvm_kvm_set_xsave(vm->vcpu_fd, vm->xsave_buf);
		if (err)
			return err;
	}
	vm->pkru_dirty = false;
	return 0;
}

int pkvm_set_pkru(struct pkvm_vm *vm, uint32_t pkru)
{
	if (vm->backend == PKVM_PKEYS_NONE && pkru != 0)
		return -EOPNOTSUPP;
	vm->pkru = pkru;
	vm->pkru_dirty = true;
	vm->pkru_stale = false;
	return 0;
}

int pkvm_get_pkru(struct pkvm_vm *vm, uint32_t *pkru)
{
	if (vm->pkru_stale && !vm->pkru_dirty) {
		int err = read_hw_pkru(vm);

		if (err)
			return err;
	}
	*pkru = vm->pkru;
	return 0;
}

bool pkvm_pkru_guest_may_set(const struct pkvm_vm *vm, uint32_t pkru)
{
	switch (vm->pkru_policy) {
	case PKVM_PKRU_GUEST_FREE:
		return true;
	case PKVM_PKRU_ALLOWLIST:
		for (size_t i = 0; i < vm->pkru_nallowed; i++)
			if (vm->pkru_allowed[i] == pkru)
				return true;
		return false;
	default:
		return false;
	}
}

bool pkvm_pkru_policy_allows(const void *vm, uint32_t pkru)
{
	return pkvm_pkru_guest_may_set(vm, pkru);
}

int pkvm_set_pkru_policy(struct pkvm_vm *vm, enum pkvm_pkru_policy policy,
			 const uint32_t *allowed, size_t n)
{
	uint32_t *copy = NULL;
	int err;

	if ((unsigned)policy > PKVM_PKRU_ALLOWLIST || (n && !allowed) || n > 4096)
		return -EINVAL;
	if (policy == PKVM_PKRU_ALLOWLIST && vm->backend == PKVM_PKEYS_HW)
		return -EOPNOTSUPP;	/* native WRPKRU cannot be filtered */
	if (policy == PKVM_PKRU_LOCKED && vm->backend == PKVM_PKEYS_HW) {
		err = pkvm_wx_scan_all(vm);
		if (err)
			return err;
	}
	if (policy == PKVM_PKRU_ALLOWLIST && n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, allowed, n * sizeof(*copy));
	}
	free(vm->pkru_allowed);
	vm->pkru_allowed = copy;
	vm->pkru_nallowed = policy == PKVM_PKRU_ALLOWLIST ? n : 0;
	vm->pkru_policy = policy;
	/* The stub's table says which views the guest may switch to: not the old policy. */
	pkvm_soft_policy_changed(&vm->soft);
	return 0;
}
