/* vcpu.c: puts the vCPU in 64-bit mode with the library's GDT, TSS, IDT and SYSCALL entry. */
#include <errno.h>
#include <string.h>

#include "cpuid.h"
#include "guest/stub.h"
#include "kvm.h"
#include "layout.h"
#include "vm.h"

/* A code/data descriptor (SDM vol. 3A §3.4.5): flat, present, accessed preset. */
static uint64_t gdt_segment(unsigned type, unsigned dpl, int long_mode)
{
	uint64_t d = 0xffffULL | (0xfULL << 48);	/* limit 0xfffff, G=1 */

	d |= (uint64_t)(type | 1) << 40;		/* accessed: the CPU need not write it */
	d |= 1ULL << 44;				/* S: code or data */
	d |= (uint64_t)dpl << 45;
	d |= 1ULL << 47;				/* P */
	d |= long_mode ? 1ULL << 53 : 1ULL << 54;	/* L for 64-bit code, else D/B */
	d |= 1ULL << 55;				/* G */
	return d;
}

static void write_gdt_tss(struct pkvm_vm *vm)
{
	uint8_t *page = vm->mem.base + PKVM_SYS_GPA + PKVM_GDT_OFFSET;
	uint64_t *gdt = (uint64_t *)page;
	uint64_t tss_base = PKVM_SYS_VA(PKVM_TSS_OFFSET);
	uint64_t tss_limit = 0x67;
	uint8_t *tss = page + PKVM_TSS_OFFSET;
	uint64_t ist_top = PKVM_IST_TOP_GVA;

	memset(page, 0, PAGE_SIZE);
	gdt[PKVM_KERNEL_CS / 8] = gdt_segment(0xa, 0, 1);	/* execute/read */
	gdt[PKVM_KERNEL_DS / 8] = gdt_segment(0x2, 0, 0);	/* read/write */
	gdt[PKVM_USER_DS / 8] = gdt_segment(0x2, 3, 0);
	gdt[PKVM_USER_CS / 8] = gdt_segment(0xa, 3, 1);
	/* 64-bit busy TSS: a 16-byte system descriptor (SDM §8.2.3). */
	gdt[PKVM_TSS_SEL / 8] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) |
				(0xbULL << 40) | (1ULL << 47) | ((tss_base >> 24) & 0xff) << 56;
	gdt[PKVM_TSS_SEL / 8 + 1] = tss_base >> 32;

	/* RSP0 (offset 4) and IST1 (offset 36) both point at the stub stack. */
	memcpy(tss + 4, &ist_top, 8);
	memcpy(tss + 36, &ist_top, 8);
	/* I/O map base beyond the limit: no I/O permission bitmap. */
	tss[102] = 0x68;
}

static void write_idt(struct pkvm_vm *vm)
{
	uint64_t *idt = (uint64_t *)(vm->mem.base + PKVM_SYS_GPA + PKVM_IDT_OFFSET);
	uint64_t vectors = PKVM_SYS_VA(PKVM_STUB_OFFSET) + PKVM_STUB_SYM_OFFSET(pkvm_guest_stub_vectors);

	memset(idt, 0, PAGE_SIZE);
	for (unsigned v = 0; v < X86_NR_EXCEPTIONS; v++) {
		uint64_t handler = vectors + v * PKVM_STUB_VECTOR_STRIDE;

		/*
		 * 64-bit interrupt gate on IST1.  DPL0, so INT n from CPL3 is #GP,
		 * except INT3 and INTO which user code may raise, as on Linux.
		 */
		uint64_t dpl = (v == X86_VEC_BP || v == X86_VEC_OF) ? 3 : 0;

		idt[2 * v] = (handler & 0xffff) | ((uint64_t)PKVM_KERNEL_CS << 16) | (1ULL << 32) |
			     (0xeULL << 40) | (dpl << 45) | (1ULL << 47) |
			     ((handler >> 16) & 0xffff) << 48;
		idt[2 * v + 1] = handler >> 32;
	}
}

static void set_seg(struct kvm_segment *s, uint16_t selector, unsigned type, unsigned dpl,
		    int code64)
{
	memset(s, 0, sizeof(*s));
	s->selector = selector;
	s->limit = 0xffffffff;
	s->type = type | 1;
	s->present = 1;
	s->dpl = dpl;
	s->s = 1;
	s->l = code64;
	s->db = !code64;
	s->g = 1;
}

int pkvm_vcpu_get_sregs(struct pkvm_vm *vm, struct kvm_sregs *sregs)
{
	if (vm->sregs_deferred) {
		*sregs = vm->run->s.regs.sregs;
		return 0;
	}
	return pkvm_kvm_get_sregs(vm->vcpu_fd, sregs);
}

int pkvm_vcpu_set_sregs(struct pkvm_vm *vm, const struct kvm_sregs *sregs)
{
	int err = pkvm_kvm_set_sregs(vm->vcpu_fd, sregs);

	if (!err)
		vm->sregs_deferred = false;
	return err;
}

