/* soft_exits.c: the soft backend's side of guest exceptions: RDPKRU/WRPKRU, CPUID and PK faults. */
#include <errno.h>
#include <string.h>

#include "cpuid.h"
#include "vm.h"

/*
 * The guest's instruction bytes at @rip, fetched as the CPU would (a user
 * fetch: keys do not apply).  Returns how many bytes could be read.
 */
static size_t fetch_insn(struct pkvm_vm *vm, uint64_t rip, uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len) {
		struct pkvm_walk w;

		if (pkvm_walk(&vm->walk, vm->pt.root, rip + n, PKVM_ACC_USER | PKVM_ACC_FETCH, 0, &w) ||
		    w.gpa >= vm->mem.size)
			break;
		buf[n++] = vm->mem.base[w.gpa];
	}
	return n;
}

static void gp_fault(struct pkvm_exit *exit)
{
	exit->fault.vector = X86_VEC_GP;
	exit->fault.has_error_code = true;
	exit->fault.error_code = 0;
}

/*
 * RDPKRU and WRPKRU raise #UD when CR4.PKE=0 (SDM vol. 2B); with PKE the CPU
 * would run them.  Do what it would: ECX (and EDX for WRPKRU) must be 0, else
 * #GP(0); RDPKRU zero-extends into RAX and clears RDX.  Returns 1 when done.
 */
static int emulate_pkru_insn(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	static const uint8_t rdpkru[] = X86_RDPKRU_BYTES, wrpkru[] = X86_WRPKRU_BYTES;
	struct pkvm_regs *r = &vm->regs;
	uint8_t insn[3];
	bool is_wr;

	if (fetch_insn(vm, r->rip, insn, sizeof(insn)) != sizeof(insn))
		return 0;
	if (!memcmp(insn, rdpkru, 3))
		is_wr = false;
	else if (!memcmp(insn, wrpkru, 3))
		is_wr = true;
	else
		return 0;
	if ((uint32_t)r->rcx || (is_wr && (uint32_t)r->rdx)) {
		gp_fault(exit);
		return 0;
	}
	if (is_wr) {
		uint32_t value = (uint32_t)r->rax;

		if (!pkvm_pkru_guest_may_set(vm, value)) {
			gp_fault(exit);
			exit->fault.pkru_refused = true;
			exit->fault.refused_pkru = value;
			return 0;
		}
		vm->pkru = value;
	} else {
		r->rax = vm->pkru;
		r->rdx = 0;
	}
	r->rip += 3;
	vm->stats.pkru_emulations++;
	return 1;
}

/*
 * A #PF on a view: ask the master tables what the CPU would have said under
 * the current PKRU.  If they deny the access too, report their error code
 * (this is where PFEC_PK comes from).  If they allow it, the view hid the
 * page for a fetch under AD (no execute-only pages without PKU: report it,
 * as documented) or was stale (rebuild it and retry once).
 */
static int reconstruct_pf(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	unsigned access = exit->fault.error_code & (PFEC_W | PFEC_U | PFEC_I);
	struct pkvm_walk w;
	int err = pkvm_walk(&vm->walk, vm->pt.root, exit->fault.addr, access, vm->pkru, &w);

	if (err == -EFAULT) {
		exit->fault.error_code = exit->fault.pfec = w.pfec;
		exit->fault.pkey = w.level ? (int)w.pkey : -1;
		vm->soft_retry_rip = 0;
		return 0;
	}
	if (err == 0 && (access & PFEC_I)) {
		exit->fault.error_code = exit->fault.pfec = PFEC_P | PFEC_U | PFEC_I;
		exit->fault.pkey = w.pkey;
		return 0;
	}
	if (err == 0 && vm->soft_retry_rip != exit->fault.rip + 1) {
		vm->soft_retry_rip = exit->fault.rip + 1;	/* +1: rip 0 is a valid address */
		pkvm_soft_drop_views(&vm->soft, &vm->pt);
		return 1;
	}
	return 0;	/* the same fault again: report what the CPU said */
}

