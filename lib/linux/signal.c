/* signal.c: Linux signals for the guest: actions, masks, pending signals, frames, rt_sigreturn. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "../x86.h"
#include "personality.h"

/* The kernel's values (include/uapi/asm-generic/signal*.h, x86), not the host libc's. */
#define LX_SA_NOCLDWAIT		0x00000002ULL
#define LX_SA_SIGINFO		0x00000004ULL
#define LX_SA_RESTORER		0x04000000ULL
#define LX_SA_ONSTACK		0x08000000ULL
#define LX_SA_RESTART		0x10000000ULL
#define LX_SA_NODEFER		0x40000000ULL
#define LX_SA_RESETHAND		0x80000000ULL
#define LX_SIG_DFL		0
#define LX_SIG_IGN		1
#define LX_SIG_BLOCK		0
#define LX_SIG_UNBLOCK		1
#define LX_SIG_SETMASK		2
#define LX_SS_ONSTACK		1
#define LX_SS_AUTODISARM	(1U << 31)
#define LX_MINSIGSTKSZ		2048
#define LX_NR_PAUSE		34
#define LX_NR_RT_SIGSUSPEND	130
#define LX_NR_RT_SIGTIMEDWAIT	128

/* si_code values */
#define LX_SI_USER		0
#define LX_SI_KERNEL		0x80
#define LX_SI_TKILL		(-6)
#define LX_SEGV_MAPERR		1
#define LX_SEGV_ACCERR		2
#define LX_SEGV_PKUERR		4
#define LX_ILL_ILLOPN		2
#define LX_FPE_INTDIV		1
#define LX_FPE_FLTDIV		3
#define LX_FPE_FLTOVF		4
#define LX_FPE_FLTUND		5
#define LX_FPE_FLTRES		6
#define LX_FPE_FLTINV		7
#define LX_TRAP_TRACE		2
#define LX_BUS_ADRALN		1

/* The signal frame's fpstate: _fpx_sw_bytes in the legacy area's software bytes, and the end mark. */
#define FP_XSTATE_MAGIC1	0x46505853U
#define FP_XSTATE_MAGIC2	0x46505845U
#define FP_SW_BYTES_OFFSET	464
#define UC_FP_XSTATE		0x1
#define UC_SIGCONTEXT_SS	0x2
#define UC_STRICT_RESTORE_SS	0x4

#define SIG_BIT(sig)		(1ULL << ((sig) - 1))
#define UNBLOCKABLE		(SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP))
/* Synchronous signals go first, as Linux's next_signal() takes them. */
#define SYNCHRONOUS		(SIG_BIT(SIGSEGV) | SIG_BIT(SIGBUS) | SIG_BIT(SIGILL) | \
				 SIG_BIT(SIGTRAP) | SIG_BIT(SIGFPE) | SIG_BIT(SIGSYS))
#define DEFAULT_IGNORE		(SIG_BIT(SIGCHLD) | SIG_BIT(SIGURG) | SIG_BIT(SIGWINCH) | \
				 SIG_BIT(SIGCONT))
#define DEFAULT_STOP		(SIG_BIT(SIGSTOP) | SIG_BIT(SIGTSTP) | SIG_BIT(SIGTTIN) | \
				 SIG_BIT(SIGTTOU))
/*
 * The program is alone in a process group whose parent (pid 1) is outside
 * its session: an orphaned group, whose members Linux does not stop for the
 * terminal's stop signals (get_signal(): is_current_pgrp_orphaned()).
 * SIGSTOP stops it all the same, until SIGCONT (pkvm_linux_kill()).
 */
#define ORPHANED_STOP		(DEFAULT_STOP & ~SIG_BIT(SIGSTOP))

struct lx_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved1[8];
};

struct lx_ucontext {
	uint64_t flags;
	uint64_t link;
	struct lx_stack stack;
	struct lx_sigcontext mcontext;
	uint64_t sigmask;
};

struct lx_rt_sigframe {
	uint64_t pretcode;		/* sa_restorer: the handler's return address */
	struct lx_ucontext uc;
	struct lx_siginfo info;
};

_Static_assert(sizeof(struct lx_siginfo) == 128, "siginfo_t is 128 bytes");
_Static_assert(offsetof(struct lx_siginfo, fault.pkey) == 32, "si_pkey is at 32");
_Static_assert(sizeof(struct lx_sigcontext) == 256, "struct sigcontext is 256 bytes");
_Static_assert(sizeof(struct lx_ucontext) == 304, "struct ucontext is 304 bytes");
_Static_assert(offsetof(struct lx_rt_sigframe, info) == 312, "siginfo follows ucontext");

struct fpx_sw_bytes {
	uint32_t magic1;
	uint32_t extended_size;		/* the image and MAGIC2 */
	uint64_t xfeatures;
	uint32_t xstate_size;		/* the image */
	uint32_t padding[7];
};

void lx_signals_init(struct pkvm_linux *lx)
{
	memset(&lx->sig, 0, sizeof(lx->sig));
	lx->sig.t.altstack.flags = LX_SS_DISABLE;
}

bool lx_signal_pending(const struct pkvm_linux *lx)
{
	return lx->sig.t.pending & ~lx->sig.t.blocked;
}

/* Is the signal ignored, by its handler or by a default that ignores? */
static bool ignored(const struct pkvm_linux *lx, int sig)
{
	uint64_t handler = lx->sig.action[sig - 1].handler;

	return handler == LX_SIG_IGN ||
	       (handler == LX_SIG_DFL && ((DEFAULT_IGNORE | ORPHANED_STOP) & SIG_BIT(sig)));
}