int pkvm_vcpu_set_sregs_deferred(struct pkvm_vm *vm, const struct kvm_sregs *sregs)
{
	if (!vm->sync_sregs)
		return pkvm_vcpu_set_sregs(vm, sregs);
	/* run_once() asks KVM for it (kvm_dirty_regs); KVM only reads this copy. */
	vm->run->s.regs.sregs = *sregs;
	vm->sregs_deferred = true;
	return 0;
}

/*
 * A signal can stop the vCPU at CPL3.  The host always resumes through the
 * CPL0 stub, so put CS and SS back to the kernel's first (@sregs: current).
 */
int pkvm_vcpu_to_kernel_mode(struct pkvm_vm *vm, struct kvm_sregs *sregs)
{
	set_seg(&sregs->cs, PKVM_KERNEL_CS, 0xa, 0, 1);
	set_seg(&sregs->ss, PKVM_KERNEL_DS, 0x2, 0, 0);
	return pkvm_vcpu_set_sregs_deferred(vm, sregs);
}

int pkvm_vcpu_set_segments(struct pkvm_vm *vm)
{
	struct kvm_sregs sregs;
	int err = pkvm_vcpu_get_sregs(vm, &sregs);

	if (err)
		return err;
	sregs.fs.base = vm->regs.fs_base;
	sregs.gs.base = vm->regs.gs_base;
	err = pkvm_vcpu_set_sregs_deferred(vm, &sregs);
	if (!err)
		vm->segs_dirty = false;
	return err;
}

static int set_sregs(struct pkvm_vm *vm)
{
	struct kvm_sregs sregs;
	int err = pkvm_vcpu_get_sregs(vm, &sregs);

	if (err)
		return err;
	set_seg(&sregs.cs, PKVM_KERNEL_CS, 0xa, 0, 1);
	set_seg(&sregs.ss, PKVM_KERNEL_DS, 0x2, 0, 0);
	set_seg(&sregs.ds, 0, 0x2, 0, 0);
	set_seg(&sregs.es, 0, 0x2, 0, 0);
	set_seg(&sregs.fs, 0, 0x2, 0, 0);
	set_seg(&sregs.gs, 0, 0x2, 0, 0);
	sregs.fs.base = vm->regs.fs_base;
	sregs.gs.base = vm->regs.gs_base;

	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = PKVM_TSS_SEL;
	sregs.tr.base = PKVM_SYS_VA(PKVM_TSS_OFFSET);
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 2;
	sregs.ldt.unusable = 1;

	sregs.gdt.base = PKVM_SYS_VA(PKVM_GDT_OFFSET);
	sregs.gdt.limit = PKVM_GDT_ENTRIES * 8 - 1;
	sregs.idt.base = PKVM_SYS_VA(PKVM_IDT_OFFSET);
	sregs.idt.limit = X86_NR_EXCEPTIONS * 16 - 1;

	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs.cr3 = vm->pt.root;
	sregs.cr4 = vm->cr4;
	sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	return pkvm_vcpu_set_sregs(vm, &sregs);
}

static int set_msrs(struct pkvm_vm *vm)
{
	/* SYSCALL: kernel CS/SS from STAR[47:32]; SYSRET user selectors from STAR[63:48]. */
	uint64_t star = ((uint64_t)PKVM_USER32_CS << 48) | ((uint64_t)PKVM_KERNEL_CS << 32);
	uint64_t lstar = PKVM_SYS_VA(PKVM_STUB_OFFSET) + PKVM_STUB_SYM_OFFSET(pkvm_guest_stub_syscall);
	/* Unreachable (no 32-bit code segment), but never 0: RIP 0 at CPL0 is guest memory. */
	uint64_t cstar = PKVM_SYS_VA(PKVM_STUB_OFFSET) +
			 PKVM_STUB_SYM_OFFSET(pkvm_guest_stub_syscall32);
	/* Enter the stub with no single-step, string ops forward and no AC, as Linux does. */
	uint64_t fmask = X86_EFLAGS_TF | X86_EFLAGS_DF | X86_EFLAGS_IF | X86_EFLAGS_AC |
			 X86_EFLAGS_NT;
	const struct { uint32_t index; uint64_t value; } msrs[] = {
		{ MSR_STAR, star },
		{ MSR_LSTAR, lstar },
		{ MSR_CSTAR, cstar },
		{ MSR_SYSCALL_MASK, fmask },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_CR_PAT, 0x0007040600070406ULL },	/* the reset value */
	};

	for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		int err = pkvm_kvm_set_msr(vm->vcpu_fd, msrs[i].index, msrs[i].value);

		if (err)
			return err;
	}
	return 0;
}

/* x87 and SSE as a Linux process starts with them (FNINIT control word, default MXCSR). */
static int set_fpu(struct pkvm_vm *vm)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	return pkvm_kvm_set_fpu(vm->vcpu_fd, &fpu);
}

