/* run.c: the run loop: entering the user context, KVM_RUN, and decoding each exit. */
#include <errno.h>
#include <string.h>

#include "guest/stub.h"
#include "kvm.h"
#include "layout.h"
#include "vm.h"

#define STUB_VA(sym)	(PKVM_SYS_VA(PKVM_STUB_OFFSET) + PKVM_STUB_SYM_OFFSET(sym))

static void *sys_ptr(struct pkvm_vm *vm, uint64_t gva)
{
	return vm->mem.base + (gva - PKVM_SYS_GVA);
}

static void regs_to_kvm(const struct pkvm_regs *u, struct kvm_regs *k)
{
	k->rax = u->rax; k->rbx = u->rbx; k->rcx = u->rcx; k->rdx = u->rdx;
	k->rsi = u->rsi; k->rdi = u->rdi; k->rbp = u->rbp;
	k->r8 = u->r8; k->r9 = u->r9; k->r10 = u->r10; k->r11 = u->r11;
	k->r12 = u->r12; k->r13 = u->r13; k->r14 = u->r14; k->r15 = u->r15;
}

static void regs_from_kvm(struct pkvm_regs *u, const struct kvm_regs *k)
{
	u->rax = k->rax; u->rbx = k->rbx; u->rcx = k->rcx; u->rdx = k->rdx;
	u->rsi = k->rsi; u->rdi = k->rdi; u->rbp = k->rbp;
	u->r8 = k->r8; u->r9 = k->r9; u->r10 = k->r10; u->r11 = k->r11;
	u->r12 = k->r12; u->r13 = k->r13; u->r14 = k->r14; u->r15 = k->r15;
}

/*
 * Enter CPL3 through the stub: an IRET frame below the IST top, the GPRs in
 * the vCPU, RIP at resume (or resume_cr3 to reload CR3 after table edits,
 * which also flushes the guest TLB).
 */
static int enter_user(struct pkvm_vm *vm)
{
	uint64_t frame_va = PKVM_IST_TOP_GVA - sizeof(struct pkvm_stub_resume_frame);
	struct pkvm_stub_resume_frame *frame = sys_ptr(vm, frame_va);
	struct kvm_regs kregs, *k = vm->sync_regs ? &vm->run->s.regs.regs : &kregs;
	uint64_t cr3 = vm->pt.root;
	bool reload_cr3;
	int err;

	if (vm->backend == PKVM_PKEYS_SOFT) {
		/* Views of tables that changed since are stale, however they changed. */
		if (vm->pt.changed)
			pkvm_soft_drop_views(&vm->soft, &vm->pt);
		/* The view for the current PKRU; building one writes pool pages. */
		err = pkvm_soft_view_root(&vm->soft, &vm->pt, vm->pkru, &cr3);
		if (err)
			return err;
	}
	if (vm->pt.changed || vm->soft.pool_written) {
		if (vm->pool_slot_refresh) {
			/* Shadow paging: deleting the slot drops KVM's shadow of our tables. */
			err = pkvm_vm_set_memslot(vm, PKVM_SLOT_POOL, false);
			if (!err)
				err = pkvm_vm_set_memslot(vm, PKVM_SLOT_POOL, true);
			if (err)
				return err;
		}
		/* Owed until an exit proves the guest reloaded CR3 (entry_committed()). */
		vm->tlb_flush_pending = true;
		vm->pt.changed = false;
		vm->soft.pool_written = false;
	}
	if (vm->tlb_flush_pending)
		pkvm_soft_tlb_stale(&vm->soft);		/* every view's PCID, not just this one */
	reload_cr3 = vm->tlb_flush_pending || cr3 != vm->cr3;
	vm->entry_cr3 = cr3;
	if (vm->segs_dirty) {
		err = pkvm_vcpu_set_segments(vm);
		if (err)
			return err;
	}
	err = pkvm_pkru_sync_to_vcpu(vm);
	if (err)
		return err;
	if (vm->stub_table) {
		/* Where the stub's RDPKRU/WRPKRU start from (settle_after_signal() may have paused it). */
		vm->stub_table->cr3 = cr3;
		vm->stub_table->pkru = vm->pkru;
		vm->stub_table->flags = vm->soft.table ? PKVM_STUB_FAST :
					vm->backend == PKVM_PKEYS_HW ? PKVM_STUB_RECORD_PKRU : 0;
	}

	pkvm_mark_dirty(vm, frame_va - PKVM_SYS_GVA, sizeof(*frame));
	frame->cr3 = pkvm_soft_cr3_to_load(&vm->soft, cr3);
	frame->rip = vm->regs.rip;
	frame->cs = PKVM_USER_CS;
	frame->rflags = (vm->regs.rflags & X86_EFLAGS_USER_MASK) | X86_EFLAGS_FIXED | X86_EFLAGS_IF;
	frame->rsp = vm->regs.rsp;
	frame->ss = PKVM_USER_DS;

	memset(k, 0, sizeof(*k));
	regs_to_kvm(&vm->regs, k);
	k->rsp = frame_va;
	k->rip = reload_cr3 ? STUB_VA(pkvm_guest_stub_resume_cr3) : STUB_VA(pkvm_guest_stub_resume);
	k->rflags = X86_EFLAGS_FIXED;
	if (vm->sync_regs) {
		vm->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
		vm->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
		return 0;
	}
	return pkvm_kvm_set_regs(vm->vcpu_fd, k);
}

