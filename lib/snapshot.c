/*
 * snapshot.c: snapshots of a VM and restores that cost what was written since.
 * The guest's writes come from KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES on
 * the memory slot: the guest never writes the table pool); the host's own
 * writes (mappings, copies, page tables, the stub's frames) from the VM's
 * host_dirty map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kvm.h"
#include "vm.h"

struct pkvm_snapshot {
	uint8_t *mem;			/* a copy of all guest memory */
	uint64_t *frames_used, frames_free;
	uint64_t *pool_used, pool_in_use, root;
	struct pkvm_pkey_set pkeys;
	struct pkvm_demand demand;	/* the demand-backed ranges reserved then */
	struct pkvm_regs regs;
	uint32_t pkru;
	bool trampoline_mapped;
	struct kvm_sregs sregs;
	struct kvm_xsave *xsave;
	struct kvm_fpu fpu;
	uint64_t *log;			/* scratch for KVM_GET_DIRTY_LOG */
	size_t words;			/* of a bitmap over all guest pages */
};

static void snapshot_free(struct pkvm_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->frames_used);
	free(snap->pool_used);
	pkvm_demand_destroy(&snap->demand);
	free(snap->xsave);
	free(snap->log);
	free(snap);
}

/*
 * Kept in vm->memslot_flags, so that a slot registered again keeps it too.
 * Only the memory slot logs: the guest never writes the pool (pkvm.c).
 */
static int set_dirty_logging(struct pkvm_vm *vm, bool on)
{
	vm->memslot_flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	return pkvm_vm_set_memslot(vm, PKVM_SLOT_MEMORY, true);
}

/* Fetch (and so reset) KVM's log of one slot into @log, as bits over all guest pages. */
static int fetch_log(struct pkvm_vm *vm, uint32_t slot, uint64_t first_page, uint64_t npages,
		     uint64_t *scratch, uint64_t *log)
{
	int err;

	memset(scratch, 0, ((npages + 63) / 64) * 8);
	err = pkvm_kvm_get_dirty_log(vm->vm_fd, slot, scratch);
	if (err)
		return err;
	for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
		uint64_t bits = scratch[w];

		while (bits) {
			uint64_t page = first_page + w * 64 + __builtin_ctzll(bits);

			log[page / 64] |= 1ULL << (page % 64);
			bits &= bits - 1;
		}
	}
	return 0;
}

/*
 * All pages written since the last call, into vm->host_dirty: the guest's
 * from KVM's log of the memory slot; the host's are there already, the
 * pool's included (the guest never writes the pool).
 */
static int collect_dirty(struct pkvm_vm *vm, struct pkvm_snapshot *snap)
{
	return fetch_log(vm, PKVM_SLOT_MEMORY, 0, vm->pool_gpa / PAGE_SIZE, snap->log,
			 vm->host_dirty);
}

/* With XSAVE, its image holds all that KVM_GET_FPU would (the legacy area): one ioctl less. */
static int save_vcpu(struct pkvm_vm *vm, struct pkvm_snapshot *snap)
{
	int err = pkvm_vcpu_get_sregs(vm, &snap->sregs);

	if (!err && !vm->xsave_buf)
		err = pkvm_kvm_get_fpu(vm->vcpu_fd, &snap->fpu);
	if (!err && vm->xsave_buf) {
		snap->xsave = malloc(vm->xsave_size);
		if (!snap->xsave)
			return -ENOMEM;
		err = pkvm_kvm_get_xsave(vm->vcpu_fd, snap->xsave, vm->xsave2);
		/*
		 * hw: a PKRU the host set since the last run is not in the vCPU
		 * yet; the image the restore loads must hold it (snap->pkru).
		 */
		if (!err && vm->backend == PKVM_PKEYS_HW)
			err = pkvm_xsave_set_pkru(&vm->xsave, snap->xsave, vm->xsave_size, snap->pkru);
	}
	/* The vCPU resumes through the stub on the master tables after a restore. */
	snap->sregs.cr3 = vm->pt.root;
	return err;
}

