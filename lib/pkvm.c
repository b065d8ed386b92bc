/* pkvm.c: the VM lifecycle and top-level entry points: KVM objects, guest memory, backend choice, the capability probe. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"
#include "kvm.h"
#include "layout.h"
#include "vm.h"

static bool cpuid_has_pku(struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *e = pkvm_cpuid_find(cpuid->entries, cpuid->nent, 7, 0);

	return e && (e->ecx & CPUID_7_ECX_PKU);
}

/* Build a small VM: pkvm_vm_create() refuses one the device cannot run (probe.c). */
static int probe_guest_abi(struct pkvm_caps *caps, const char *kvm_path)
{
	struct pkvm_config cfg = { .mem_size = 8 << 20, .pkeys = PKVM_PKEYS_NONE,
				   .kvm_path = kvm_path };
	struct pkvm_vm *vm;
	int err = pkvm_vm_create(&vm, &cfg);

	caps->runs_guests = err == 0;
	pkvm_vm_destroy(vm);
	return err == -ENODEV ? 0 : err;
}

int pkvm_caps(struct pkvm_caps *caps, const char *kvm_path)
{
	struct kvm_cpuid2 *cpuid;
	struct kvm_cpuid_entry2 *e;
	struct pkvm_xsave_layout layout;
	int fd = pkvm_kvm_open(kvm_path, NULL);
	int err;

	memset(caps, 0, sizeof(*caps));
	if (fd < 0)
		return fd;
	caps->api_version = KVM_API_VERSION;
	caps->sync_regs = pkvm_kvm_check_extension(fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS;
	err = pkvm_kvm_supported_cpuid(fd, &cpuid);
	pkvm_kvm_close(fd);
	if (err)
		return err;
	caps->pku = cpuid_has_pku(cpuid);
	e = pkvm_cpuid_find(cpuid->entries, cpuid->nent, 7, 0);
	caps->smep = e && (e->ebx & CPUID_7_EBX_SMEP);
	caps->smap = e && (e->ebx & CPUID_7_EBX_SMAP);
	e = pkvm_cpuid_find(cpuid->entries, cpuid->nent, 1, 0);
	caps->pcid = e && (e->ecx & CPUID_1_ECX_PCID);
	if (pkvm_xsave_layout_init(&layout, cpuid->entries, cpuid->nent) == 0) {
		caps->supported_xcr0 = layout.supported_xcr0;
		caps->xsave_size = layout.max_size;
	}
	caps->maxphyaddr = pkvm_cpuid_maxphyaddr(cpuid->entries, cpuid->nent);
	/* Leaf 0: the vendor string in EBX, EDX, ECX. */
	e = pkvm_cpuid_find(cpuid->entries, cpuid->nent, 0, 0);
	if (e) {
		memcpy(caps->vendor, &e->ebx, 4);
		memcpy(caps->vendor + 4, &e->edx, 4);
		memcpy(caps->vendor + 8, &e->ecx, 4);
	}
	caps->paging = pkvm_kvm_paging();
	free(cpuid);
	return probe_guest_abi(caps, kvm_path);
}

static int check_config(struct pkvm_config *cfg)
{
	if (!PKVM_RESERVED_ZERO(cfg))
		return -EINVAL;
	if (cfg->mem_size == 0)
		cfg->mem_size = PKVM_MEM_DEFAULT;
	if (cfg->mem_size % PAGE_SIZE || cfg->mem_size > PKVM_MEM_MAX)
		return -EINVAL;
	if (cfg->pt_pool_size == 0) {
		cfg->pt_pool_size = cfg->mem_size / 64 & PAGE_MASK;
		if (cfg->pt_pool_size < PKVM_POOL_MIN)
			cfg->pt_pool_size = PKVM_POOL_MIN;
	}
	if (cfg->pt_pool_size % PAGE_SIZE || cfg->pt_pool_size < 4 * PAGE_SIZE ||
	    cfg->pt_pool_size > cfg->mem_size / 2 ||
	    cfg->mem_size - cfg->pt_pool_size < PKVM_FRAMES_GPA + PAGE_SIZE)
		return -EINVAL;
	if ((unsigned)cfg->pkeys > PKVM_PKEYS_NONE || (cfg->flags & ~PKVM_CONFIG_FLAGS))
		return -EINVAL;
	if (cfg->kick_signal == 0)
		cfg->kick_signal = SIGRTMAX - 1;
	if (cfg->kick_signal < 1 || cfg->kick_signal > SIGRTMAX || cfg->kick_signal == SIGKILL ||
	    cfg->kick_signal == SIGSTOP)
		return -EINVAL;
	return 0;
}

static int choose_backend(struct pkvm_vm *vm, enum pkvm_pkeys_backend wanted)
{
	bool pku = cpuid_has_pku(vm->cpuid);

	switch (wanted) {
	case PKVM_PKEYS_AUTO:
		vm->backend = pku ? PKVM_PKEYS_HW : PKVM_PKEYS_SOFT;
		return 0;
	case PKVM_PKEYS_HW:
		vm->backend = PKVM_PKEYS_HW;
		return pku ? 0 : -EOPNOTSUPP;
	case PKVM_PKEYS_SOFT:
	case PKVM_PKEYS_NONE:
		vm->backend = wanted;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/*
 * The one place that knows the memslot layout: [0, pool) and [pool, mem_size).
 * Only the first gets vm->memslot_flags (dirty logging): the guest cannot
 * write the pool, whose tables it has no address for and whose entries
 * have A (and D) preset, so every pool write is the host's and is in
 * vm->host_dirty; logging the slot would only cost each restore an ioctl.
 */
int pkvm_vm_set_memslot(struct pkvm_vm *vm, unsigned slot, bool present)
{
	uint64_t gpa = slot == PKVM_SLOT_POOL ? vm->pool_gpa : 0;
	uint64_t size = slot == PKVM_SLOT_POOL ? vm->pool_size : vm->pool_gpa;
	uint32_t flags = slot == PKVM_SLOT_POOL ? 0 : vm->memslot_flags;

	return pkvm_kvm_set_memslot(vm->vm_fd, slot, flags, gpa, present ? size : 0,
				    vm->mem.base + gpa);
}

static int setup_memory(struct pkvm_vm *vm, const struct pkvm_config *cfg)
{
	enum pkvm_paging paging;
	int err;

	vm->mem.size = cfg->mem_size;
	vm->mem.base = mmap(NULL, cfg->mem_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem.base == MAP_FAILED) {
		vm->mem.base = NULL;
		return -ENOMEM;
	}
	/*
	 * With transparent huge pages the first byte written in each 2 MiB of
	 * guest memory would cost the host 2 MiB: an idle sandbox would weigh
	 * megabytes.  Density wins unless the embedder asks for speed.
	 */
	if (!cfg->host_huge_pages)
		madvise(vm->mem.base, cfg->mem_size, MADV_NOHUGEPAGE);
	vm->pool_size = cfg->pt_pool_size;
	vm->pool_gpa = cfg->mem_size - cfg->pt_pool_size;
	err = pkvm_vm_set_memslot(vm, PKVM_SLOT_MEMORY, true);
	if (!err)
		err = pkvm_vm_set_memslot(vm, PKVM_SLOT_POOL, true);
	vm->host_dirty = calloc(cfg->mem_size / PAGE_SIZE / 64 + 1, sizeof(uint64_t));
	if (!err && !vm->host_dirty)
		err = -ENOMEM;
	if (!err)
		err = pkvm_pt_init(&vm->pt, &vm->mem, vm->pool_gpa, vm->pool_size / PAGE_SIZE);
	vm->pt.dirty = vm->host_dirty;
	if (!err)
		err = pkvm_frames_init(&vm->frames, PKVM_FRAMES_GPA, vm->pool_gpa - PKVM_FRAMES_GPA);
	/* Shadow paging caches our tables; without EPT/NPT host edits must flush it. */
	paging = pkvm_kvm_paging();
	vm->pool_slot_refresh = paging != PKVM_PAGING_EPT && paging != PKVM_PAGING_NPT;
	return err;
}

static int setup_xsave(struct pkvm_vm *vm)
{
	int xsave2 = 0;
	int err = pkvm_xsave_layout_init(&vm->xsave, vm->cpuid->entries, vm->cpuid->nent);

	if (err == -ENOENT) {	/* no XSAVE at all: x87/SSE only, no PKRU */
		vm->xcr0 = XFEATURE_MASK(XFEATURE_X87) | XFEATURE_MASK(XFEATURE_SSE);
		return vm->backend == PKVM_PKEYS_HW ? -EOPNOTSUPP : 0;
	}
	if (err)
		return err;
#ifdef KVM_CAP_XSAVE2
	xsave2 = pkvm_kvm_check_extension(vm->vm_fd, KVM_CAP_XSAVE2);
#endif
	vm->xsave2 = xsave2 > (int)sizeof(struct kvm_xsave);
	vm->xsave_size = vm->xsave2 ? (size_t)xsave2 : sizeof(struct kvm_xsave);
	vm->xsave_buf = calloc(1, vm->xsave_size);
	if (!vm->xsave_buf)
		return -ENOMEM;
	vm->xcr0 = pkvm_xsave_guest_xcr0(&vm->xsave, vm->backend == PKVM_PKEYS_HW, vm->xsave_size);
	if (vm->backend == PKVM_PKEYS_HW && !(vm->xcr0 & XFEATURE_MASK(XFEATURE_PKRU)))
		return -EOPNOTSUPP;
	return 0;
}

static int setup_vcpu(struct pkvm_vm *vm)
{
	int err, sync;

	pkvm_cpuid_shape(vm->cpuid->entries, vm->cpuid->nent, vm->backend == PKVM_PKEYS_HW,
			 vm->xcr0);
	vm->vcpu_fd = pkvm_kvm_create_vcpu(vm->vm_fd, vm->cpuid, -1, &vm->stats.ioctls);
	if (vm->vcpu_fd < 0)
		return vm->vcpu_fd;
	err = pkvm_kvm_map_run(vm->kvm_fd, vm->vcpu_fd, &vm->run, &vm->run_size);
	if (err)
		return err;
	sync = pkvm_kvm_check_extension(vm->vm_fd, KVM_CAP_SYNC_REGS);
	vm->sync_regs = sync & KVM_SYNC_X86_REGS;
	vm->sync_sregs = vm->sync_regs && (sync & KVM_SYNC_X86_SREGS);
	err = pkvm_vcpu_setup(vm);
	if (err)
		return err;
	{
		struct pkvm_mmu_mode mode = {
			.wp = true,
			.smep = vm->cr4 & CR4_SMEP,
			.smap = vm->cr4 & CR4_SMAP,
			.pke = vm->backend != PKVM_PKEYS_NONE,
			.nxe = true,
		};
		struct kvm_cpuid_entry2 *ext = pkvm_cpuid_find(vm->cpuid->entries, vm->cpuid->nent,
							       0x80000001, 0);

		pkvm_walk_ctx_init(&vm->walk, &vm->mem, &mode,
				   pkvm_cpuid_maxphyaddr(vm->cpuid->entries, vm->cpuid->nent),
				   ext && (ext->edx & (1U << 26)));
	}
	return 0;
}

int pkvm_vm_create(struct pkvm_vm **out, const struct pkvm_config *config)
{
	struct pkvm_config cfg = config ? *config : (struct pkvm_config){ 0 };
	struct pkvm_vm *vm;
	int err = check_config(&cfg);

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (err)
		return err;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	pkvm_pkeys_init(&vm->pkeys);
	pkvm_soft_init(&vm->soft);
	vm->regs.rflags = X86_EFLAGS_FIXED | X86_EFLAGS_IF;
	vm->soft_pkru_exits = cfg.flags & PKVM_CONFIG_SOFT_PKRU_EXITS;
	vm->soft_no_pcid = cfg.flags & PKVM_CONFIG_SOFT_NO_PCID;

	err = pkvm_kick_init(&vm->kick, cfg.kick_signal);
	if (err) {
		free(vm);
		return err;
	}
	/* The first server, so that it always sees the trampoline's return first. */
	pkvm_exit_server_set(vm, &pkvm_hostcall_server, NULL);
	vm->kvm_path = cfg.kvm_path ? strdup(cfg.kvm_path) : NULL;
	if (cfg.kvm_path && !vm->kvm_path) {
		err = -ENOMEM;
		goto fail;
	}
	vm->kvm_fd = pkvm_kvm_open(cfg.kvm_path, &vm->stats.ioctls);
	if (vm->kvm_fd < 0) {
		err = vm->kvm_fd;
		goto fail;
	}
	err = pkvm_kvm_supported_cpuid(vm->kvm_fd, &vm->cpuid);
	if (err)
		goto fail;
	err = choose_backend(vm, cfg.pkeys);
	if (err)
		goto fail;
	/* The TSS area goes above all memslots. */
	vm->vm_fd = pkvm_kvm_create_vm(vm->kvm_fd, PKVM_KVM_TSS_ADDR, -1, &vm->stats.ioctls);
	if (vm->vm_fd < 0) {
		err = vm->vm_fd;
		goto fail;
	}
	err = setup_memory(vm, &cfg);
	if (!err)
		err = setup_xsave(vm);
	if (!err)
		err = setup_vcpu(vm);
	if (err)
		goto fail;
	/* The system fd is needed only to build the VM: hundreds of VMs, a third fewer fds. */
	pkvm_kvm_close(vm->kvm_fd);
	vm->kvm_fd = -1;
	vm->cr3 = vm->pt.root;
	err = pkvm_vm_probe(vm);
	if (err)
		goto fail;
	*out = vm;
	return 0;
fail:
	pkvm_vm_destroy(vm);
	return err;
}

void pkvm_vm_destroy(struct pkvm_vm *vm)
{
	if (!vm)
		return;
	pkvm_exit_servers_release(vm);
	pkvm_soft_destroy(&vm->soft, &vm->pt);
	if (vm->mem.base)
		pkvm_snapshot_drop(vm);
	free(vm->host_dirty);
	free(vm->pkru_allowed);
	pkvm_kick_destroy(&vm->kick);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	pkvm_kvm_close(vm->vcpu_fd);
	pkvm_kvm_close(vm->vm_fd);
	pkvm_kvm_close(vm->kvm_fd);
	if (vm->mem.base)
		munmap(vm->mem.base, vm->mem.size);
	pkvm_pt_destroy(&vm->pt);
	pkvm_frames_destroy(&vm->frames);
	pkvm_demand_destroy(&vm->demand);
	free(vm->xsave_buf);
	free(vm->cpuid);
	free(vm->kvm_path);
	free(vm);
}

int pkvm_get_stats(struct pkvm_vm *vm, struct pkvm_stats *stats)
{
	*stats = vm->stats;
	memset(stats->reserved, 0, sizeof(stats->reserved));
	stats->view_builds = vm->soft.builds;
	stats->view_pages = pkvm_soft_view_pages(&vm->soft);
	stats->view_pcids = vm->soft.pcids ? PKVM_SOFT_MAX_VIEWS : 0;
	stats->frames_in_use = vm->frames.count - vm->frames.free;
	return 0;
}

enum pkvm_pkeys_backend pkvm_vm_pkeys_backend(const struct pkvm_vm *vm)
{
	return vm->backend;
}

const char *pkvm_pkeys_backend_name(enum pkvm_pkeys_backend backend)
{
	static const char *const names[] = {
		[PKVM_PKEYS_AUTO] = "auto",
		[PKVM_PKEYS_HW] = "hw",
		[PKVM_PKEYS_SOFT] = "soft",
		[PKVM_PKEYS_NONE] = "none",
	};

	return (unsigned)backend < sizeof(names) / sizeof(names[0]) ? names[backend] : "unknown";
}