/*
 * The guest reached CPL3 through the entry: the stub loaded entry_cr3 (and
 * flushed the TLB) on its way.  Only now may the soft backend free the pages
 * of views the vCPU has left.
 */
static void entry_committed(struct pkvm_vm *vm)
{
	vm->cr3 = vm->entry_cr3;
	vm->tlb_flush_pending = false;
	if (vm->soft.table) {
		/* The guest may have switched views since, in the stub: it says where it is. */
		vm->cr3 = vm->soft.table->cr3;
		vm->pkru = vm->soft.table->pkru;
		vm->stats.pkru_emulations += pkvm_soft_sync_from_stub(&vm->soft);
	}
	if (vm->backend == PKVM_PKEYS_SOFT)
		pkvm_soft_loaded(&vm->soft, &vm->pt, vm->cr3);
}

/*
 * hw: the stub's SYSCALL and exception entries read PKRU with RDPKRU before
 * their exit (stub.S): the guest's value now, with no KVM_GET_XSAVE.  The
 * table is supervisor-only and the entries cannot be jumped into from CPL3.
 */
static void take_recorded_pkru(struct pkvm_vm *vm)
{
	if (vm->backend == PKVM_PKEYS_HW && vm->stub_table && !vm->pkru_dirty) {
		vm->pkru = vm->stub_table->pkru;
		vm->pkru_stale = false;
	}
}

static int fetch_kvm_regs(struct pkvm_vm *vm, struct kvm_regs *k)
{
	if (vm->sync_regs) {
		*k = vm->run->s.regs.regs;
		return 0;
	}
	return pkvm_kvm_get_regs(vm->vcpu_fd, k);
}

static void internal_exit(struct pkvm_exit *exit, uint32_t reason, uint64_t detail,
			  const char *what)
{
	exit->reason = PKVM_EXIT_INTERNAL;
	exit->internal.kvm_exit_reason = reason;
	exit->internal.detail = detail;
	exit->internal.what = what;
}

/* SYSCALL saved RIP in RCX and RFLAGS in R11 and left RSP alone (SDM SYSCALL). */
static int take_syscall_context(struct pkvm_vm *vm, struct kvm_regs *k)
{
	int err = fetch_kvm_regs(vm, k);

	if (err)
		return err;
	entry_committed(vm);
	regs_from_kvm(&vm->regs, k);
	vm->regs.rip = k->rcx;
	vm->regs.rflags = k->r11;
	vm->regs.rsp = k->rsp;
	return 0;
}

static int decode_syscall(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	struct kvm_regs k;
	int err = take_syscall_context(vm, &k);

	if (err)
		return err;
	take_recorded_pkru(vm);
	exit->reason = PKVM_EXIT_SYSCALL;
	exit->syscall.nr = k.rax;
	exit->syscall.args[0] = k.rdi;
	exit->syscall.args[1] = k.rsi;
	exit->syscall.args[2] = k.rdx;
	exit->syscall.args[3] = k.r10;
	exit->syscall.args[4] = k.r8;
	exit->syscall.args[5] = k.r9;
	return 0;
}

