/*
 * stub.S: the few bytes the guest runs at CPL0.  Every entry leaves to the host
 * at once; the host resumes CPL3 code by pointing RIP at resume/resume_cr3.
 * Position-independent: the host copies these bytes to a supervisor-only page.
 * The bytes sit in .rodata: the host never executes them.
 */
#include "stub.h"

/* A field of the PKRU table, RIP-relative: it sits at a fixed distance from the stub. */
#define TABLE(field)	(pkvm_guest_stub_start + PKVM_STUB_TABLE_DISTANCE + (field))(%rip)

	.section .rodata.pkvm_guest_stub, "a"
	.code64

	.globl	pkvm_guest_stub_start, pkvm_guest_stub_end
	.globl	pkvm_guest_stub_resume, pkvm_guest_stub_resume_cr3
	.globl	pkvm_guest_stub_syscall, pkvm_guest_stub_syscall32, pkvm_guest_stub_vectors
	.globl	pkvm_guest_stub_exception_common, pkvm_guest_stub_exception_out
	.hidden	pkvm_guest_stub_exception_common, pkvm_guest_stub_exception_out
	.globl	pkvm_guest_stub_syscall_out
	.hidden	pkvm_guest_stub_syscall_out
	.globl	pkvm_guest_stub_ud, pkvm_guest_stub_ud_end
	.globl	pkvm_guest_stub_ud_rd_result, pkvm_guest_stub_ud_rd_commit, pkvm_guest_stub_ud_report
	.globl	pkvm_guest_stub_ud_wr_done, pkvm_guest_stub_ud_wr_commit
	.hidden	pkvm_guest_stub_ud_report, pkvm_guest_stub_ud_wr_done, pkvm_guest_stub_ud_wr_commit
	.hidden	pkvm_guest_stub_ud, pkvm_guest_stub_ud_end
	.hidden	pkvm_guest_stub_ud_rd_result, pkvm_guest_stub_ud_rd_commit
	.hidden	pkvm_guest_stub_start, pkvm_guest_stub_end
	.hidden	pkvm_guest_stub_resume, pkvm_guest_stub_resume_cr3
	.hidden	pkvm_guest_stub_syscall, pkvm_guest_stub_syscall32, pkvm_guest_stub_vectors

	.balign	16
pkvm_guest_stub_start:

/* RSP points at a struct pkvm_stub_resume_frame; skip its CR3 slot. */
pkvm_guest_stub_resume:
	lea	8(%rsp), %rsp
	iretq

/*
 * Load the frame's CR3 first: this switches the soft backend's view and, even
 * when the value is unchanged, flushes the guest TLB after the host edited
 * the tables (SDM vol. 3A §4.10.4.1).  RAX is the guest's: borrow and restore.
 */
pkvm_guest_stub_resume_cr3:
	xchg	%rax, (%rsp)
	mov	%rax, %cr3
	pop	%rax
	iretq

/*
 * SYSCALL lands here at CPL0 on the caller's stack; touch none of it.  On hw
 * record PKRU first, with the table as scratch space (RDPKRU needs ECX = 0
 * and writes EDX:EAX).  The flags are free: SYSCALL saved the user's in R11.
 */
	.balign	16
pkvm_guest_stub_syscall:
	testl	$PKVM_STUB_RECORD_PKRU, TABLE(PKVM_STUB_T_FLAGS)
	jz	pkvm_guest_stub_syscall_out
	movq	%rax, TABLE(PKVM_STUB_T_SCRATCH)
	movq	%rcx, TABLE(PKVM_STUB_T_SCRATCH + 8)
	movq	%rdx, TABLE(PKVM_STUB_T_SCRATCH + 16)
	xorl	%ecx, %ecx
	rdpkru
	movl	%eax, TABLE(PKVM_STUB_T_PKRU)
	movq	TABLE(PKVM_STUB_T_SCRATCH), %rax
	movq	TABLE(PKVM_STUB_T_SCRATCH + 8), %rcx
	movq	TABLE(PKVM_STUB_T_SCRATCH + 16), %rdx
pkvm_guest_stub_syscall_out:
	outb	%al, $PKVM_PORT_SYSCALL
	ud2			/* the host never resumes here */

/* Compatibility-mode SYSCALL (MSR_CSTAR): reported, never served. */
	.balign	16
pkvm_guest_stub_syscall32:
	outb	%al, $PKVM_PORT_SYSCALL32
	ud2

/*
 * Exception entries on IST1: a uniform frame of vector, error code, IRET frame.
 * #UD goes first to the soft backend's RDPKRU/WRPKRU path below.
 */
.macro vector_entry vec
	.balign	PKVM_STUB_VECTOR_STRIDE
	.if \vec == 6
	jmp	pkvm_guest_stub_ud
	.else
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	pushq	$\vec
	.else
	pushq	$0
	pushq	$\vec
	.endif
	jmp	pkvm_guest_stub_exception_common
	.endif
.endm

	.balign	PKVM_STUB_VECTOR_STRIDE
pkvm_guest_stub_vectors:
	.irp	vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vector_entry \vec
	.endr

/* On hw, record PKRU on the way out (see the SYSCALL entry); the frame is left as it was. */
pkvm_guest_stub_exception_common:
	testl	$PKVM_STUB_RECORD_PKRU, TABLE(PKVM_STUB_T_FLAGS)
	jz	pkvm_guest_stub_exception_out
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	xorl	%ecx, %ecx
	rdpkru
	movl	%eax, TABLE(PKVM_STUB_T_PKRU)
	popq	%rdx
	popq	%rcx
	popq	%rax
pkvm_guest_stub_exception_out:
	outb	%al, $PKVM_PORT_EXCEPTION
	ud2

