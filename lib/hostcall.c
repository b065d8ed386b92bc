/* hostcall.c: host functions the guest calls, and guest functions the host calls. */
#include <errno.h>
#include <string.h>

#include "layout.h"
#include "vm.h"

#define MAX_CALL_ARGS		16
#define RED_ZONE		128	/* SysV ABI §3.2.2: below RSP, the callee's */

int pkvm_hostcall_register(struct pkvm_vm *vm, unsigned nr, pkvm_hostcall_fn fn, void *ctx)
{
	if (nr >= PKVM_HOSTCALL_MAX)
		return -EINVAL;
	vm->hostcall[nr].fn = fn;
	vm->hostcall[nr].ctx = ctx;
	return 0;
}

/*
 * System calls from PKVM_HOSTCALL_BASE: a registered host function answers
 * (served), and the trampoline's call ends pkvm_call() (the exit becomes
 * PKVM_EXIT_RETURN for the caller).
 */
static int serve_hostcall(struct pkvm_vm *vm, void *ctx, struct pkvm_exit *exit)
{
	uint64_t nr = exit->syscall.nr;

	(void)ctx;
	if (exit->reason != PKVM_EXIT_SYSCALL)
		return 0;
	if (nr == PKVM_CALL_RETURN_NR && vm->call_active) {
		uint64_t value = exit->syscall.args[0];	/* the trampoline moved RAX there */

		vm->regs = vm->call_saved;
		vm->call_active = false;
		exit->reason = PKVM_EXIT_RETURN;
		exit->ret.value = value;
		return 0;
	}
	if (nr < PKVM_HOSTCALL_BASE || nr - PKVM_HOSTCALL_BASE >= PKVM_HOSTCALL_MAX ||
	    !vm->hostcall[nr - PKVM_HOSTCALL_BASE].fn)
		return 0;
	nr -= PKVM_HOSTCALL_BASE;
	vm->regs.rax = vm->hostcall[nr].fn(vm, vm->hostcall[nr].ctx, exit->syscall.args);
	return 1;
}

const struct pkvm_exit_server pkvm_hostcall_server = {
	.name = "host functions",
	.serve = serve_hostcall,
};

/*
 * Where every called function returns to:
 *   mov %rax, %rdi; mov $PKVM_CALL_RETURN_NR, %eax; syscall; ud2
 * pkvm_vm_create() maps it (and runs it once, see probe.c).
 */
int pkvm_trampoline_map(struct pkvm_vm *vm)
{
	uint8_t code[16] = { 0x48, 0x89, 0xc7, 0xb8 };
	uint32_t nr = PKVM_CALL_RETURN_NR;
	int err;

	if (vm->trampoline_mapped)
		return 0;
	memcpy(code + 4, &nr, 4);
	code[8] = 0x0f; code[9] = 0x05;
	code[10] = 0x0f; code[11] = 0x0b;
	err = pkvm_map(vm, PKVM_TRAMPOLINE_GVA, code, sizeof(code), PAGE_SIZE,
		       PKVM_PROT_READ | PKVM_PROT_EXEC, 0);
	if (err)
		return err;
	vm->trampoline_mapped = true;
	return 0;
}

int pkvm_call(struct pkvm_vm *vm, uint64_t fn, const uint64_t *args, unsigned nargs,
	      struct pkvm_exit *exit)
{
	uint64_t stack[MAX_CALL_ARGS + 1], sp;
	unsigned nstack = nargs > 6 ? nargs - 6 : 0;
	struct pkvm_regs r;
	int err;

	memset(exit, 0, sizeof(*exit));
	if (nargs > MAX_CALL_ARGS || (nargs && !args) || !pkvm_gva_is_canonical(fn) ||
	    vm->regs.rsp == 0)
		return -EINVAL;
	if (vm->call_active || !pkvm_exit_servers_single_context(vm))
		return -EBUSY;
	err = pkvm_trampoline_map(vm);
	if (err)
		return err;

	/* At entry RSP + 8 is 16-byte aligned and [RSP] is the return address. */
	sp = ((vm->regs.rsp - RED_ZONE - 8 * nstack) & ~15ULL) - 8;
	stack[0] = PKVM_TRAMPOLINE_GVA;
	for (unsigned i = 0; i < nstack; i++)
		stack[1 + i] = args[6 + i];
	/* The stack is the guest's: write it as the guest could, rights and keys checked. */
	err = pkvm_write_guest(vm, sp, stack, 8 * (nstack + 1));
	if (err)
		return err;

	r = vm->regs;
	vm->call_saved = vm->regs;
	r.rip = fn;
	r.rsp = sp;
	r.rax = 0;	/* no vector registers used by varargs */
	r.rdi = nargs > 0 ? args[0] : 0;
	r.rsi = nargs > 1 ? args[1] : 0;
	r.rdx = nargs > 2 ? args[2] : 0;
	r.rcx = nargs > 3 ? args[3] : 0;
	r.r8 = nargs > 4 ? args[4] : 0;
	r.r9 = nargs > 5 ? args[5] : 0;
	r.rflags &= ~X86_EFLAGS_DF;	/* the ABI's entry state */
	err = pkvm_set_regs(vm, &r);
	if (err)
		return err;
	vm->call_active = true;
	err = pkvm_run(vm, exit);
	return err;
}

int pkvm_call_abort(struct pkvm_vm *vm)
{
	if (!vm->call_active)
		return -ENOENT;
	vm->regs = vm->call_saved;
	vm->call_active = false;
	return 0;
}