/*
 * A compatibility-mode SYSCALL: the GDT has no 32-bit user code segment, so
 * this cannot happen; should it ever, it is the guest's invalid opcode
 * (as on a CPU without compatibility-mode SYSCALL), never a way into CPL0.
 */
static int decode_syscall32(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	struct kvm_regs k;
	int err = take_syscall_context(vm, &k);

	if (err)
		return err;
	vm->regs.rip = (uint32_t)k.rcx - 2;	/* at the SYSCALL, in a 32-bit segment */
	memset(&exit->fault, 0, sizeof(exit->fault));
	exit->reason = PKVM_EXIT_FAULT;
	exit->fault.vector = X86_VEC_UD;
	exit->fault.rip = vm->regs.rip;
	exit->fault.pkey = -1;
	return pkvm_get_pkru(vm, &exit->fault.pkru);
}

static int decode_exception(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	uint64_t frame_va = PKVM_IST_TOP_GVA - sizeof(struct pkvm_stub_exception_frame);
	const struct pkvm_stub_exception_frame *f = sys_ptr(vm, frame_va);
	struct kvm_regs k;
	int err = fetch_kvm_regs(vm, &k);

	if (err)
		return err;
	/* Only a CPL3 fault is the guest's; anything else is our stub going wrong. */
	if (f->cs != PKVM_USER_CS || k.rsp != frame_va || f->vector >= X86_NR_EXCEPTIONS) {
		internal_exit(exit, 0, f->vector, "exception outside the user context");
		return 0;
	}
	entry_committed(vm);
	take_recorded_pkru(vm);
	regs_from_kvm(&vm->regs, &k);
	vm->regs.rip = f->rip;
	vm->regs.rsp = f->rsp;
	vm->regs.rflags = f->rflags;

	memset(&exit->fault, 0, sizeof(exit->fault));
	exit->reason = PKVM_EXIT_FAULT;
	exit->fault.vector = f->vector;
	exit->fault.rip = f->rip;
	exit->fault.error_code = f->error_code;
	exit->fault.has_error_code = f->vector == X86_VEC_DF ||
				     (f->vector >= X86_VEC_TS && f->vector <= X86_VEC_PF) ||
				     f->vector == X86_VEC_AC || f->vector == X86_VEC_CP;
	exit->fault.pkey = -1;
	if (f->vector == X86_VEC_PF) {
		struct kvm_sregs sregs;
		uint64_t leaf;
		unsigned level;

		err = pkvm_vcpu_get_sregs(vm, &sregs);
		if (err)
			return err;
		exit->fault.addr = sregs.cr2;
		exit->fault.pfec = f->error_code;
		if (pkvm_pt_lookup(&vm->pt, sregs.cr2, &leaf, &level) == 0)
			exit->fault.pkey = (leaf & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT;
	}
	return pkvm_get_pkru(vm, &exit->fault.pkru);
}

static int decode_io(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	const struct kvm_run *run = vm->run;

	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1) {
		internal_exit(exit, KVM_EXIT_IO, run->io.port, "unexpected port I/O");
		return 0;
	}
	switch (run->io.port) {
	case PKVM_PORT_SYSCALL:
		return decode_syscall(vm, exit);
	case PKVM_PORT_EXCEPTION:
		return decode_exception(vm, exit);
	case PKVM_PORT_SYSCALL32:
		return decode_syscall32(vm, exit);
	default:
		internal_exit(exit, KVM_EXIT_IO, run->io.port, "unexpected port I/O");
		return 0;
	}
}

static int decode_exit(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	const struct kvm_run *run = vm->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return decode_io(vm, exit);
	case KVM_EXIT_SHUTDOWN:
		internal_exit(exit, run->exit_reason, 0, "triple fault");
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		internal_exit(exit, run->exit_reason,
			      run->fail_entry.hardware_entry_failure_reason, "VM entry failed");
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		internal_exit(exit, run->exit_reason, run->internal.suberror,
			      "KVM internal error (emulation failed?)");
		return 0;
	case KVM_EXIT_MMIO:
		internal_exit(exit, run->exit_reason, run->mmio.phys_addr,
			      "access outside guest memory");
		return 0;
	default:
		internal_exit(exit, run->exit_reason, 0, "unexpected KVM exit");
		return 0;
	}
}

