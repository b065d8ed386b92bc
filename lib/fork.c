/* fork.c: a guest's fork(): the host process forks, and the child rebuilds the VM over its copy. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"
#include "layout.h"
#include "vm.h"

/*
 * Why the host process forks: guest memory is a private anonymous mapping,
 * so after fork() each side has its own copy-on-write image of all of it,
 * page tables included, and a page is copied only when one side writes it.
 * Neither side sees the other's later writes, which a shared memfd mapped
 * privately would not give.  The personality's state (descriptors, signal
 * handlers, the cwd) is host memory too, and is inherited the same way.
 *
 * What fork() does not carry over is the kernel's: a KVM VM belongs to the
 * mm that made it (its fds fail with EIO elsewhere), the vCPU's kvm_run
 * mapping is the parent's, and POSIX timers are not inherited.  So the child
 * makes a new VM on the same memory, at the same fd numbers (its seccomp
 * filter, inherited, names them), and puts the vCPU where the parent's was.
 */

int pkvm_vm_enable_fork(struct pkvm_vm *vm)
{
	if (vm->kvm_fd >= 0)
		return 0;
	vm->kvm_fd = pkvm_kvm_open(vm->kvm_path, &vm->stats.ioctls);
	return vm->kvm_fd < 0 ? vm->kvm_fd : 0;
}

/* The user FPU state (PKRU within it on hw), as KVM has it: what the child's vCPU gets. */
static int save_fpu(struct pkvm_vm *vm, void **state)
{
	int err;

	if (vm->xsave_buf) {
		err = pkvm_pkru_sync_to_vcpu(vm);
		if (!err)
			err = pkvm_kvm_get_xsave(vm->vcpu_fd, vm->xsave_buf, vm->xsave2);
		if (err)
			return err;
		*state = malloc(vm->xsave_size);
		if (*state)
			memcpy(*state, vm->xsave_buf, vm->xsave_size);
	} else {
		*state = malloc(sizeof(struct kvm_fpu));
		if (*state && (err = pkvm_kvm_get_fpu(vm->vcpu_fd, *state))) {
			free(*state);
			*state = NULL;
			return err;
		}
	}
	return *state ? 0 : -ENOMEM;
}

static int restore_fpu(struct pkvm_vm *vm, const void *state)
{
	if (vm->xsave_buf)
		return pkvm_kvm_set_xsave(vm->vcpu_fd, state);
	return pkvm_kvm_set_fpu(vm->vcpu_fd, state);
}

/* In the child: a VM of its own over the inherited memory, the vCPU as the parent left it. */
static int rebuild(struct pkvm_vm *vm, const void *fpu)
{
	int vm_fd = vm->vm_fd, vcpu_fd = vm->vcpu_fd;
	int err;

	/* A set deferred to the old run structure goes with it: program() sets them all. */
	vm->sregs_deferred = false;
	munmap(vm->run, vm->run_size);
	vm->run = NULL;
	pkvm_kvm_close(vcpu_fd);
	pkvm_kvm_close(vm_fd);
	vm->vm_fd = pkvm_kvm_create_vm(vm->kvm_fd, PKVM_KVM_TSS_ADDR, vm_fd, &vm->stats.ioctls);
	if (vm->vm_fd < 0)
		return vm->vm_fd;
	err = pkvm_vm_set_memslot(vm, PKVM_SLOT_MEMORY, true);
	if (!err)
		err = pkvm_vm_set_memslot(vm, PKVM_SLOT_POOL, true);
	if (err)
		return err;
	vm->vcpu_fd = pkvm_kvm_create_vcpu(vm->vm_fd, vm->cpuid, vcpu_fd, &vm->stats.ioctls);
	if (vm->vcpu_fd < 0)
		return vm->vcpu_fd;
	err = pkvm_kvm_map_run(vm->kvm_fd, vm->vcpu_fd, &vm->run, &vm->run_size);
	if (!err)
		err = pkvm_vcpu_program(vm);
	if (!err)
		err = restore_fpu(vm, fpu);
	if (err)
		return err;
	/* The next entry loads CR3 (or the soft view's) and the segment bases afresh. */
	vm->cr3 = 0;
	vm->tlb_flush_pending = true;
	vm->segs_dirty = true;
	return pkvm_kick_after_fork(&vm->kick, vm->run);
}

void pkvm_vm_share_frames(struct pkvm_vm *vm, _Atomic uint64_t *budget)
{
	if (budget)
		atomic_store(budget, vm->frames.free);
	vm->frames.budget = budget;
}

static uint64_t frames_in_use(const struct pkvm_vm *vm)
{
	return vm->frames.count - vm->frames.free;
}

void pkvm_vm_forked_end(struct pkvm_vm *vm, const struct pkvm_exit *exit, int err)
{
	/* Its copies of the parent's frames count until it ends (see pkvm_vm_fork()). */
	if (vm->frames.budget)
		atomic_fetch_add(vm->frames.budget, frames_in_use(vm));
	vm->forked_end(vm, vm->forked_ctx, exit, err);
}

pid_t pkvm_vm_fork(struct pkvm_vm *vm, pkvm_forked_end_fn end, void *ctx)
{
	void *fpu = NULL;
	pid_t pid;
	int err;

	if (vm->kvm_fd < 0 || vm->snapshot || vm->call_active || vm->finish_entry)
		return -EBUSY;
	/*
	 * The child's frames are charged as if copied: shared until written,
	 * but each side may write all of them, and the budget must hold then.
	 */
	if (vm->frames.budget && !pkvm_frames_charge(vm->frames.budget, frames_in_use(vm)))
		return -ENOMEM;
	err = save_fpu(vm, &fpu);
	if (!err) {
		pid = fork();
		err = pid < 0 ? -errno : 0;
	}
	if (err || pid > 0) {
		free(fpu);
		if (err && vm->frames.budget)
			atomic_fetch_add(vm->frames.budget, frames_in_use(vm));
		return err ? err : pid;
	}
	vm->forked_end = end;
	vm->forked_ctx = ctx;
	err = rebuild(vm, fpu);
	free(fpu);
	if (err) {
		struct pkvm_exit exit = { .reason = PKVM_EXIT_INTERNAL };

		pkvm_vm_forked_end(vm, &exit, err);
	}
	return 0;
}