static int map_sys(struct pkvm_vm *vm)
{
	const struct { uint64_t offset, size, flags; } sys[] = {
		{ PKVM_GDT_OFFSET, PAGE_SIZE, PTE_W | PTE_NX | PTE_G },
		{ PKVM_IDT_OFFSET, PAGE_SIZE, PTE_NX | PTE_G },
		{ PKVM_STUB_OFFSET, PAGE_SIZE, PTE_G },
		{ PKVM_STACK_OFFSET, PKVM_STACK_SIZE, PTE_W | PTE_NX | PTE_G },
		{ PKVM_PKRU_TABLE_OFFSET, PAGE_SIZE, PTE_W | PTE_NX | PTE_G },
	};

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		int err = pkvm_pt_map(&vm->pt, PKVM_SYS_VA(sys[i].offset), PKVM_SYS_GPA + sys[i].offset,
				      sys[i].size, sys[i].flags, 0);

		if (err)
			return err;
	}
	return 0;
}

int pkvm_vcpu_setup(struct pkvm_vm *vm)
{
	size_t stub_size = pkvm_guest_stub_end - pkvm_guest_stub_start;
	struct kvm_cpuid_entry2 *leaf7 = pkvm_cpuid_find(vm->cpuid->entries, vm->cpuid->nent, 7, 0);
	struct kvm_cpuid_entry2 *leaf1 = pkvm_cpuid_find(vm->cpuid->entries, vm->cpuid->nent, 1, 0);
	bool xsave = leaf1 && (leaf1->ecx & CPUID_1_ECX_XSAVE);
	int err;

	_Static_assert(PKVM_STUB_TABLE_DISTANCE == PKVM_PKRU_TABLE_OFFSET - PKVM_STUB_OFFSET,
		       "the stub finds its PKRU table at a fixed distance");
	_Static_assert(PKVM_STUB_USER_CS == PKVM_USER_CS, "the stub's user CS");
	if (stub_size > PAGE_SIZE)
		return -E2BIG;
	write_gdt_tss(vm);
	write_idt(vm);
	memcpy(vm->mem.base + PKVM_SYS_GPA + PKVM_STUB_OFFSET, pkvm_guest_stub_start, stub_size);
	err = map_sys(vm);
	if (err)
		return err;
	vm->stub_table = (struct pkvm_stub_pkru_table *)(vm->mem.base + PKVM_SYS_GPA +
							  PKVM_PKRU_TABLE_OFFSET);
	/*
	 * soft: a PCID per view where KVM offers them, so that switching
	 * views keeps the TLB entries of each (PCID 0 runs the stub until the
	 * first entry; CR4.PCIDE wants it, as CR3[11:0] is 0 then).
	 */
	vm->soft.pcids = vm->backend == PKVM_PKEYS_SOFT && !vm->soft_no_pcid &&
			 leaf1 && (leaf1->ecx & CPUID_1_ECX_PCID);
	if (vm->backend == PKVM_PKEYS_SOFT && !vm->soft_pkru_exits)
		pkvm_soft_attach_table(&vm->soft, vm->stub_table, pkvm_pkru_policy_allows, vm);

	/*
	 * SMEP and SMAP where offered: the stub touches no user memory, but for
	 * the soft #UD path's opcode bytes, which it reads with EFLAGS.AC set.
	 */
	vm->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | (xsave ? CR4_OSXSAVE : 0);
	if (leaf7 && (leaf7->ebx & CPUID_7_EBX_SMEP))
		vm->cr4 |= CR4_SMEP;
	if (leaf7 && (leaf7->ebx & CPUID_7_EBX_SMAP))
		vm->cr4 |= CR4_SMAP;
	if (vm->backend == PKVM_PKEYS_HW)
		vm->cr4 |= CR4_PKE;
	if (vm->soft.pcids)
		vm->cr4 |= CR4_PCIDE;
	return pkvm_vcpu_program(vm);
}

int pkvm_vcpu_program(struct pkvm_vm *vm)
{
	struct kvm_cpuid_entry2 *leaf1 = pkvm_cpuid_find(vm->cpuid->entries, vm->cpuid->nent, 1, 0);
	bool xsave = leaf1 && (leaf1->ecx & CPUID_1_ECX_XSAVE);
	struct kvm_regs regs = { .rflags = X86_EFLAGS_FIXED };
	int err = set_sregs(vm);

	if (!err)
		err = set_msrs(vm);
	if (!err && xsave)
		err = pkvm_kvm_set_xcr0(vm->vcpu_fd, vm->xcr0);
	/*
	 * soft: the guest must see PKU and OSPKE in CPUID as on hw, but KVM only
	 * reports OSPKE with CR4.PKE.  CPUID faulting (which KVM offers every
	 * guest) makes a CPL3 CPUID trap so the host can answer; without it the
	 * guest simply sees no PKU, and keys are enforced all the same.
	 */
	if (!err && vm->backend == PKVM_PKEYS_SOFT)
		vm->cpuid_faulting = pkvm_kvm_set_msr(vm->vcpu_fd, MSR_MISC_FEATURES_ENABLES,
						      MISC_FEATURES_CPUID_FAULT) == 0;
	if (!err)
		err = set_fpu(vm);
	if (!err)
		err = pkvm_kvm_set_regs(vm->vcpu_fd, &regs);
	return err;
}
