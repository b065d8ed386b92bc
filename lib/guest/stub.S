/*
 * stub.S: the few bytes the guest runs at CPL0.  Every entry leaves to the host
 * at once; the host resumes CPL3 code by pointing RIP at resume/resume_cr3.
 * Position-independent: the host copies these bytes to a supervisor-only page.
 * The bytes sit in .rodata: the host never executes them.
 */
#include "stub.h"

	.section .rodata.pkvm_guest_stub, "a"
	.code64

	.globl	pkvm_guest_stub_start, pkvm_guest_stub_end
	.globl	pkvm_guest_stub_resume, pkvm_guest_stub_resume_cr3
	.globl	pkvm_guest_stub_syscall, pkvm_guest_stub_syscall32, pkvm_guest_stub_vectors
	.globl	pkvm_guest_stub_exception_common
	.hidden	pkvm_guest_stub_exception_common
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

/* SYSCALL lands here at CPL0 on the caller's stack; touch nothing. */
	.balign	16
pkvm_guest_stub_syscall:
	outb	%al, $PKVM_PORT_SYSCALL
	ud2			/* the host never resumes here */

/* Compatibility-mode SYSCALL (MSR_CSTAR): reported, never served. */
	.balign	16
pkvm_guest_stub_syscall32:
	outb	%al, $PKVM_PORT_SYSCALL32
	ud2

/* Exception entries on IST1: a uniform frame of vector, error code, IRET frame. */
.macro vector_entry vec
	.balign	PKVM_STUB_VECTOR_STRIDE
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	pushq	$\vec
	.else
	pushq	$0
	pushq	$\vec
	.endif
	jmp	pkvm_guest_stub_exception_common
.endm

	.balign	PKVM_STUB_VECTOR_STRIDE
pkvm_guest_stub_vectors:
	.irp	vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vector_entry \vec
	.endr

pkvm_guest_stub_exception_common:
	outb	%al, $PKVM_PORT_EXCEPTION
	ud2

pkvm_guest_stub_end:

	.section .note.GNU-stack, "", @progbits