void lx_signal_send(struct pkvm_linux *lx, int sig, const struct lx_siginfo *info)
{
	/*
	 * As Linux's prepare_signal(): SIGCONT continues a stopped program
	 * and discards pending stops, blocked or ignored as it may be; a stop
	 * discards a pending SIGCONT.
	 */
	if (sig == SIGCONT) {
		lx->sig.t.pending &= ~DEFAULT_STOP;
		lx->sig.stopped = false;
	} else if (DEFAULT_STOP & SIG_BIT(sig)) {
		lx->sig.t.pending &= ~SIG_BIT(SIGCONT);
	}
	/* An ignored signal is dropped when sent, unless blocked (it may be handled by then). */
	if (ignored(lx, sig) && !(lx->sig.t.blocked & SIG_BIT(sig)))
		return;
	/* Standard signals do not queue: one pending instance, the first one's details. */
	if (lx->sig.t.pending & SIG_BIT(sig))
		return;
	lx->sig.t.pending |= SIG_BIT(sig);
	lx->sig.t.info[sig - 1] = *info;
}

/*
 * A fault's signal, or a bad frame's: if the program blocks or ignores it,
 * it cannot go on (it would fault again), so the handler goes back to
 * SIG_DFL and the signal is unblocked, as Linux's force_sig_info() does.
 */
static void force(struct pkvm_linux *lx, int sig, const struct lx_siginfo *info)
{
	struct lx_sigaction *act = &lx->sig.action[sig - 1];

	if (act->handler == LX_SIG_IGN || (lx->sig.t.blocked & SIG_BIT(sig))) {
		if (act->handler == LX_SIG_IGN)
			act->handler = LX_SIG_DFL;
		lx->sig.t.blocked &= ~SIG_BIT(sig);
	}
	lx->sig.t.pending &= ~SIG_BIT(sig);
	lx_signal_send(lx, sig, info);
}

static bool on_altstack(const struct pkvm_linux *lx, uint64_t sp)
{
	const struct lx_stack *ss = &lx->sig.t.altstack;

	return !(ss->flags & LX_SS_DISABLE) && sp > ss->sp && sp - ss->sp <= ss->size;
}

/* What sigaltstack() reports as ss_flags for a program whose stack pointer is @sp. */
static int32_t altstack_flags(const struct pkvm_linux *lx, uint64_t sp)
{
	if (lx->sig.t.altstack.flags & LX_SS_DISABLE)
		return LX_SS_DISABLE;
	return (on_altstack(lx, sp) ? LX_SS_ONSTACK : 0) |
	       (int32_t)(lx->sig.t.altstack.flags & LX_SS_AUTODISARM);
}

/* The state a handler starts with: x87, SSE, AVX in their init state; PKRU as Linux gives it. */
static void handler_fpstate(struct pkvm_vm *vm, uint8_t *image, size_t size)
{
	const uint16_t fcw = 0x037f;
	const uint32_t mxcsr = 0x1f80;
	uint64_t xstate_bv = 0;

	memset(image, 0, size);
	memcpy(image, &fcw, sizeof(fcw));
	memcpy(image + 24, &mxcsr, sizeof(mxcsr));
	if (pkvm_fpstate_features(vm) & XFEATURE_MASK(XFEATURE_PKRU)) {
		const uint32_t pkru = LX_INIT_PKRU;

		memcpy(image + vm->xsave.feature[XFEATURE_PKRU].offset, &pkru, sizeof(pkru));
		xstate_bv = XFEATURE_MASK(XFEATURE_PKRU);
	}
	memcpy(image + XSAVE_HDR_OFFSET, &xstate_bv, sizeof(xstate_bv));
}

static void regs_to_sigcontext(const struct pkvm_regs *r, struct lx_sigcontext *sc)
{
	sc->r8 = r->r8, sc->r9 = r->r9, sc->r10 = r->r10, sc->r11 = r->r11;
	sc->r12 = r->r12, sc->r13 = r->r13, sc->r14 = r->r14, sc->r15 = r->r15;
	sc->rdi = r->rdi, sc->rsi = r->rsi, sc->rbp = r->rbp, sc->rbx = r->rbx;
	sc->rdx = r->rdx, sc->rax = r->rax, sc->rcx = r->rcx, sc->rsp = r->rsp;
	sc->rip = r->rip, sc->eflags = r->rflags;
	sc->cs = 0x33;		/* __USER_CS */
	sc->ss = 0x2b;		/* __USER_DS */
}

static void sigcontext_to_regs(const struct lx_sigcontext *sc, struct pkvm_regs *r)
{
	r->r8 = sc->r8, r->r9 = sc->r9, r->r10 = sc->r10, r->r11 = sc->r11;
	r->r12 = sc->r12, r->r13 = sc->r13, r->r14 = sc->r14, r->r15 = sc->r15;
	r->rdi = sc->rdi, r->rsi = sc->rsi, r->rbp = sc->rbp, r->rbx = sc->rbx;
	r->rdx = sc->rdx, r->rax = sc->rax, r->rcx = sc->rcx, r->rsp = sc->rsp;
	r->rip = sc->rip;
	/* The flags a program may change (Linux's FIX_EFLAGS); pkvm_set_regs() keeps IF and the rest. */
	r->rflags = (r->rflags & ~X86_EFLAGS_USER_MASK) | (sc->eflags & X86_EFLAGS_USER_MASK);
}

