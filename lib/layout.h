/* layout.h: where the library puts the guest's own structures, physically and virtually. */
#ifndef PKVM_LAYOUT_H
#define PKVM_LAYOUT_H

#include "x86.h"

/*
 * Guest-physical memory:
 *   [0, 4K)                unused, so that a stray gpa 0 is never meaningful
 *   SYS_GPA ...            GDT+TSS, IDT, stub, IST stack, PKRU table (supervisor pages)
 *   [FRAMES_GPA, pool)     frames behind user mappings
 *   [pool, mem_size)       page-table pool, in a memslot of its own
 */
#define PKVM_SYS_GPA		0x1000ULL
#define PKVM_GDT_OFFSET		0x0000ULL	/* GDT and TSS share a page */
#define PKVM_TSS_OFFSET		0x0800ULL
#define PKVM_IDT_OFFSET		0x1000ULL
#define PKVM_STUB_OFFSET	0x2000ULL
#define PKVM_STACK_OFFSET	0x3000ULL
#define PKVM_STACK_SIZE		0x2000ULL
#define PKVM_PKRU_TABLE_OFFSET	0x5000ULL	/* the soft backend's, read by the stub */
#define PKVM_SYS_SIZE		0x6000ULL
#define PKVM_FRAMES_GPA		0x10000ULL

/* The supervisor structures' virtual home: the top 2 GiB, as in Linux. */
#define PKVM_SYS_GVA		0xffffffff80000000ULL
#define PKVM_SYS_VA(off)	(PKVM_SYS_GVA + PKVM_SYS_GPA + (off))
#define PKVM_IST_TOP_GVA	PKVM_SYS_VA(PKVM_STACK_OFFSET + PKVM_STACK_SIZE)

/* GDT selectors, in the order SYSCALL/SYSRET expect (as Linux lays them out). */
#define PKVM_KERNEL_CS		0x10
#define PKVM_KERNEL_DS		0x18
/*
 * STAR[63:48] names 0x23 as the SYSRET base (Linux's 32-bit user code), but
 * that GDT slot stays empty: no compatibility-mode code segment exists, so a
 * far transfer to it faults (#GP) and compatibility-mode SYSCALL, which
 * enters through MSR_CSTAR, is out of the guest's reach.
 */
#define PKVM_USER32_CS		0x23
#define PKVM_USER_DS		0x2b
#define PKVM_USER_CS		0x33
#define PKVM_TSS_SEL		0x40
#define PKVM_GDT_ENTRIES	10

#define PKVM_MEM_DEFAULT	(64ULL << 20)
#define PKVM_MEM_MAX		(3ULL << 30)	/* stays below KVM's TSS/identity pages */
#define PKVM_KVM_TSS_ADDR	0xfffbd000ULL
#define PKVM_POOL_MIN		(256ULL << 10)

#endif /* PKVM_LAYOUT_H */
