/* x86.h: architectural constants (Intel SDM / AMD APM names), defined once. */
#ifndef PKVM_X86_H
#define PKVM_X86_H

#include <stdint.h>

#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define HPAGE_SHIFT		21			/* 2 MiB */
#define HPAGE_SIZE		(1UL << HPAGE_SHIFT)
#define GPAGE_SHIFT		30			/* 1 GiB */
#define GPAGE_SIZE		(1UL << GPAGE_SHIFT)

/* CR0 (SDM vol. 3A §2.5) */
#define CR0_PE			(1UL << 0)
#define CR0_MP			(1UL << 1)
#define CR0_ET			(1UL << 4)
#define CR0_NE			(1UL << 5)
#define CR0_WP			(1UL << 16)
#define CR0_AM			(1UL << 18)
#define CR0_PG			(1UL << 31)

/* CR4 */
#define CR4_PAE			(1UL << 5)
#define CR4_OSFXSR		(1UL << 9)
#define CR4_OSXMMEXCPT		(1UL << 10)
#define CR4_PCIDE		(1UL << 17)
#define CR4_OSXSAVE		(1UL << 18)
#define CR4_SMEP		(1UL << 20)
#define CR4_SMAP		(1UL << 21)
#define CR4_PKE			(1UL << 22)

/* CR3 with CR4.PCIDE (SDM vol. 3A §4.10.4.1): the PCID, and on a load, keep its TLB entries */
#define CR3_PCID_MASK		0xfffULL
#define CR3_PCID_NOFLUSH	(1ULL << 63)

/* EFER and the MSRs the guest set-up writes */
#define EFER_SCE		(1UL << 0)
#define EFER_LME		(1UL << 8)
#define EFER_LMA		(1UL << 10)
#define EFER_NXE		(1UL << 11)
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_IA32_CR_PAT		0x00000277
#define MSR_MISC_FEATURES_ENABLES	0x00000140
#define MISC_FEATURES_CPUID_FAULT	(1ULL << 0)	/* CPUID at CPL>0 raises #GP(0) */

/* RFLAGS */
#define X86_EFLAGS_CF		(1UL << 0)
#define X86_EFLAGS_FIXED	(1UL << 1)
#define X86_EFLAGS_PF		(1UL << 2)
#define X86_EFLAGS_AF		(1UL << 4)
#define X86_EFLAGS_ZF		(1UL << 6)
#define X86_EFLAGS_SF		(1UL << 7)
#define X86_EFLAGS_TF		(1UL << 8)
#define X86_EFLAGS_IF		(1UL << 9)
#define X86_EFLAGS_DF		(1UL << 10)
#define X86_EFLAGS_OF		(1UL << 11)
#define X86_EFLAGS_NT		(1UL << 14)
#define X86_EFLAGS_AC		(1UL << 18)
#define X86_EFLAGS_ID		(1UL << 21)
/* The bits CPL3 code may own (POPF at CPL3/IOPL0 can change no others). */
#define X86_EFLAGS_USER_MASK	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
				 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_TF | \
				 X86_EFLAGS_DF | X86_EFLAGS_OF | X86_EFLAGS_AC | \
				 X86_EFLAGS_ID)

/* Paging-structure entry bits (SDM vol. 3A §4.5, tables 4-15..4-20) */
#define PTE_P			(1ULL << 0)
#define PTE_W			(1ULL << 1)
#define PTE_U			(1ULL << 2)
#define PTE_PWT			(1ULL << 3)
#define PTE_PCD			(1ULL << 4)
#define PTE_A			(1ULL << 5)
#define PTE_D			(1ULL << 6)
#define PTE_PS			(1ULL << 7)
#define PTE_G			(1ULL << 8)
#define PTE_PAT_LARGE		(1ULL << 12)
#define PTE_NX			(1ULL << 63)
#define PTE_PKEY_SHIFT		59
#define PTE_PKEY_MASK		(0xfULL << PTE_PKEY_SHIFT)
#define PTE_ADDR_MASK_52	0x000ffffffffff000ULL

/* Page-fault error code (SDM vol. 3A §4.7) */
#define PFEC_P			(1U << 0)
#define PFEC_W			(1U << 1)
#define PFEC_U			(1U << 2)
#define PFEC_RSVD		(1U << 3)
#define PFEC_I			(1U << 4)
#define PFEC_PK			(1U << 5)

/* Exception vectors */
#define X86_VEC_DE		0
#define X86_VEC_DB		1
#define X86_VEC_NMI		2
#define X86_VEC_BP		3
#define X86_VEC_OF		4
#define X86_VEC_BR		5
#define X86_VEC_UD		6
#define X86_VEC_NM		7
#define X86_VEC_DF		8
#define X86_VEC_TS		10
#define X86_VEC_NP		11
#define X86_VEC_SS		12
#define X86_VEC_GP		13
#define X86_VEC_PF		14
#define X86_VEC_MF		16
#define X86_VEC_AC		17
#define X86_VEC_MC		18
#define X86_VEC_XM		19
#define X86_VEC_VE		20
#define X86_VEC_CP		21
#define X86_NR_EXCEPTIONS	32

/* XSAVE (SDM vol. 1 §13) */
#define XFEATURE_X87		0
#define XFEATURE_SSE		1
#define XFEATURE_YMM		2
#define XFEATURE_OPMASK		5
#define XFEATURE_ZMM_HI256	6
#define XFEATURE_HI16_ZMM	7
#define XFEATURE_PKRU		9
#define XFEATURE_MASK(f)	(1ULL << (f))
#define XSAVE_HDR_OFFSET	512	/* XSTATE_BV lives here in the standard form */

/* CPUID bits the library looks at */
#define CPUID_1_ECX_PCID	(1U << 17)
#define CPUID_1_ECX_XSAVE	(1U << 26)
#define CPUID_1_ECX_OSXSAVE	(1U << 27)
#define CPUID_7_EBX_SMEP	(1U << 7)
#define CPUID_7_EBX_SMAP	(1U << 20)
#define CPUID_7_ECX_PKU		(1U << 3)
#define CPUID_7_ECX_OSPKE	(1U << 4)

/* Encodings the hw backend's lock policy looks for in executable pages. */
#define X86_WRPKRU_BYTES	{ 0x0f, 0x01, 0xef }
#define X86_RDPKRU_BYTES	{ 0x0f, 0x01, 0xee }

#endif /* PKVM_X86_H */