/*
 * Build the x86-64 rt_sigframe for @sig on the program's stack, or its
 * alternate stack, as Linux's get_sigframe() and x64_setup_rt_frame() lay
 * it out: below the red zone, the XSAVE image 64-byte aligned and marked,
 * then the frame, 16-byte aligned minus 8 as after a call.  Then point the
 * registers at the handler.  -EFAULT when the stack cannot take it.
 */
static int setup_frame(struct pkvm_vm *vm, struct pkvm_linux *lx, int sig,
		       const struct lx_sigaction *act, const struct lx_siginfo *info)
{
	size_t fpsize = pkvm_fpstate_size(vm), mathsize = fpsize + sizeof(uint32_t);
	struct lx_rt_sigframe frame = { .pretcode = act->restorer };
	struct pkvm_regs *r = &vm->regs;
	uint64_t sp = r->rsp - 128, fpaddr, frame_addr;
	const uint32_t magic2 = FP_XSTATE_MAGIC2;
	struct fpx_sw_bytes sw = {
		.magic1 = FP_XSTATE_MAGIC1, .extended_size = mathsize,
		.xfeatures = pkvm_fpstate_features(vm), .xstate_size = fpsize,
	};
	uint8_t *image = (uint8_t *)lx->bounce;
	int err;

	/* x86-64 has no default return path: a handler without a restorer cannot return. */
	if (!(act->flags & LX_SA_RESTORER) || fpsize + sizeof(magic2) > LX_BOUNCE)
		return -EFAULT;
	if ((act->flags & LX_SA_ONSTACK) && altstack_flags(lx, r->rsp) == 0)
		sp = lx->sig.t.altstack.sp + lx->sig.t.altstack.size;
	fpaddr = (sp - mathsize) & ~63ULL;
	frame_addr = ((fpaddr - sizeof(frame)) & ~15ULL) - 8;
	if (fpaddr > sp || frame_addr > fpaddr)
		return -EFAULT;		/* wrapped below 0 */

	err = pkvm_fpstate_save(vm, image, fpsize);
	if (err)
		return err;
	memcpy(image + FP_SW_BYTES_OFFSET, &sw, sizeof(sw));
	memcpy(image + fpsize, &magic2, sizeof(magic2));

	frame.uc.flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	frame.uc.stack = lx->sig.t.altstack;
	frame.uc.stack.flags = altstack_flags(lx, r->rsp);
	regs_to_sigcontext(r, &frame.uc.mcontext);
	frame.uc.mcontext.err = lx->sig.t.fault_err;
	frame.uc.mcontext.trapno = lx->sig.t.fault_trapno;
	frame.uc.mcontext.cr2 = lx->sig.t.fault_cr2;
	/* After sigsuspend(), the mask from before it is the one the handler's return restores. */
	frame.uc.sigmask = lx->sig.t.mask_saved ? lx->sig.t.saved_mask : lx->sig.t.blocked;
	frame.uc.mcontext.oldmask = frame.uc.sigmask;
	frame.uc.mcontext.fpstate = fpaddr;
	frame.info = *info;

	/* As the program itself would write them: its rights and its PKRU. */
	err = lx_write(vm, fpaddr, image, mathsize);
	if (!err)
		err = lx_write(vm, frame_addr, &frame, sizeof(frame));
	if (err)
		return err;

	/* The handler starts with a clean FPU, and the PKRU Linux gives handlers if it may. */
	handler_fpstate(vm, image, fpsize);
	err = pkvm_fpstate_restore(vm, image, fpsize);
	if (err == -EPERM) {
		uint32_t now;

		err = pkvm_get_pkru(vm, &now);
		if (!err) {
			memcpy(image + vm->xsave.feature[XFEATURE_PKRU].offset, &now, sizeof(now));
			err = pkvm_fpstate_restore(vm, image, fpsize);
		}
	}
	if (err)
		return err;
	r->rdi = sig;
	r->rsi = frame_addr + offsetof(struct lx_rt_sigframe, info);
	r->rdx = frame_addr + offsetof(struct lx_rt_sigframe, uc);
	r->rax = 0;	/* for handlers declared without a prototype (varargs) */
	r->rip = act->handler;
	r->rsp = frame_addr;
	r->rflags &= ~(X86_EFLAGS_DF | X86_EFLAGS_TF);	/* RF is never kept: IRET clears it */
	return 0;
}

/* The next signal to deliver: synchronous ones first, then the lowest number. */
static int next_signal(const struct pkvm_linux *lx)
{
	uint64_t ready = lx->sig.t.pending & ~lx->sig.t.blocked;

	if (ready & SYNCHRONOUS)
		ready &= SYNCHRONOUS;
	return ready ? __builtin_ctzll(ready) + 1 : 0;
}

