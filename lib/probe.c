/* probe.c: proves, before a VM is handed out, that this KVM runs the guest ABI as x86 defines it. */
#include <errno.h>

#include "vm.h"

/* An arbitrary value the guest must hand back through RAX -> RDI. */
#define PROBE_MAGIC	0x706b766d70726f62ULL	/* "pkvmprob" */
#define PROBE_TIME_NS	(2ULL * 1000 * 1000 * 1000)

/*
 * Everything libpkvm promises rests on one round trip: a CPL3 SYSCALL enters
 * the stub at CPL0 through MSR_LSTAR, which leaves to the host with the
 * user's registers intact.  Some devices that answer the KVM API do not
 * honour it.  PVM ("pagetable-based virtual machine", kvm-pvm), which runs
 * guests on CPUs or clouds without hardware virtualization, expects
 * paravirtualized guests and delivers a native guest's SYSCALL as a
 * user-mode #PF at the entry point.  A guest there would run, but every
 * system call would turn into a fault: refuse the VM instead.
 *
 * The probe runs the call trampoline (which pkvm_call() needs anyway) once,
 * from its first byte, with a magic value in RAX: the host must see the
 * trampoline's SYSCALL number, the magic in RDI (the trampoline's
 * mov %rax, %rdi ran at CPL3) and RCX just past the SYSCALL.  The user
 * context and the counters are put back as they were.
 */
int pkvm_vm_probe(struct pkvm_vm *vm)
{
	struct pkvm_regs saved = vm->regs, r = vm->regs;
	struct pkvm_stats stats = vm->stats;
	uint64_t builds = vm->soft.builds, deadline = vm->kick.deadline_ns;
	struct pkvm_exit exit;
	bool honoured;
	int err = pkvm_trampoline_map(vm);

	if (err)
		return err;
	r.rip = PKVM_TRAMPOLINE_GVA;
	r.rax = PROBE_MAGIC;
	err = pkvm_set_regs(vm, &r);
	if (err)
		return err;
	/* A device that loops instead of exiting must not hang pkvm_vm_create(). */
	err = pkvm_set_time_limit(vm, PROBE_TIME_NS);
	if (!err)
		err = pkvm_run(vm, &exit);
	honoured = !err && exit.reason == PKVM_EXIT_SYSCALL &&
		   exit.syscall.nr == PKVM_CALL_RETURN_NR && exit.syscall.args[0] == PROBE_MAGIC &&
		   vm->regs.rip == PKVM_TRAMPOLINE_GVA + PKVM_TRAMPOLINE_SYSCALL +
				   PKVM_SYSCALL_INSN_LEN;
	vm->regs = saved;
	vm->stats = stats;
	vm->soft.builds = builds;
	vm->kick.deadline_ns = deadline;
	if (err)
		return err;
	return honoured ? 0 : -ENODEV;
}