/*
 * Copy the guest memory the host kernel holds pages for.  The rest was never
 * touched and reads as zeros, as the untouched copy does: an idle sandbox's
 * snapshot costs what it uses, not its size.
 */
static int copy_resident(struct pkvm_vm *vm, struct pkvm_snapshot *snap)
{
	const size_t chunk = 1 << 20;	/* pages per mincore() call: bounded scratch */
	size_t pages = vm->mem.size / PAGE_SIZE;
	unsigned char *vec = malloc(chunk);

	if (!vec)
		return -ENOMEM;
	for (size_t first = 0; first < pages; first += chunk) {
		size_t n = pages - first < chunk ? pages - first : chunk;

		if (mincore(vm->mem.base + first * PAGE_SIZE, n * PAGE_SIZE, vec) < 0) {
			/* Cannot tell: copy it all. */
			memcpy(snap->mem + first * PAGE_SIZE, vm->mem.base + first * PAGE_SIZE,
			       n * PAGE_SIZE);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (vec[i] & 1)
				memcpy(snap->mem + (first + i) * PAGE_SIZE,
				       vm->mem.base + (first + i) * PAGE_SIZE, PAGE_SIZE);
	}
	free(vec);
	return 0;
}

int pkvm_snapshot(struct pkvm_vm *vm)
{
	size_t words = vm->mem.size / PAGE_SIZE / 64 + 1;
	size_t frame_words = (vm->frames.count + 63) / 64 + 1;
	size_t pool_words = (vm->pt.pool_pages + 63) / 64;
	struct pkvm_snapshot *snap = calloc(1, sizeof(*snap));
	int err;

	if (!snap)
		return -ENOMEM;
	if (vm->kick.running || vm->call_active || !pkvm_exit_servers_single_context(vm)) {
		free(snap);
		return -EBUSY;
	}
	pkvm_snapshot_drop(vm);
	snap->words = words;
	snap->log = calloc(words, sizeof(uint64_t));
	snap->frames_used = malloc(frame_words * sizeof(uint64_t));
	snap->pool_used = malloc(pool_words * sizeof(uint64_t));
	snap->mem = mmap(NULL, vm->mem.size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (snap->mem == MAP_FAILED)
		snap->mem = NULL;
	else	/* only the pages copied into it should cost memory (see pkvm.c) */
		madvise(snap->mem, vm->mem.size, MADV_NOHUGEPAGE);
	if (!snap->log || !snap->frames_used || !snap->pool_used || !snap->mem ||
	    pkvm_demand_copy(&snap->demand, &vm->demand)) {
		err = -ENOMEM;
		goto fail;
	}
	/* Views live in the pool: drop them so the copy holds only the master tables. */
	pkvm_soft_drop_views(&vm->soft, &vm->pt);
	err = pkvm_get_pkru(vm, &snap->pkru);
	if (!err)
		err = save_vcpu(vm, snap);
	if (!err)
		err = set_dirty_logging(vm, true);
	if (!err)
		err = collect_dirty(vm, snap);	/* starts the log afresh */
	if (err)
		goto fail;
	memset(vm->host_dirty, 0, words * sizeof(uint64_t));
	err = copy_resident(vm, snap);
	if (err)
		goto fail;
	memcpy(snap->frames_used, vm->frames.used, frame_words * sizeof(uint64_t));
	snap->frames_free = vm->frames.free;
	memcpy(snap->pool_used, vm->pt.pool_used, pool_words * sizeof(uint64_t));
	snap->pool_in_use = vm->pt.pool_in_use;
	snap->root = vm->pt.root;
	snap->pkeys = vm->pkeys;
	snap->regs = vm->regs;
	snap->trampoline_mapped = vm->trampoline_mapped;
	vm->snapshot = snap;
	return 0;
fail:
	if (snap->mem)
		munmap(snap->mem, vm->mem.size);
	snapshot_free(snap);
	return err;
}

/*
 * The sregs carry the snapshot's FS/GS bases (snap->regs', which the host
 * may have set after the vCPU last took them): what the next entry's
 * pkvm_vcpu_set_segments() would set with two more ioctls.  KVM_SET_XSAVE
 * sets the whole FPU state, so KVM_SET_FPU is needed only without it.
 */
static int restore_vcpu(struct pkvm_vm *vm, struct pkvm_snapshot *snap)
{
	struct kvm_sregs sregs = snap->sregs;
	int err;

	sregs.fs.base = snap->regs.fs_base;
	sregs.gs.base = snap->regs.gs_base;
	err = pkvm_vcpu_set_sregs_deferred(vm, &sregs);	/* with the next entry */
	if (err)
		return err;
	vm->segs_dirty = false;
	if (snap->xsave)
		return pkvm_kvm_set_xsave(vm->vcpu_fd, snap->xsave);
	return pkvm_kvm_set_fpu(vm->vcpu_fd, &snap->fpu);
}

int pkvm_restore(struct pkvm_vm *vm)
{
	struct pkvm_snapshot *snap = vm->snapshot;
	size_t pool_words = (vm->pt.pool_pages + 63) / 64;
	uint64_t pool_first = vm->pool_gpa / PAGE_SIZE;
	bool tables_restored = false;
	struct pkvm_demand demand;
	int err;

	if (!snap)
		return -ENOENT;
	pkvm_demand_init(&demand);
	if (vm->kick.running)
		return -EBUSY;
	/* Copied first, the one step that can fail for want of memory: taken at the end. */
	err = pkvm_demand_copy(&demand, &snap->demand);
	if (!err)
		err = collect_dirty(vm, snap);
	if (err) {
		pkvm_demand_destroy(&demand);
		return err;
	}
	for (size_t w = 0; w < snap->words; w++) {
		uint64_t bits = vm->host_dirty[w];

		while (bits) {
			uint64_t page = w * 64 + __builtin_ctzll(bits);
			uint64_t off = page * PAGE_SIZE;

			if (off < vm->mem.size)
				memcpy(vm->mem.base + off, snap->mem + off, PAGE_SIZE);
			tables_restored |= page >= pool_first;
			bits &= bits - 1;
		}
		vm->host_dirty[w] = 0;
	}
	/* The pool's bitmap comes back with the pages: views of today are gone. */
	pkvm_soft_forget(&vm->soft, snap->root);
	memcpy(vm->frames.used, snap->frames_used, ((vm->frames.count + 63) / 64 + 1) * 8);
	vm->frames.free = snap->frames_free;
	memcpy(vm->pt.pool_used, snap->pool_used, pool_words * sizeof(uint64_t));
	vm->pt.pool_in_use = snap->pool_in_use;
	/*
	 * Reload CR3 (and drop KVM's shadow pages) on entry only if what the
	 * vCPU may have cached is gone: a pool page came back, the root moved,
	 * or the soft backend's views were forgotten.  Otherwise the tables
	 * are the ones it runs on, and a flush would only cost the next entry.
	 */
	if (tables_restored || vm->pt.root != snap->root || vm->backend == PKVM_PKEYS_SOFT)
		vm->pt.changed = true;
	vm->pt.root = snap->root;
	vm->pkeys = snap->pkeys;
	pkvm_demand_destroy(&vm->demand);
	vm->demand = demand;
	vm->regs = snap->regs;
	vm->segs_dirty = true;		/* until restore_vcpu() sets them */
	vm->trampoline_mapped = snap->trampoline_mapped;
	vm->call_active = false;
	vm->finish_entry = false;
	vm->cr3 = snap->root;
	vm->pkru = snap->pkru;		/* on hw it comes back with the XSAVE state */
	vm->pkru_dirty = false;
	vm->pkru_stale = false;
	return restore_vcpu(vm, snap);
}

void pkvm_snapshot_drop(struct pkvm_vm *vm)
{
	struct pkvm_snapshot *snap = vm->snapshot;

	if (!snap)
		return;
	vm->snapshot = NULL;
	munmap(snap->mem, vm->mem.size);
	snapshot_free(snap);
	set_dirty_logging(vm, false);	/* best effort: only costs speed if it stays on */
}