enum lx_action lx_signal_deliver(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	int sig;

	while ((sig = next_signal(lx)) != 0) {
		struct lx_sigaction *act = &lx->sig.action[sig - 1];
		struct lx_sigaction taken = *act;
		struct lx_siginfo info = lx->sig.t.info[sig - 1];

		lx->sig.t.pending &= ~SIG_BIT(sig);
		if (ignored(lx, sig))
			continue;
		if (sig == SIGSTOP) {
			/* Stopped: the guest runs no more until SIGCONT (lx_signal_wake()). */
			lx->sig.stopped = true;
			if (lx->config.trace)
				lx_trace_signal(vm, lx, &info);
			pkvm_wake_before_entry(vm);
			return LX_RETURN;
		}
		if (taken.handler == LX_SIG_DFL) {
			/* Every default left is to end the program (with a core, for some). */
			lx->exit_signal = sig;
			lx->exit_status = 128 + sig;
			return LX_EXIT;
		}
		if (setup_frame(vm, lx, sig, &taken, &info)) {
			/* No room for the frame: SIGSEGV, as Linux's signal_setup_done() says. */
			struct lx_siginfo segv = { .signo = SIGSEGV, .code = LX_SI_KERNEL };

			if (sig == SIGSEGV) {
				act->handler = LX_SIG_DFL;
				lx->exit_signal = SIGSEGV;
				lx->exit_status = 128 + SIGSEGV;
				return LX_EXIT;
			}
			force(lx, SIGSEGV, &segv);
			continue;
		}
		if (lx->config.trace)
			lx_trace_signal(vm, lx, &info);
		lx->sig.t.mask_saved = false;	/* it is in the frame */
		lx->sig.t.blocked |= taken.mask | ((taken.flags & LX_SA_NODEFER) ? 0 : SIG_BIT(sig));
		lx->sig.t.blocked &= ~UNBLOCKABLE;
		if (taken.flags & LX_SA_RESETHAND)
			act->handler = LX_SIG_DFL;
		if ((act->flags & LX_SA_ONSTACK) && (lx->sig.t.altstack.flags & LX_SS_AUTODISARM) &&
		    on_altstack(lx, vm->regs.rsp)) {
			/* SS_AUTODISARM: the alternate stack is off until the frame is gone. */
			lx->sig.t.altstack.flags = LX_SS_DISABLE;
			lx->sig.t.altstack.sp = lx->sig.t.altstack.size = 0;
		}
		/* One frame at a time: the next signal waits for this handler's first instruction. */
		return LX_RETURN;
	}
	/* No handler ran: a mask sigsuspend() set ends here (restore_saved_sigmask()). */
	if (lx->sig.t.mask_saved) {
		lx->sig.t.blocked = lx->sig.t.saved_mask;
		lx->sig.t.mask_saved = false;
	}
	return LX_RETURN;
}

/* x87 (#MF) or SIMD (#XM) exception: which, from the status and control words (fpu__exception_code()). */
static int fpe_code(struct pkvm_vm *vm, struct pkvm_linux *lx, unsigned vector)
{
	uint8_t *image = (uint8_t *)lx->bounce;
	uint16_t cwd, swd;
	uint32_t mxcsr, err;

	if (pkvm_fpstate_save(vm, image, pkvm_fpstate_size(vm)))
		return 0;
	memcpy(&cwd, image, sizeof(cwd));
	memcpy(&swd, image + 2, sizeof(swd));
	memcpy(&mxcsr, image + 24, sizeof(mxcsr));
	err = vector == X86_VEC_MF ? (uint32_t)(swd & ~cwd) : ~(mxcsr >> 7) & mxcsr;
	if (err & 0x001)
		return LX_FPE_FLTINV;
	if (err & 0x004)
		return LX_FPE_FLTDIV;
	if (err & 0x008)
		return LX_FPE_FLTOVF;
	if (err & 0x012)
		return LX_FPE_FLTUND;
	if (err & 0x020)
		return LX_FPE_FLTRES;
	return 0;
}

/*
 * The signal Linux sends for a CPU exception at CPL3 (arch/x86/kernel/traps.c,
 * arch/x86/mm/fault.c), with its si_code and si_addr.
 */
static int fault_signal(struct pkvm_vm *vm, struct pkvm_linux *lx, const struct pkvm_exit *exit,
			struct lx_siginfo *info)
{
	const uint64_t rip = exit->fault.rip;

	memset(info, 0, sizeof(*info));
	info->code = LX_SI_KERNEL;
	switch (exit->fault.vector) {
	case X86_VEC_DE:
		info->code = LX_FPE_INTDIV;
		info->fault.addr = rip;
		return info->signo = SIGFPE;
	case X86_VEC_DB:
		info->code = LX_TRAP_TRACE;
		info->fault.addr = rip;
		return info->signo = SIGTRAP;
	case X86_VEC_BP:
		return info->signo = SIGTRAP;	/* int3: SI_KERNEL, no address */
	case X86_VEC_UD:
		info->code = LX_ILL_ILLOPN;
		info->fault.addr = rip;
		return info->signo = SIGILL;
	case X86_VEC_MF:
	case X86_VEC_XM:
		info->code = fpe_code(vm, lx, exit->fault.vector);
		info->fault.addr = rip;
		return info->signo = SIGFPE;
	case X86_VEC_AC:
		info->code = LX_BUS_ADRALN;
		return info->signo = SIGBUS;
	case X86_VEC_SS:
		return info->signo = SIGBUS;
	case X86_VEC_PF:
		info->fault.addr = exit->fault.addr;
		if (exit->fault.pfec & PKVM_PFEC_PK) {
			info->code = LX_SEGV_PKUERR;
			info->fault.pkey = exit->fault.pkey;
		} else {
			info->code = (exit->fault.pfec & PKVM_PFEC_P) ? LX_SEGV_ACCERR
									    : LX_SEGV_MAPERR;
		}
		return info->signo = SIGSEGV;
	default:
		return info->signo = SIGSEGV;	/* #GP and the rest: SI_KERNEL, address 0 */
	}
}

