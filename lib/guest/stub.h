/* stub.h: the guest's CPL0 stub, as bytes the host copies into the guest, and its entry points. */
#ifndef PKVM_GUEST_STUB_H
#define PKVM_GUEST_STUB_H

/* I/O ports the stub writes to leave the guest (KVM_EXIT_IO). */
#define PKVM_PORT_SYSCALL	0xf0
#define PKVM_PORT_EXCEPTION	0xf1
#define PKVM_PORT_SYSCALL32	0xf2

/* Exception entries are 16 bytes apart, vector 0 first. */
#define PKVM_STUB_VECTOR_STRIDE	16

#ifndef __ASSEMBLER__
#include <stdint.h>

extern const uint8_t pkvm_guest_stub_start[], pkvm_guest_stub_end[];
extern const uint8_t pkvm_guest_stub_resume[], pkvm_guest_stub_resume_cr3[];
extern const uint8_t pkvm_guest_stub_syscall[], pkvm_guest_stub_syscall32[];
extern const uint8_t pkvm_guest_stub_vectors[];
extern const uint8_t pkvm_guest_stub_exception_common[];

#define PKVM_STUB_SYM_OFFSET(sym)	((uint64_t)((sym) - pkvm_guest_stub_start))

/*
 * The frame the host writes below the top of the IST stack to enter CPL3:
 * the CR3 to load (resume_cr3 only), then an IRETQ frame.
 */
struct pkvm_stub_resume_frame {
	uint64_t cr3, rip, cs, rflags, rsp, ss;
};

/* What an exception entry leaves at the top of the IST stack. */
struct pkvm_stub_exception_frame {
	uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};
#endif

#endif /* PKVM_GUEST_STUB_H */
