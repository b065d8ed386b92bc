/* stub.h: the guest's CPL0 stub, as bytes the host copies into the guest, and its entry points. */
#ifndef PKVM_GUEST_STUB_H
#define PKVM_GUEST_STUB_H

/* I/O ports the stub writes to leave the guest (KVM_EXIT_IO). */
#define PKVM_PORT_SYSCALL	0xf0
#define PKVM_PORT_EXCEPTION	0xf1
#define PKVM_PORT_SYSCALL32	0xf2

/* Exception entries are 16 bytes apart, vector 0 first. */
#define PKVM_STUB_VECTOR_STRIDE	16

/*
 * The soft backend's PKRU table: a supervisor-only page the host fills with
 * the views it has built, so that the stub's #UD entry can serve a guest
 * RDPKRU or WRPKRU without leaving the guest (docs/architecture.md).  Byte
 * offsets, for the stub; struct pkvm_stub_pkru_table below is the C side.
 * The page sits PKVM_STUB_TABLE_DISTANCE bytes after the stub's first byte.
 */
#define PKVM_STUB_TABLE_DISTANCE	0x3000	/* PKVM_PKRU_TABLE_OFFSET - PKVM_STUB_OFFSET */
#define PKVM_STUB_PKRU_VIEWS		8	/* PKVM_SOFT_MAX_VIEWS */
#define PKVM_STUB_T_CR3		0	/* the CR3 the vCPU runs on (never bit 63) */
#define PKVM_STUB_T_PKRU	8	/* the guest's PKRU */
#define PKVM_STUB_T_FLAGS	12	/* PKVM_STUB_FAST */
#define PKVM_STUB_T_CLOCK	16	/* the views' use clock, shared with the host */
#define PKVM_STUB_T_SERVED	24	/* instructions served since the host last looked */
#define PKVM_STUB_T_VIEWS	32
#define PKVM_STUB_T_SCRATCH	(PKVM_STUB_T_VIEWS + PKVM_STUB_PKRU_VIEWS * PKVM_STUB_V_SIZE)
#define PKVM_STUB_V_PKRU	0
#define PKVM_STUB_V_FLAGS	4	/* PKVM_STUB_VIEW_GUEST_OK */
#define PKVM_STUB_V_CR3		8	/* the value to load (see struct pkvm_stub_pkru_view) */
#define PKVM_STUB_V_STAMP	16	/* the clock when last switched to */
#define PKVM_STUB_V_CR3_AGAIN	24	/* what V_CR3 becomes once the stub loaded it */
#define PKVM_STUB_V_SIZE	32

/* Table flags: the stub may serve RDPKRU/WRPKRU (else every #UD exits). */
#define PKVM_STUB_FAST		1
/*
 * hw: the stub's SYSCALL and exception entries record the guest's PKRU
 * (RDPKRU) in the table before they exit, so that the host need not ask KVM.
 */
#define PKVM_STUB_RECORD_PKRU	2
/* View flags: a live view whose PKRU the guest may set (the PKRU policy agrees). */
#define PKVM_STUB_VIEW_GUEST_OK	1

/* Values the stub needs from layout.h and x86.h, which are C only. */
#define PKVM_STUB_USER_CS	0x33	/* PKVM_USER_CS */
#define PKVM_STUB_EFLAGS_TF	0x100
#define PKVM_STUB_EFLAGS_AC	0x40000

#ifndef __ASSEMBLER__
#include <stdint.h>

extern const uint8_t pkvm_guest_stub_start[], pkvm_guest_stub_end[];
extern const uint8_t pkvm_guest_stub_resume[], pkvm_guest_stub_resume_cr3[];
extern const uint8_t pkvm_guest_stub_syscall[], pkvm_guest_stub_syscall32[];
extern const uint8_t pkvm_guest_stub_vectors[];
extern const uint8_t pkvm_guest_stub_exception_common[], pkvm_guest_stub_exception_out[];
extern const uint8_t pkvm_guest_stub_syscall_out[];
extern const uint8_t pkvm_guest_stub_ud[], pkvm_guest_stub_ud_end[];
extern const uint8_t pkvm_guest_stub_ud_rd_result[], pkvm_guest_stub_ud_rd_commit[];
extern const uint8_t pkvm_guest_stub_ud_report[];
extern const uint8_t pkvm_guest_stub_ud_wr_done[], pkvm_guest_stub_ud_wr_commit[];

#define PKVM_STUB_SYM_OFFSET(sym)	((uint64_t)((sym) - pkvm_guest_stub_start))

/*
 * The frame the host writes below the top of the IST stack to enter CPL3:
 * the CR3 to load (resume_cr3 only), then an IRETQ frame.
 */
struct pkvm_stub_resume_frame {
	uint64_t cr3, rip, cs, rflags, rsp, ss;
};

/*
 * The PKRU table (see PKVM_STUB_T_*).  The host writes cr3 and pkru before
 * each entry and reads them back after each exit; between the two only the
 * stub writes them.  served counts what the stub did, for the statistics.
 *
 * A view's cr3 is the value the stub loads.  With PCIDs (CR4.PCIDE, one per
 * view), the host publishes it without CR3_PCID_NOFLUSH when the view's
 * PCID may hold TLB entries of tables that have changed since, so that the
 * first load flushes them; once loaded, the stub replaces it by cr3_again,
 * which has the bit.  Without PCIDs both are the plain CR3, and every load
 * flushes.  The host reads the bit back to know which PCIDs are clean.
 */
struct pkvm_stub_pkru_view {
	uint32_t pkru;
	uint32_t flags;
	uint64_t cr3;
	uint64_t stamp;
	uint64_t cr3_again;
};

struct pkvm_stub_pkru_table {
	uint64_t cr3;
	uint32_t pkru;
	uint32_t flags;
	uint64_t clock;
	uint64_t served;
	struct pkvm_stub_pkru_view view[PKVM_STUB_PKRU_VIEWS];
	uint64_t scratch[3];	/* the SYSCALL entry's RAX, RCX, RDX while it records PKRU */
};

/*
 * Where the #UD fast path keeps the user's RAX, RCX and RDX (pushed in that
 * order below the exception's IRET frame), so that the host can put them back
 * when a signal stops the vCPU inside it.
 */
#define PKVM_STUB_UD_SAVED	3

/* What an exception entry leaves at the top of the IST stack. */
struct pkvm_stub_exception_frame {
	uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};
#endif

#endif /* PKVM_GUEST_STUB_H */