#define FRAME_RIP	24(%rsp)	/* above the three saved registers */
#define SAVED_RCX	8(%rsp)
#define SAVED_RDX	0(%rsp)

/*
 * #UD on the soft backend, where CR4.PKE is clear and every RDPKRU and WRPKRU
 * faults.  Serve them here when the host's PKRU table allows: WRPKRU to a
 * value with a view the guest may set loads that view's CR3; RDPKRU reads the
 * table.  Anything else (another instruction, ECX or EDX not 0, a value with
 * no view or that the policy refuses, single-stepping) is the host's, as
 * before.  The entry is an interrupt gate: IF and TF are clear here.
 *
 * A signal may stop the vCPU anywhere in this path.  The host then puts the
 * user's registers back from the vCPU and the saved slots (how many were
 * pushed follows from RSP) and resumes at the frame's RIP, which this path
 * advances only as its last step: the instruction is undone, and re-running
 * it after a partial run is harmless, as long as nothing the host can see
 * has changed.  Past the points where something has -- WRPKRU's new PKRU in
 * the table (pkvm_guest_stub_ud_wr_done), RDPKRU's result registers
 * (pkvm_guest_stub_ud_rd_result) -- the host finishes the instruction
 * instead, up to the RIP update (the *_commit labels).  The served count
 * moves after the RIP, so an undone instruction is never counted.
 */
pkvm_guest_stub_ud:
	testl	$PKVM_STUB_FAST, TABLE(PKVM_STUB_T_FLAGS)
	jz	pkvm_guest_stub_ud_report
	cmpq	$PKVM_STUB_USER_CS, 8(%rsp)
	jne	pkvm_guest_stub_ud_report
	testq	$PKVM_STUB_EFLAGS_TF, 16(%rsp)
	jnz	pkvm_guest_stub_ud_report
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	/*
	 * The opcode, a byte at a time: the CPU fetched exactly the bytes it
	 * decoded, so each read here is of a byte it already fetched.  The
	 * page is the user's: EFLAGS.AC lets SMAP allow the read (POPF rather
	 * than STAC, which faults where SMAP is absent); IRETQ puts the
	 * user's flags back.
	 */
	pushfq
	orq	$PKVM_STUB_EFLAGS_AC, (%rsp)
	popfq
	movq	FRAME_RIP, %rdx
	cmpb	$0x0f, (%rdx)
	jne	.Lud_restore
	cmpb	$0x01, 1(%rdx)
	jne	.Lud_restore
	movzbl	2(%rdx), %eax
	cmpl	$0, SAVED_RCX
	jne	.Lud_restore			/* #GP(0): the host reports it */
	cmpb	$0xee, %al
	je	.Lud_rdpkru
	cmpb	$0xef, %al
	jne	.Lud_restore
	cmpl	$0, SAVED_RDX
	jne	.Lud_restore
	/* WRPKRU: find a view of EAX the guest may switch to. */
	movl	16(%rsp), %eax
	leaq	TABLE(PKVM_STUB_T_VIEWS), %rdx
	movl	$PKVM_STUB_PKRU_VIEWS, %ecx
1:	cmpl	%eax, PKVM_STUB_V_PKRU(%rdx)
	jne	2f
	testl	$PKVM_STUB_VIEW_GUEST_OK, PKVM_STUB_V_FLAGS(%rdx)
	jnz	3f
2:	addq	$PKVM_STUB_V_SIZE, %rdx
	decl	%ecx
	jnz	1b
	jmp	.Lud_restore			/* no view yet, or refused: the host's */
3:	movq	PKVM_STUB_V_CR3(%rdx), %rcx
	btrq	$63, %rcx			/* CR3 as it reads back, PCID and all */
	cmpq	TABLE(PKVM_STUB_T_CR3), %rcx
	je	4f
	/*
	 * With the view's PCID clean (bit 63, struct pkvm_stub_pkru_view),
	 * its TLB entries stay; otherwise this flushes them, and without
	 * PCIDs the whole TLB.  Then the next load may keep them.
	 */
	movq	PKVM_STUB_V_CR3(%rdx), %rcx
	movq	%rcx, %cr3
	btrq	$63, %rcx
	movq	%rcx, TABLE(PKVM_STUB_T_CR3)
	movq	PKVM_STUB_V_CR3_AGAIN(%rdx), %rcx
	movq	%rcx, PKVM_STUB_V_CR3(%rdx)
4:	movl	%eax, TABLE(PKVM_STUB_T_PKRU)
pkvm_guest_stub_ud_wr_done:		/* from here the host finishes it (see above) */
	movq	TABLE(PKVM_STUB_T_CLOCK), %rax
	incq	%rax
	movq	%rax, TABLE(PKVM_STUB_T_CLOCK)
	movq	%rax, PKVM_STUB_V_STAMP(%rdx)
	popq	%rdx
	popq	%rcx
	popq	%rax
pkvm_guest_stub_ud_wr_commit:
	addq	$3, (%rsp)
	incq	TABLE(PKVM_STUB_T_SERVED)
	iretq

.Lud_rdpkru:
	popq	%rdx
	popq	%rcx
	popq	%rax
pkvm_guest_stub_ud_rd_result:
	movl	TABLE(PKVM_STUB_T_PKRU), %eax
	xorl	%edx, %edx
pkvm_guest_stub_ud_rd_commit:
	addq	$3, (%rsp)
	incq	TABLE(PKVM_STUB_T_SERVED)
	iretq

.Lud_restore:
	popq	%rdx
	popq	%rcx
	popq	%rax
pkvm_guest_stub_ud_report:
	pushq	$0
	pushq	$6
	jmp	pkvm_guest_stub_exception_common
pkvm_guest_stub_ud_end:

pkvm_guest_stub_end:

	.section .note.GNU-stack, "", @progbits