int lx_signal_fault(struct pkvm_vm *vm, struct pkvm_linux *lx, struct pkvm_exit *exit)
{
	struct lx_siginfo info;
	int sig = fault_signal(vm, lx, exit, &info);
	const struct lx_sigaction *act = &lx->sig.action[sig - 1];

	/* What the next frame's sigcontext says, as Linux keeps it per thread. */
	lx->sig.t.fault_trapno = exit->fault.vector;
	lx->sig.t.fault_err = exit->fault.error_code;
	if (exit->fault.vector == X86_VEC_PF)
		lx->sig.t.fault_cr2 = exit->fault.addr;
	/*
	 * A fault the program does not handle ends it: the exit goes to the
	 * embedder as the fault it is (pksandbox reports it, and 128 + signal).
	 */
	if (act->handler == LX_SIG_DFL || act->handler == LX_SIG_IGN ||
	    (lx->sig.t.blocked & SIG_BIT(sig)))
		return 0;
	force(lx, sig, &info);
	if (lx_signal_deliver(vm, lx) == LX_EXIT) {
		lx_fill_exit(lx, exit);
		return 0;
	}
	return 1;
}

bool lx_signal_reaps_children(const struct pkvm_linux *lx)
{
	const struct lx_sigaction *act = &lx->sig.action[SIGCHLD - 1];

	return act->handler == LX_SIG_IGN || (act->flags & LX_SA_NOCLDWAIT);
}

void lx_signals_exec(struct pkvm_linux *lx)
{
	for (int sig = 1; sig <= LX_NR_SIGNALS; sig++) {
		struct lx_sigaction *act = &lx->sig.action[sig - 1];
		bool ign = act->handler == LX_SIG_IGN;

		memset(act, 0, sizeof(*act));
		act->handler = ign ? LX_SIG_IGN : LX_SIG_DFL;
	}
	lx->sig.t.altstack = (struct lx_stack){ .flags = LX_SS_DISABLE };
	lx->sig.t.mask_saved = false;
	lx_procs_note_sigchld(lx, lx_signal_reaps_children(lx));	/* SA_NOCLDWAIT went */
}

LX_HANDLER_DEF(lx_sys_rt_sigaction)
{
	uint64_t sig = args[0];
	struct lx_sigaction act;
	int err;

	if (args[3] != 8 || sig < 1 || sig > LX_NR_SIGNALS)
		return lx_ret(result, -EINVAL);
	if (args[1] && (sig == SIGKILL || sig == SIGSTOP))
		return lx_ret(result, -EINVAL);
	if (args[1]) {
		err = lx_read(vm, &act, args[1], sizeof(act));
		if (err)
			return lx_ret(result, err);
	}
	if (args[2]) {
		err = lx_write(vm, args[2], &lx->sig.action[sig - 1], sizeof(act));
		if (err)
			return lx_ret(result, err);
	}
	if (args[1]) {
		act.mask &= ~UNBLOCKABLE;
		lx->sig.action[sig - 1] = act;
		/* Now ignored: a pending instance goes (Linux's do_sigaction()). */
		if (ignored(lx, sig))
			lx->sig.t.pending &= ~SIG_BIT(sig);
		if (sig == SIGCHLD)
			lx_procs_note_sigchld(lx, lx_signal_reaps_children(lx));
	}
	return lx_ret(result, 0);
}

/* Change the blocked set as sigprocmask(@how) would; -EINVAL for a bad @how. */
static int change_mask(struct pkvm_linux *lx, uint64_t how, uint64_t set)
{
	if (how == LX_SIG_BLOCK)
		lx->sig.t.blocked |= set;
	else if (how == LX_SIG_UNBLOCK)
		lx->sig.t.blocked &= ~set;
	else if (how == LX_SIG_SETMASK)
		lx->sig.t.blocked = set;
	else
		return -EINVAL;
	lx->sig.t.blocked &= ~UNBLOCKABLE;
	return 0;
}

LX_HANDLER_DEF(lx_sys_rt_sigprocmask)
{
	uint64_t set = 0, old = lx->sig.t.blocked;
	int err;

	if (args[3] != 8)
		return lx_ret(result, -EINVAL);
	if (args[1]) {
		if (args[0] > LX_SIG_SETMASK)
			return lx_ret(result, -EINVAL);
		err = lx_read(vm, &set, args[1], sizeof(set));
		if (err)
			return lx_ret(result, err);
	}
	if (args[2]) {
		err = lx_write(vm, args[2], &old, sizeof(old));
		if (err)
			return lx_ret(result, err);
	}
	return lx_ret(result, args[1] ? change_mask(lx, args[0], set) : 0);
}

LX_HANDLER_DEF(lx_sys_rt_sigpending)
{
	uint64_t pending = lx->sig.t.pending & lx->sig.t.blocked;

	if (args[1] > 8)
		return lx_ret(result, -EINVAL);
	return lx_ret(result, lx_write(vm, args[0], &pending, args[1]));
}

LX_HANDLER_DEF(lx_sys_sigaltstack)
{
	struct lx_stack old = lx->sig.t.altstack, ss;
	int err;

	old.flags = altstack_flags(lx, vm->regs.rsp);
	if (old.flags & LX_SS_DISABLE)
		old.sp = old.size = 0;
	if (args[0]) {
		err = lx_read(vm, &ss, args[0], sizeof(ss));
		if (err)
			return lx_ret(result, err);
		/* No change while running on it; only these flags; room for a frame. */
		if (on_altstack(lx, vm->regs.rsp))
			return lx_ret(result, -EPERM);
		if ((ss.flags & ~LX_SS_AUTODISARM) != 0 &&
		    (ss.flags & ~LX_SS_AUTODISARM) != LX_SS_DISABLE &&
		    (ss.flags & ~LX_SS_AUTODISARM) != LX_SS_ONSTACK)
			return lx_ret(result, -EINVAL);
	}
	if (args[1]) {
		err = lx_write(vm, args[1], &old, sizeof(old));
		if (err)
			return lx_ret(result, err);
	}
	if (args[0]) {
		if ((ss.flags & ~LX_SS_AUTODISARM) == LX_SS_DISABLE) {
			ss.sp = ss.size = 0;
		} else if (ss.size < LX_MINSIGSTKSZ) {
			return lx_ret(result, -ENOMEM);
		}
		ss.flags &= LX_SS_DISABLE | LX_SS_AUTODISARM;
		lx->sig.t.altstack = ss;
	}
	return lx_ret(result, 0);
}