static bool in_stub_pkru_path(uint64_t rip)
{
	return rip == STUB_VA(pkvm_guest_stub_vectors) + X86_VEC_UD * PKVM_STUB_VECTOR_STRIDE ||
	       (rip >= STUB_VA(pkvm_guest_stub_ud) && rip < STUB_VA(pkvm_guest_stub_ud_report));
}

/*
 * A signal stopped the vCPU in the stub's RDPKRU/WRPKRU path (stub.S), which
 * returns to CPL3 without an exit: put the user context back as it was at
 * the instruction, or just after it where the host can already see its
 * effect (WRPKRU's PKRU in the table, RDPKRU's result registers) and only
 * the RIP update is missing.  @k and @sregs: the vCPU's registers.
 */
static int undo_stub_pkru(struct pkvm_vm *vm, const struct kvm_regs *k,
			  const struct kvm_sregs *sregs)
{
	uint64_t frame_va = PKVM_IST_TOP_GVA - 5 * sizeof(uint64_t);	/* #UD: no error code */
	const uint64_t *frame = sys_ptr(vm, frame_va);
	const uint64_t *saved = frame - PKVM_STUB_UD_SAVED;	/* RDX, RCX, RAX */
	uint64_t depth;

	/* The path pushes three registers, and the flags for a moment; it serves CPL3 only. */
	if (k->rsp > frame_va || frame_va - k->rsp > (PKVM_STUB_UD_SAVED + 1) * 8 || k->rsp % 8 ||
	    frame[1] != PKVM_USER_CS)
		return -EIO;
	depth = (frame_va - k->rsp) / 8;
	entry_committed(vm);
	regs_from_kvm(&vm->regs, k);
	if (depth >= 1)
		vm->regs.rax = saved[2];
	if (depth >= 2)
		vm->regs.rcx = saved[1];
	if (depth >= 3)
		vm->regs.rdx = saved[0];
	vm->regs.rip = frame[0];
	vm->regs.rflags = frame[2];
	vm->regs.rsp = frame[3];
	/* Past what the host can see (the table's PKRU, RDPKRU's result): finish it. */
	if (k->rip > STUB_VA(pkvm_guest_stub_ud_rd_result) &&
	    k->rip <= STUB_VA(pkvm_guest_stub_ud_rd_commit)) {
		vm->regs.rax = vm->pkru;
		vm->regs.rdx = 0;
		vm->regs.rip += 3;
	}
	if (k->rip >= STUB_VA(pkvm_guest_stub_ud_wr_done) &&
	    k->rip <= STUB_VA(pkvm_guest_stub_ud_wr_commit))
		vm->regs.rip += 3;
	/* It may have loaded a view's CR3 without yet saying so in the table. */
	vm->cr3 = sregs->cr3;
	pkvm_soft_loaded(&vm->soft, &vm->pt, vm->cr3);
	vm->finish_entry = false;
	return 0;
}

/*
 * A signal stopped KVM_RUN somewhere in the guest (or before it: a kick that
 * set immediate_exit).  Bring the user context back into vm->regs so that the
 * host sees (and may change) where the guest is.  At CPL3 the vCPU's
 * registers are the user's.  In the stub's resume path nothing was entered
 * yet and vm->regs is still right, but CR3 may not be loaded: the entry is
 * not committed, and the next one reloads CR3.  In a SYSCALL or exception
 * entry the guest is a few instructions from its exit to the host: let it
 * get there rather than lose the event.  So too when the signal came while
 * KVM was delivering an exception (KVM intercepts #UD and #PF and re-injects
 * them): the vCPU still shows the CPL3 state, but the exception is queued
 * and would be delivered wherever the vCPU resumes, at CPL0 in the stub if
 * the host re-entered it; and a trap (#BP) dropped instead would be lost.
 */