/* Bytes of the XSAVE area the components enabled in @xcr0 need (CPUID 0xD.0 EBX). */
static uint32_t xsave_size(const struct pkvm_xsave_layout *layout, uint64_t xcr0)
{
	uint32_t size = XSAVE_HDR_OFFSET + 64;

	for (unsigned f = 2; f < PKVM_XSAVE_MAX_FEATURES; f++)
		if ((xcr0 & XFEATURE_MASK(f)) &&
		    layout->feature[f].offset + layout->feature[f].size > size)
			size = layout->feature[f].offset + layout->feature[f].size;
	return size;
}

/*
 * CPUID at CPL3 with CPUID faulting: #GP(0).  Answer from the table KVM was
 * given, with what KVM would compute at run time (OSXSAVE, the XSAVE size for
 * XCR0) and what the soft backend adds: PKU, and OSPKE as if CR4.PKE were set.
 */
static int emulate_cpuid(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	struct pkvm_regs *r = &vm->regs;
	uint32_t leaf = (uint32_t)r->rax, subleaf = (uint32_t)r->rcx;
	struct kvm_cpuid_entry2 *e;
	uint32_t out[4] = { 0 };
	uint8_t insn[2];

	if (!vm->cpuid_faulting || exit->fault.error_code != 0 ||
	    fetch_insn(vm, r->rip, insn, 2) != 2 || insn[0] != 0x0f || insn[1] != 0xa2)
		return 0;
	e = pkvm_cpuid_find(vm->cpuid->entries, vm->cpuid->nent, leaf, subleaf);
	if (e) {
		out[0] = e->eax;
		out[1] = e->ebx;
		out[2] = e->ecx;
		out[3] = e->edx;
	}
	if (leaf == 1 && (vm->cr4 & CR4_OSXSAVE))
		out[2] |= CPUID_1_ECX_OSXSAVE;
	if (leaf == 7 && subleaf == 0)
		out[2] |= CPUID_7_ECX_PKU | CPUID_7_ECX_OSPKE;
	if (leaf == 0xd && subleaf == 0 && e)
		out[1] = xsave_size(&vm->xsave, vm->xcr0);
	/*
	 * The vCPU's XCR0 has no PKRU (the host keeps it), but signal frames
	 * carry it (fpstate.c): say that it is a component, and where, as hw.
	 */
	if (leaf == 0xd && (pkvm_fpstate_features(vm) & XFEATURE_MASK(XFEATURE_PKRU))) {
		const uint32_t size = vm->xsave.feature[XFEATURE_PKRU].size;
		const uint32_t offset = vm->xsave.feature[XFEATURE_PKRU].offset;

		if (subleaf == 0) {
			out[0] |= XFEATURE_MASK(XFEATURE_PKRU);
			if (out[2] < offset + size)
				out[2] = offset + size;
		} else if (subleaf == XFEATURE_PKRU) {
			out[0] = size;
			out[1] = offset;
			out[2] = out[3] = 0;
		}
	}
	r->rax = out[0];
	r->rbx = out[1];
	r->rcx = out[2];
	r->rdx = out[3];
	r->rip += 2;
	return 1;
}

/*
 * An instruction the host carried out for the guest ran with EFLAGS.TF set:
 * the CPU would now take the single-step trap (SDM vol. 3B §17.3.1.4), with
 * RIP after the instruction and its effects done, as hw reports it.  Returns
 * 0: the exit is the trap, reported like any other.
 */
static int single_step_trap(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	memset(&exit->fault, 0, sizeof(exit->fault));
	exit->fault.vector = X86_VEC_DB;
	exit->fault.rip = vm->regs.rip;
	exit->fault.pkey = -1;
	exit->fault.pkru = vm->pkru;
	return 0;
}

int pkvm_soft_handle_fault(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	int done;

	if (vm->backend != PKVM_PKEYS_SOFT || exit->reason != PKVM_EXIT_FAULT)
		return 0;
	if (exit->fault.vector == X86_VEC_PF)
		return reconstruct_pf(vm, exit);	/* a retry: the instruction runs again */
	if (exit->fault.vector == X86_VEC_UD)
		done = emulate_pkru_insn(vm, exit);
	else if (exit->fault.vector == X86_VEC_GP)
		done = emulate_cpuid(vm, exit);
	else
		return 0;
	if (done && (vm->regs.rflags & X86_EFLAGS_TF))
		return single_step_trap(vm, exit);
	return done;
}