/*
 * The frame's registers, mask, FPU state and PKRU become the program's again.
 * Any of it unusable (unreadable, a non-canonical RIP, an image XRSTOR would
 * refuse, a PKRU the policy forbids): SIGSEGV, as Linux's badframe.
 */
static int restore_frame(struct pkvm_vm *vm, struct pkvm_linux *lx, int64_t *rax)
{
	uint64_t frame_addr = vm->regs.rsp - 8;
	size_t fpsize = pkvm_fpstate_size(vm);
	uint8_t *image = (uint8_t *)lx->bounce;
	struct lx_rt_sigframe frame;
	struct pkvm_regs regs = vm->regs;
	struct fpx_sw_bytes sw;
	uint32_t magic2;
	int err = lx_read(vm, &frame, frame_addr, sizeof(frame));

	if (err)
		return err;
	sigcontext_to_regs(&frame.uc.mcontext, &regs);
	if (!pkvm_gva_is_canonical(regs.rip) || !pkvm_gva_is_canonical(regs.rsp))
		return -EFAULT;
	if (frame.uc.mcontext.fpstate) {
		if (frame.uc.mcontext.fpstate % 64)
			return -EFAULT;
		err = lx_read(vm, image, frame.uc.mcontext.fpstate, fpsize + sizeof(magic2));
		if (err)
			return err;
		memcpy(&sw, image + FP_SW_BYTES_OFFSET, sizeof(sw));
		memcpy(&magic2, image + fpsize, sizeof(magic2));
		if (sw.magic1 != FP_XSTATE_MAGIC1 || sw.xstate_size != fpsize ||
		    sw.extended_size != fpsize + sizeof(magic2) || magic2 != FP_XSTATE_MAGIC2) {
			/* Not marked as XSAVE: the legacy x87/SSE part only, the rest as it was. */
			uint8_t *legacy = image + fpsize + 64;

			if (fpsize + 64 + fpsize > LX_BOUNCE)
				return -EFAULT;
			memcpy(legacy, image, XSAVE_HDR_OFFSET);
			err = pkvm_fpstate_save(vm, image, fpsize);
			if (err)
				return err;
			memcpy(image, legacy, XSAVE_HDR_OFFSET);
		}
		memset(image + FP_SW_BYTES_OFFSET, 0, sizeof(sw));
	} else {
		/* No FPU state in the frame: the program goes on with a clean one. */
		handler_fpstate(vm, image, fpsize);
	}
	err = pkvm_fpstate_restore(vm, image, fpsize);
	if (err)
		return -EFAULT;
	err = pkvm_set_regs(vm, &regs);
	if (err)
		return -EFAULT;
	change_mask(lx, LX_SIG_SETMASK, frame.uc.sigmask);
	/* The alternate stack as the frame says, if it can be so (errors ignored, as Linux). */
	if (!on_altstack(lx, vm->regs.rsp) &&
	    ((frame.uc.stack.flags & ~LX_SS_AUTODISARM) == LX_SS_DISABLE ||
	     ((frame.uc.stack.flags & ~(LX_SS_AUTODISARM | LX_SS_ONSTACK)) == 0 &&
	      frame.uc.stack.size >= LX_MINSIGSTKSZ))) {
		lx->sig.t.altstack = frame.uc.stack;
		lx->sig.t.altstack.flags &= LX_SS_DISABLE | LX_SS_AUTODISARM;
		if (lx->sig.t.altstack.flags & LX_SS_DISABLE)
			lx->sig.t.altstack.sp = lx->sig.t.altstack.size = 0;
	}
	*rax = (int64_t)regs.rax;
	return 0;
}

LX_HANDLER_DEF(lx_sys_rt_sigreturn)
{
	struct lx_siginfo segv = { .signo = SIGSEGV, .code = LX_SI_KERNEL };

	if (restore_frame(vm, lx, result) == 0)
		return LX_RETURN;
	force(lx, SIGSEGV, &segv);
	*result = (int64_t)vm->regs.rax;
	return LX_RETURN;
}

enum lx_action lx_signal_self(struct pkvm_linux *lx, uint64_t sig, int code, int64_t *result)
{
	struct lx_siginfo info = { .signo = (int32_t)sig, .code = code };

	if (sig > LX_NR_SIGNALS)
		return lx_ret(result, -EINVAL);
	if (sig == 0)
		return lx_ret(result, 0);
	info.kill.pid = lx->pid;
	info.kill.uid = LX_UID;
	if (sig == SIGKILL) {
		lx->exit_signal = SIGKILL;
		lx->exit_status = 128 + SIGKILL;
		*result = 0;
		return LX_EXIT;
	}
	lx_signal_send(lx, (int)sig, &info);
	return lx_ret(result, 0);
}