static int settle_after_signal(struct pkvm_vm *vm)
{
	uint64_t syscall_entry = STUB_VA(pkvm_guest_stub_syscall);
	uint64_t vectors = STUB_VA(pkvm_guest_stub_vectors);
	struct kvm_vcpu_events events;
	struct kvm_sregs sregs;
	struct kvm_regs k;
	int err = pkvm_vcpu_get_sregs(vm, &sregs);

	if (!err)
		err = pkvm_kvm_get_regs(vm->vcpu_fd, &k);
	if (!err)
		err = pkvm_kvm_get_vcpu_events(vm->vcpu_fd, &events);
	if (err)
		return err;
	/*
	 * Stopped between the stub's CR3 load and its IRET: the new view is
	 * live, so the retired pages of the old one may go.  (The entry is
	 * still re-done, CR3 load included.)
	 */
	if (vm->backend == PKVM_PKEYS_SOFT && sregs.cr3 == vm->entry_cr3 && sregs.cs.dpl == 0)
		pkvm_soft_loaded(&vm->soft, &vm->pt, vm->entry_cr3);
	if (sregs.cs.dpl == 3 && (events.exception.injected || events.exception.pending)) {
		entry_committed(vm);
		vm->finish_entry = true;	/* the exception's entry will exit to us */
		if (vm->soft.table)
			vm->soft.table->flags = 0;	/* even a #UD the stub could serve */
	} else if (sregs.cs.dpl == 0 && vm->soft.table && in_stub_pkru_path(k.rip)) {
		return undo_stub_pkru(vm, &k, &sregs);
	} else if (sregs.cs.dpl == 3) {
		entry_committed(vm);
		regs_from_kvm(&vm->regs, &k);
		vm->regs.rip = k.rip;
		vm->regs.rsp = k.rsp;
		vm->regs.rflags = k.rflags;
		vm->finish_entry = false;
		return pkvm_vcpu_to_kernel_mode(vm, &sregs);
	} else {
		/*
		 * Before the OUT of an entry; after it the event was already reported.
		 * (Without a PKRU table the #UD entry goes straight to its OUT.)
		 */
		vm->finish_entry = (k.rip >= syscall_entry &&
				    k.rip <= STUB_VA(pkvm_guest_stub_syscall_out)) ||
				   k.rip == STUB_VA(pkvm_guest_stub_syscall32) ||
				   (k.rip >= vectors && k.rip <= STUB_VA(pkvm_guest_stub_exception_out)) ||
				   (k.rip >= STUB_VA(pkvm_guest_stub_ud) &&
				    k.rip < STUB_VA(pkvm_guest_stub_ud_end));
		if (vm->finish_entry)
			entry_committed(vm);	/* CPL3 ran, so the stub had loaded CR3 */
	}
	return 0;
}

/* One KVM_RUN: 0 with the exit decoded, 1 when a signal interrupted it, or -errno. */
static int run_once(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	int err = 0;

	/* Re-entering would discard the event the stub is about to report. */
	if (!vm->finish_entry)
		err = enter_user(vm);
	else if (vm->sync_regs)
		vm->run->kvm_dirty_regs = 0;
	if (err)
		return err;
	if (vm->sregs_deferred)
		vm->run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
	vm->stats.kvm_exits++;
	err = pkvm_kvm_run(vm->vcpu_fd);
	/* KVM clears the bit once it set them, before anything can stop the run. */
	if (vm->sregs_deferred && !(vm->run->kvm_dirty_regs & KVM_SYNC_X86_SREGS))
		vm->sregs_deferred = false;
	if (err) {
		vm->run->immediate_exit = 0;
		if (err != -EINTR && err != -EAGAIN)
			return err;
		if (pkvm_pkru_guest_can_write(vm))
			vm->pkru_stale = true;	/* it may have run WRPKRU before the signal */
		err = settle_after_signal(vm);
		return err ? err : 1;
	}
	vm->finish_entry = false;
	if (pkvm_pkru_guest_can_write(vm))
		vm->pkru_stale = true;	/* the guest may have run WRPKRU */
	/* No field of an exit served before this one may leak into it. */
	memset(exit, 0, sizeof(*exit));
	return decode_exit(vm, exit);
}

/*
 * A not-present #PF on demand-backed memory: the page gets its frame and the
 * guest runs again, unseen by the caller (1).  A page reserved with no rights
 * gets none: the fault is the protection fault the CPU gives for such a page
 * (a supervisor page: P set, the range's key), final as it stands (2).  No
 * frame or table page left: PKVM_EXIT_OUT_OF_MEMORY (2).  0: not ours.
 */