/*
 * A signal for thread @t, not the running one: pending in its saved state
 * (threads.c), and a futex wait it blocks in ends with EINTR if it does
 * not block the signal.  What stops, continues or kills is the process's
 * whole: that goes through the running thread.
 */
static void send_to_thread(struct pkvm_linux *lx, struct lx_thread *t, int sig,
			   const struct lx_siginfo *info)
{
	if (sig == SIGSTOP || sig == SIGCONT || sig == SIGKILL) {
		lx_signal_send(lx, sig, info);
		return;
	}
	if ((ignored(lx, sig) && !(t->sig.blocked & SIG_BIT(sig))) || (t->sig.pending & SIG_BIT(sig)))
		return;
	t->sig.pending |= SIG_BIT(sig);
	t->sig.info[sig - 1] = *info;
	if (t->blocked && !(t->sig.blocked & SIG_BIT(sig))) {
		t->blocked = false;
		t->regs.rax = (uint64_t)-EINTR;
	}
}

/* tkill(), tgkill(): to one thread of the program, this one or another. */
static enum lx_action signal_thread(struct pkvm_linux *lx, int64_t tid, uint64_t sig,
				    int64_t *result)
{
	struct lx_thread *t = lx_thread_find(lx, (int)tid);
	struct lx_siginfo info = { .signo = (int32_t)sig, .code = LX_SI_TKILL,
				   .kill = { lx->pid, LX_UID } };

	if (!t || tid <= 0)
		return lx_ret(result, tid <= 0 ? -EINVAL : -ESRCH);
	if (t == lx_current(lx))
		return lx_signal_self(lx, sig, LX_SI_TKILL, result);
	if (sig > LX_NR_SIGNALS)
		return lx_ret(result, -EINVAL);
	if (sig)
		send_to_thread(lx, t, (int)sig, &info);
	return lx_ret(result, 0);
}

LX_HANDLER_DEF(lx_sys_kill)
{
	int32_t pid = (int32_t)args[0];

	/* Alone, it is every process there is: pid 0 and -1 name it too. */
	if (!lx->procs && pid != LX_PID && pid != 0 && pid != -1)
		return lx_ret(result, -ESRCH);
	return lx_procs_kill(vm, lx, pid, args[1], result);
}

LX_HANDLER_DEF(lx_sys_tkill)
{
	return signal_thread(lx, (int)args[0], args[1], result);
}

LX_HANDLER_DEF(lx_sys_tgkill)
{
	if ((int)args[0] != lx->pid)
		return lx_ret(result, (int)args[0] <= 0 ? -EINVAL : -ESRCH);
	return signal_thread(lx, (int)args[1], args[2], result);
}

/*
 * Signals that arrived from outside the program's own calls: from another
 * thread of the embedder (pkvm_linux_kill()), and the timers' (time.c).
 */
void lx_signal_poll(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	uint64_t external = atomic_exchange(&lx->sig.external, 0);

	lx_procs_take_signals(lx);
	while (external) {
		int sig = __builtin_ctzll(external) + 1;
		struct lx_siginfo info = { .signo = sig, .code = LX_SI_USER };

		external &= external - 1;
		lx_procs_to_group(lx, sig, &info);	/* as a terminal's: its whole group's */
		if (sig == SIGKILL) {
			lx->sig.killed = true;
			continue;
		}
		lx_signal_send(lx, sig, &info);
	}
	lx_timers_fire(vm, lx);
}

/*
 * A stop alone does not end a blocking call: the call is made again once
 * the program continues, as Linux restarts it when no handler ran
 * (ERESTARTNOHAND, ERESTARTSYS); the caller's "stop of the run" path does
 * exactly that, and the stop happens on the way back (lx_signal_deliver()).
 */
bool lx_signal_interrupts(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	lx_signal_poll(vm, lx);
	return lx->sig.killed || (lx->sig.t.pending & ~lx->sig.t.blocked & ~SIG_BIT(SIGSTOP));
}

bool lx_signal_restarts(const struct pkvm_linux *lx)
{
	int sig = next_signal(lx);

	return sig && !lx->sig.killed && (lx->sig.action[sig - 1].flags & LX_SA_RESTART);
}

/* SIGKILL from outside: the end, whatever the program does. */
static enum lx_action killed(struct pkvm_linux *lx)
{
	lx->exit_signal = SIGKILL;
	lx->exit_status = 128 + SIGKILL;
	return LX_EXIT;
}

enum lx_action lx_signal_deliver_all(struct pkvm_vm *vm, struct pkvm_linux *lx)
{
	if (lx->sig.killed)
		return killed(lx);
	return lx_signal_pending(lx) ? lx_signal_deliver(vm, lx) : LX_RETURN;
}

/*
 * A stopped program waits here, before its guest would run, for SIGCONT or
 * SIGKILL; other signals stay pending.  A stop of the run (pkvm_interrupt(),
 * the time limit) returns PKVM_WAKE_HOLD: the run reports it, and the next
 * run comes back here, still stopped.
 */
int lx_signal_wake(struct pkvm_vm *vm, struct pkvm_linux *lx, struct pkvm_exit *exit)
{
	for (;;) {
		int err;

		lx_signal_poll(vm, lx);
		if (!lx->sig.stopped || lx->sig.killed) {
			if (lx_signal_deliver_all(vm, lx) == LX_EXIT)
				break;
			if (!lx->sig.stopped)
				return 0;
			continue;	/* SIGSTOP was the signal delivered */
		}
		if (atomic_load(&vm->kick.interrupt) || pkvm_kick_deadline_passed(&vm->kick))
			return PKVM_WAKE_HOLD;
		err = lx_wait(vm, -1, 0, CLOCK_MONOTONIC, NULL);
		if (err && err != -EINTR)
			return err;
		pkvm_kick_take_wake(&vm->kick);	/* pkvm_linux_kill() or a timer: polled above */
	}
	lx_fill_exit(lx, exit);
	return 1;
}