static int serve_demand_fault(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	const struct pkvm_demand_range *r;
	int err;

	if (exit->reason != PKVM_EXIT_FAULT || exit->fault.vector != X86_VEC_PF ||
	    (exit->fault.pfec & PKVM_PFEC_P) || !(exit->fault.pfec & PKVM_PFEC_U))
		return 0;
	r = pkvm_demand_find(&vm->demand, exit->fault.addr);
	if (!r)
		return 0;
	if (!(r->flags & PTE_U)) {
		exit->fault.pfec |= PKVM_PFEC_P;
		exit->fault.error_code |= PKVM_PFEC_P;
		exit->fault.pkey = (int)r->pkey;
		return 2;
	}
	err = pkvm_demand_fill(vm, exit->fault.addr);
	if (err == -ENOMEM) {
		exit->reason = PKVM_EXIT_OUT_OF_MEMORY;
		return 2;
	}
	return err == 0;	/* -EEXIST: a soft view that lags the tables (soft_exits.c) */
}

/* Checks between runs: 1 with @exit set when the run must stop here. */
static int stop_requested(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	if (atomic_exchange(&vm->kick.interrupt, false)) {
		exit->reason = PKVM_EXIT_INTERRUPTED;
		return 1;
	}
	if (pkvm_kick_deadline_passed(&vm->kick)) {
		exit->reason = PKVM_EXIT_TIMEOUT;
		return 1;
	}
	return 0;
}

int pkvm_run(struct pkvm_vm *vm, struct pkvm_exit *exit)
{
	int err;

	memset(exit, 0, sizeof(*exit));	/* reserved space included, on every path */
	err = pkvm_kick_begin(&vm->kick, vm->run);
	if (err)
		return err;
	vm->stats.runs++;
	for (;;) {
		int demand;

		err = 0;
		if (!vm->finish_entry && stop_requested(vm, exit))
			break;
		if (!vm->finish_entry && pkvm_kick_take_wake(&vm->kick)) {
			/* A server's wakeup (a timer, a signal from another thread). */
			err = pkvm_exit_servers_wake(vm, exit);
			if (err >= 0) {
				/* The timer, for what is left to wait for. */
				int rearm = pkvm_wake_at(vm, vm->kick.wake_ns);

				if (rearm)
					err = rearm;
			}
			if (err < 0)
				break;
			if (err == 1) {
				err = 0;
				break;
			}
			if (err == PKVM_WAKE_HOLD) {
				pkvm_wake_before_entry(vm);
				continue;
			}
		}
		err = run_once(vm, exit);
		if (err < 0)
			break;
		if (err == 1)
			continue;	/* kicked: the checks above say why */
		demand = serve_demand_fault(vm, exit);
		if (demand == 1)
			continue;	/* a demand-backed page got its frame */
		if (!demand && exit->reason == PKVM_EXIT_FAULT && pkvm_soft_handle_fault(vm, exit))
			continue;	/* the soft backend served it: not the guest's fault */
		if (exit->reason == PKVM_EXIT_SYSCALL)
			vm->stats.syscalls++;
		if (exit->reason == PKVM_EXIT_FAULT)
			vm->stats.faults++;
		/* Host functions, then a personality; what none serves is the caller's. */
		err = pkvm_exit_servers_serve(vm, exit);
		if (err < 0)
			break;
		if (err == 1)
			continue;
		break;
	}
	pkvm_kick_end(&vm->kick);
	if (vm->forked_end)
		pkvm_vm_forked_end(vm, exit, err);
	return err;
}

int pkvm_get_regs(struct pkvm_vm *vm, struct pkvm_regs *regs)
{
	*regs = vm->regs;
	return 0;
}

int pkvm_set_regs(struct pkvm_vm *vm, const struct pkvm_regs *regs)
{
	if (!pkvm_gva_is_canonical(regs->rip) || !pkvm_gva_is_canonical(regs->rsp) ||
	    !pkvm_gva_is_canonical(regs->fs_base) || !pkvm_gva_is_canonical(regs->gs_base))
		return -EINVAL;
	if (regs->fs_base != vm->regs.fs_base || regs->gs_base != vm->regs.gs_base)
		vm->segs_dirty = true;
	vm->regs = *regs;
	vm->regs.rflags = (regs->rflags & X86_EFLAGS_USER_MASK) | X86_EFLAGS_FIXED | X86_EFLAGS_IF;
	return 0;
}

int pkvm_syscall_return(struct pkvm_vm *vm, uint64_t value)
{
	vm->regs.rax = value;
	return 0;
}