int pkvm_linux_kill(struct pkvm_vm *vm, int sig)
{
	struct pkvm_linux *lx = vm ? lx_get(vm) : NULL;

	if (!lx || sig < 1 || sig > LX_NR_SIGNALS)
		return -EINVAL;
	atomic_fetch_or(&lx->sig.external, SIG_BIT(sig));
	return pkvm_wake(vm);
}

/*
 * Wait for a signal with @mask blocked meanwhile (pause(): the mask as it
 * is).  The handler's frame gets the mask from before, as Linux's
 * sigsuspend() restores it when the handler returns.  -EINTR, always, once
 * a signal came; a stop (pkvm_interrupt(), the time limit) makes the call
 * start again at the next run.
 */
static enum lx_action wait_for_signal(struct pkvm_vm *vm, struct pkvm_linux *lx, uint64_t nr,
				      uint64_t mask, int64_t *result)
{
	uint64_t before = lx->sig.t.blocked;

	lx->sig.t.blocked = mask & ~UNBLOCKABLE;
	while (!lx_signal_interrupts(vm, lx)) {
		int err = lx_wait(vm, -1, 0, CLOCK_MONOTONIC, NULL);

		if (err == -EINTR && !lx_signal_interrupts(vm, lx)) {
			lx->sig.t.blocked = before;
			return lx_restart(vm, nr, result);
		}
		if (err && err != -EINTR) {
			lx->sig.t.blocked = before;
			return lx_ret(result, err);
		}
	}
	if (lx_signal_pending(lx)) {
		lx->sig.t.saved_mask = before;
		lx->sig.t.mask_saved = true;
	} else {
		lx->sig.t.blocked = before;
	}
	return lx_ret(result, -EINTR);
}

int lx_read_sigmask(struct pkvm_vm *vm, uint64_t gva, uint64_t size, uint64_t *mask)
{
	if (size != sizeof(*mask))
		return -EINVAL;
	return lx_read(vm, mask, gva, sizeof(*mask));
}

void lx_signal_set_blocked(struct pkvm_linux *lx, uint64_t mask)
{
	lx->sig.t.blocked = mask & ~UNBLOCKABLE;
}

LX_HANDLER_DEF(lx_sys_pause)
{
	return wait_for_signal(vm, lx, LX_NR_PAUSE, lx->sig.t.blocked, result);
}

LX_HANDLER_DEF(lx_sys_rt_sigsuspend)
{
	uint64_t mask;
	int err;

	err = lx_read_sigmask(vm, args[0], args[1], &mask);
	if (err)
		return lx_ret(result, err);
	return wait_for_signal(vm, lx, LX_NR_RT_SIGSUSPEND, mask, result);
}

/* Take the first pending signal of @set (synchronous ones first), its siginfo out; 0 if none. */
static int dequeue(struct pkvm_linux *lx, uint64_t set, struct lx_siginfo *info)
{
	uint64_t ready = lx->sig.t.pending & set;
	int sig;

	if (ready & SYNCHRONOUS)
		ready &= SYNCHRONOUS;
	if (!ready)
		return 0;
	sig = __builtin_ctzll(ready) + 1;
	lx->sig.t.pending &= ~SIG_BIT(sig);
	*info = lx->sig.t.info[sig - 1];
	return sig;
}

/*
 * sigtimedwait(): take a signal of the set (blocked, as a program keeps
 * them) without running its handler; EAGAIN when the timeout passes, EINTR
 * when another signal comes and is delivered instead.
 */
LX_HANDLER_DEF(lx_sys_rt_sigtimedwait)
{
	struct timespec rel, now, until;
	struct lx_siginfo info;
	uint64_t set;
	int sig, err;

	if (args[3] != 8)
		return lx_ret(result, -EINVAL);
	err = lx_read(vm, &set, args[0], sizeof(set));
	if (!err && args[2])
		err = lx_read_timespec(vm, args[2], &rel);
	if (err)
		return lx_ret(result, err);
	set &= ~UNBLOCKABLE;
	if (args[2]) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		until.tv_sec = now.tv_sec + rel.tv_sec;
		until.tv_nsec = now.tv_nsec + rel.tv_nsec;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	for (;;) {
		lx_signal_poll(vm, lx);
		sig = dequeue(lx, set, &info);
		if (sig)
			break;
		if (lx->sig.killed || lx_signal_pending(lx))
			return lx_ret(result, -EINTR);
		err = lx_wait(vm, -1, 0, CLOCK_MONOTONIC, args[2] ? &until : NULL);
		if (err == -EINTR) {
			/* A signal (looked at above), or a stop: the call again at the next run. */
			lx_signal_poll(vm, lx);
			if (!(lx->sig.t.pending & set) && !lx->sig.killed && !lx_signal_pending(lx))
				return lx_restart(vm, LX_NR_RT_SIGTIMEDWAIT, result);
			continue;
		}
		if (err)
			return lx_ret(result, err);
		if (args[2]) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > until.tv_sec ||
			    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
				return lx_ret(result, -EAGAIN);
		}
	}
	if (args[1]) {
		err = lx_write(vm, args[1], &info, sizeof(info));
		if (err)
			return lx_ret(result, err);
	}
	return lx_ret(result, sig);
}
