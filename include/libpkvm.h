/*
 * libpkvm.h: the public interface of libpkvm, an embeddable type-2 hypervisor
 * library on the Linux KVM API.
 *
 * A libpkvm VM is a micro-VM with one vCPU in 64-bit mode whose memory is a
 * set of regions the host maps at chosen guest virtual addresses, each with
 * rights and an x86 protection key (PKU).  Untrusted code runs at guest CPL3
 * under a guest PKRU that the host sets; it leaves to the host at every
 * `syscall`, every exception and when a time limit expires.  Nothing else
 * of the guest is reachable from it: the CPL0 stub, page tables, GDT, IDT
 * and TSS are supervisor pages or outside every mapping.
 *
 * Conventions:
 *  - Functions return 0 (or a non-negative value where documented) on
 *    success and a negative errno value on failure; pkvm_strerror() gives
 *    text.  The library never prints, exits or aborts.
 *  - A struct pkvm_vm is used by one thread at a time; pkvm_interrupt() is
 *    the exception and may be called from any thread.  A process may hold
 *    many VMs.
 *  - The thread that calls pkvm_run() must not block the kick signal
 *    (struct pkvm_config.kick_signal): it is how a time limit or
 *    pkvm_interrupt() stops a running vCPU.
 *  - Each VM holds two file descriptors (the VM's and its vCPU's), and a
 *    Linux personality attached to it more (its guest's files, up to
 *    pkvm_linux_config.max_fds).  Under the usual soft RLIMIT_NOFILE of
 *    1024, about 500 bare VMs fit in one process; to hold more, raise the
 *    soft limit to the hard one at start, as servers do:
 *	getrlimit(RLIMIT_NOFILE, &rl); rl.rlim_cur = rl.rlim_max;
 *	setrlimit(RLIMIT_NOFILE, &rl);
 *  - Structs that may grow end with reserved space (`reserved`), so that a
 *    later libpkvm can add members without breaking programs built against
 *    this header (docs/abi.md).  In a struct you pass in, it must be zero
 *    (initialise the struct with `= { 0 }` or designated initialisers):
 *    -EINVAL otherwise.  A struct libpkvm fills is zeroed first.
 *
 * Example: a guest write that the PKRU denies, reported as the CPU's #PF
 * with PFEC.PK (tests/test_doc_examples.sh compiles this, and the README's
 * copy, against this header and the library):
 *
 *	#include <stdio.h>
 *	#include <libpkvm.h>
 *
 *	// Guest code: write 1 to 0x800000, whose key the PKRU makes read-only.
 *	static const unsigned char code[] = {
 *		0xb8, 0x00, 0x00, 0x80, 0x00,		// mov $0x800000, %eax
 *		0xc7, 0x00, 0x01, 0x00, 0x00, 0x00,	// movl $1, (%rax)
 *	};
 *
 *	int main(void)
 *	{
 *		struct pkvm_vm *vm;
 *		struct pkvm_regs regs;
 *		struct pkvm_exit exit;
 *		int key, err;
 *
 *		err = pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 64 << 20 });
 *		if (err) {
 *			fprintf(stderr, "pkvm_vm_create: %s\n", pkvm_strerror(err));
 *			return 1;
 *		}
 *		key = pkvm_pkey_alloc(vm);
 *		err = key < 0 ? key : 0;
 *		if (!err)
 *			err = pkvm_map(vm, 0x400000, code, sizeof(code), 0x1000,
 *				       PKVM_PROT_READ | PKVM_PROT_EXEC, 0);
 *		if (!err)
 *			err = pkvm_map(vm, 0x800000, NULL, 0, 1 << 20,
 *				       PKVM_PROT_READ | PKVM_PROT_WRITE, key);
 *		if (!err)
 *			err = pkvm_set_pkru(vm, PKVM_PKRU_DENY_ALL & ~pkvm_pkru_allow(key, PKVM_PKEY_READ));
 *		if (!err)
 *			err = pkvm_get_regs(vm, &regs);
 *		if (!err) {
 *			regs.rip = 0x400000;
 *			err = pkvm_set_regs(vm, &regs);
 *		}
 *		if (!err)
 *			err = pkvm_run(vm, &exit);
 *		if (!err && exit.reason == PKVM_EXIT_FAULT && (exit.fault.pfec & PKVM_PFEC_PK))
 *			printf("key %d denied the write at %#llx\n", exit.fault.pkey,
 *			       (unsigned long long)exit.fault.addr);
 *		else if (err)
 *			fprintf(stderr, "%s\n", pkvm_strerror(err));
 *		pkvm_vm_destroy(vm);
 *		return err ? 1 : 0;
 *	}
 */
#ifndef LIBPKVM_H
#define LIBPKVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PKVM_VERSION_MAJOR	0
#define PKVM_VERSION_MINOR	2
#define PKVM_VERSION_MICRO	0

/* The version of the library in use at run time, "MAJOR.MINOR.MICRO". */
const char *pkvm_version(void);

/* Text for a negative errno value returned by this library (never NULL). */
const char *pkvm_strerror(int err);

/* ------------------------------------------------------------------------ */
/* What this host's KVM offers                                               */

/* How KVM maps guest memory (struct pkvm_caps.paging). */
enum pkvm_paging {
	PKVM_PAGING_UNKNOWN = 0,	/* neither kvm_intel nor kvm_amd is loaded */
	PKVM_PAGING_EPT,		/* Intel VMX with EPT (kvm_intel.ept=Y) */
	PKVM_PAGING_NPT,		/* AMD SVM with nested paging (kvm_amd.npt=1) */
	PKVM_PAGING_SHADOW,		/* either, with EPT or NPT turned off */
};

struct pkvm_caps {
	int api_version;		/* KVM_GET_API_VERSION (12) */
	bool pku;			/* guest PKU offered: the hw backend works */
	bool sync_regs;			/* KVM_CAP_SYNC_REGS: fewer ioctls per exit */
	bool smep, smap;		/* offered to guests, and so enabled in them */
	uint32_t xsave_size;		/* bytes of the guest's XSAVE state */
	uint64_t supported_xcr0;	/* XSAVE components KVM lets guests enable */
	unsigned maxphyaddr;		/* guest physical address width */
	/*
	 * The device runs x86 guests as the hardware would: a CPL3 SYSCALL
	 * reaches the guest's own entry point.  False for paravirtual KVMs such
	 * as PVM (kvm-pvm, for hosts without hardware virtualization), where
	 * pkvm_vm_create() fails with -ENODEV.
	 */
	bool runs_guests;
	/* The host CPU's vendor as KVM reports it: "GenuineIntel", "AuthenticAMD". */
	char vendor[16];
	/*
	 * How KVM maps guest memory, from its module parameters: with the
	 * CPU's two-dimensional paging (guest PKU needs it) or with shadow
	 * page tables (the soft backend then keeps keys).
	 */
	enum pkvm_paging paging;
	/*
	 * PCIDs offered to guests: the soft backend gives each page-table view
	 * its own, so that switching views keeps the TLB entries of each.
	 */
	bool pcid;			/* (in what was padding: the size stayed) */
	uint64_t reserved[5];		/* zero: room to grow (docs/abi.md) */
};

/*
 * Probe the KVM at @kvm_path (NULL: "/dev/kvm"); to learn runs_guests it
 * builds and runs one small VM for a moment.  Returns 0, or -ENOENT / -EACCES / ... when it cannot be opened, -ENOSYS
 * when its API version is not 12.
 */
int pkvm_caps(struct pkvm_caps *caps, const char *kvm_path);

/* ------------------------------------------------------------------------ */
/* VM lifecycle                                                              */

/* How protection keys are enforced. */
enum pkvm_pkeys_backend {
	/* hw where KVM offers guest PKU, soft elsewhere. */
	PKVM_PKEYS_AUTO = 0,
	/*
	 * The CPU enforces keys: guest CPUID PKU, CR4.PKE=1, keys in PTEs, PKRU
	 * in the guest's XSAVE state.  pkvm_vm_create() fails with -EOPNOTSUPP
	 * where KVM does not offer PKU (it needs EPT/NPT and a PKU host CPU).
	 */
	PKVM_PKEYS_HW,
	/*
	 * The host enforces keys, on any KVM: for each PKRU value in use the
	 * guest runs on a view of its page tables in which pages whose key has
	 * AD are not present and pages whose key has WD are read-only; guest
	 * RDPKRU/WRPKRU (#UD without CR4.PKE) are emulated by the host, and a
	 * fault of the view is reported as the PK fault the CPU would raise
	 * (same vector, error code, CR2 and key).  The guest's CPUID shows PKU
	 * and OSPKE as on hw: KVM's CPUID faulting traps CPL3 CPUID to the host,
	 * which answers.  One documented difference from hw: an instruction
	 * fetch from a page whose key has AD faults (#PF, P|U|I) where the CPU
	 * would allow it (x86 paging has no execute-only pages).
	 */
	PKVM_PKEYS_SOFT,
	/*
	 * No enforcement is available: keys can be allocated and given to
	 * mappings, but the PKRU stays 0 (every key fully allowed) and
	 * pkvm_set_pkru() of anything else fails with -EOPNOTSUPP, so nothing
	 * is ever silently left unenforced.  For a host that wants no keys.
	 */
	PKVM_PKEYS_NONE,
};

struct pkvm_config {
	/* Guest memory in bytes, a multiple of 4 KiB; 0: 64 MiB; at most 3 GiB. */
	uint64_t mem_size;
	enum pkvm_pkeys_backend pkeys;
	/* Bytes of guest memory kept for page tables; 0: mem_size / 64, >= 256 KiB. */
	uint64_t pt_pool_size;
	/* The KVM device; NULL: "/dev/kvm". */
	const char *kvm_path;
	/*
	 * The signal used to stop a running vCPU (time limits, pkvm_interrupt());
	 * 0: SIGRTMAX - 1.  libpkvm installs a handler for it once per process
	 * (it only sets KVM's immediate_exit); the application must not use it
	 * for anything else.
	 */
	int kick_signal;
	/*
	 * Let the host back guest memory with transparent huge pages: fewer
	 * nested-paging misses for big, busy guests, but every 2 MiB the guest
	 * or libpkvm touches then costs 2 MiB of host memory.  Off by default,
	 * so that an idle sandbox costs tens of KiB.
	 */
	bool host_huge_pages;
	uint64_t flags;			/* PKVM_CONFIG_* */
	uint64_t reserved[7];		/* must be zero: room to grow (docs/abi.md) */
};

/*
 * soft backend: serve every guest RDPKRU and WRPKRU in the host, one exit
 * each, rather than in the guest's CPL0 stub.  The stub serves a WRPKRU to a
 * value it has a view for (and the PKRU policy allows) without leaving the
 * guest; values it has none for exit anyway.  The results are the same
 * either way; this is for comparing the two, or for a host that wants to
 * see every switch.  Ignored by the other backends.
 */
#define PKVM_CONFIG_SOFT_PKRU_EXITS	(1ULL << 0)
/*
 * soft backend: leave CR4.PCIDE clear, as where KVM offers no PCIDs
 * (pkvm_caps.pcid), so that each switch between page-table views flushes
 * the guest's TLB.  By default each view has a PCID of its own and a switch
 * keeps the TLB entries of both; the results are the same either way.  This
 * is for measuring the difference.  Ignored by the other backends.
 */
#define PKVM_CONFIG_SOFT_NO_PCID	(1ULL << 1)
#define PKVM_CONFIG_FLAGS		(PKVM_CONFIG_SOFT_PKRU_EXITS | PKVM_CONFIG_SOFT_NO_PCID)

struct pkvm_vm;

/*
 * Create a VM: open KVM, build guest memory, page tables, the CPL0 stub and
 * the vCPU in 64-bit mode.  @config may be NULL for the defaults.  Returns 0
 * and sets *@vm, or a negative errno: -EINVAL for a bad configuration,
 * -EOPNOTSUPP when the chosen pkeys backend cannot run here, -ENODEV when the
 * device does not run guests as x86 hardware does (see pkvm_caps.runs_guests:
 * before handing the VM out, libpkvm runs its call trampoline once and checks
 * that the SYSCALL came back with the guest's registers), -ENOMEM, or the
 * error of the KVM ioctl that failed.
 */
int pkvm_vm_create(struct pkvm_vm **vm, const struct pkvm_config *config);

/* Release everything the VM holds (fds, memory, timers).  NULL is a no-op. */
void pkvm_vm_destroy(struct pkvm_vm *vm);

/* The backend actually in use (never PKVM_PKEYS_AUTO). */
enum pkvm_pkeys_backend pkvm_vm_pkeys_backend(const struct pkvm_vm *vm);

/* "auto", "hw", "soft" or "none". */
const char *pkvm_pkeys_backend_name(enum pkvm_pkeys_backend backend);

/* ------------------------------------------------------------------------ */
/* Guest memory                                                              */

#define PKVM_PROT_READ		0x1
#define PKVM_PROT_WRITE		0x2
#define PKVM_PROT_EXEC		0x4

/* The first guest virtual address that is not user space (47-bit lower half). */
#define PKVM_USER_TOP		0x0000800000000000ULL
/*
 * The lowest address that can be mapped: the first 64 KiB stay unmapped, as
 * Linux's vm.mmap_min_addr keeps them, so that a NULL pointer (or RIP 0) in
 * the guest's CPL0 stub could never reach memory the guest controls.
 */
#define PKVM_USER_BOTTOM	0x0000000000010000ULL

/*
 * Map @len bytes at guest virtual address @gva (both multiples of 4 KiB;
 * @len > 0; the range inside [PKVM_USER_BOTTOM, PKVM_USER_TOP)) as user pages with rights
 * @prot (PKVM_PROT_*; READ is implied by WRITE or EXEC, as on x86; 0 maps
 * pages the guest cannot touch at all, like PROT_NONE, which x86 does by
 * making them supervisor pages; host copies refuse them too) and
 * protection key @pkey (0, or one from pkvm_pkey_alloc()).  The memory is
 * fresh guest memory: a copy of @data's first @data_len bytes, zeros after
 * (@data may be NULL with @data_len 0).  Ranges 2 MiB aligned are mapped with
 * 2 MiB pages.  Returns 0; -EINVAL for bad arguments, -EEXIST if any page is
 * already mapped, -ENOMEM when guest memory or page-table space runs out.
 */
int pkvm_map(struct pkvm_vm *vm, uint64_t gva, const void *data, size_t data_len, uint64_t len,
	     int prot, int pkey);

/*
 * Map @len bytes at @gva as pkvm_map() does with no data, but without
 * frames: demand-backed memory.  Each page gets a zeroed frame of guest
 * memory the first time the guest touches it (inside pkvm_run(), which the
 * caller never sees) or a copy call reaches it, with @prot and @pkey (or
 * what pkvm_protect()/pkvm_set_pkey() made of them since).  So reserving
 * address space costs nothing until it is used, and pkvm_config.mem_size
 * bounds the frames in use, not the address space reserved.  A page with
 * @prot 0 never gets a frame from the guest's touch: that is a protection
 * fault, as for pkvm_map()'s.  When no frame (or page-table page) is left,
 * the touch ends the run with PKVM_EXIT_OUT_OF_MEMORY, and a copy call
 * fails with -ENOMEM.  Frames a snapshot did not have are dropped by
 * pkvm_restore().  Returns 0; -EINVAL for bad arguments, -EEXIST if any
 * page is mapped or reserved already, -ENOMEM when the VM holds too many
 * separate ranges (65530, as Linux's vm.max_map_count).
 */
int pkvm_map_demand(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot, int pkey);

/*
 * Unmap [@gva, @gva + @len) and free its guest memory; holes are fine.
 * Demand-backed ranges in it are released too.
 */
int pkvm_unmap(struct pkvm_vm *vm, uint64_t gva, uint64_t len);

/*
 * Throw away the contents of [@gva, @gva + @len), as Linux's
 * MADV_DONTNEED does for private anonymous memory: it reads as zeros
 * afterwards.  Demand-backed pages give their frames back to the guest's
 * memory (to be filled again when touched); other pages are zeroed in
 * place; holes are fine.  Costs what is mapped, not the length.
 */
int pkvm_discard(struct pkvm_vm *vm, uint64_t gva, uint64_t len);

/*
 * Change the rights of a range, 0 included.  Every page must be mapped or
 * demand-backed (-ENOMEM otherwise, nothing changed); demand-backed pages
 * not filled yet will be filled with the new rights.
 */
int pkvm_protect(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int prot);

/* Change the protection key of a range; as pkvm_protect() for what must be mapped. */
int pkvm_set_pkey(struct pkvm_vm *vm, uint64_t gva, uint64_t len, int pkey);

/*
 * Copy between host buffers and guest virtual memory as Linux's
 * copy_from_user()/copy_to_user() do for a process: only user addresses,
 * checked page by page as the CPU would check an explicit supervisor access
 * with EFLAGS.AC=1 and CR0.WP=1 under the guest's current PKRU.  So a buffer
 * whose key is access-disabled cannot be read and one whose key is
 * write-disabled cannot be written.  A demand-backed page not filled yet is
 * filled, as the guest's touch would.  Returns 0, or -EFAULT (nothing is
 * guaranteed about a partially copied destination), or -ENOMEM when a
 * demand-backed page finds no frame.
 */
int pkvm_read_guest(struct pkvm_vm *vm, void *dst, uint64_t gva, size_t len);
int pkvm_write_guest(struct pkvm_vm *vm, uint64_t gva, const void *src, size_t len);

/*
 * Copy as the host, not on the guest's behalf: any page mapped in the user
 * half, whatever its rights and key (to fill a key-protected input buffer,
 * say, or read a result the guest may not see).  Only -EFAULT for an
 * unmapped page or an address outside [0, PKVM_USER_TOP), and -ENOMEM when
 * a demand-backed page it reaches finds no frame.
 */
int pkvm_host_read_guest(struct pkvm_vm *vm, void *dst, uint64_t gva, size_t len);
int pkvm_host_write_guest(struct pkvm_vm *vm, uint64_t gva, const void *src, size_t len);

/*
 * Copy a NUL-terminated string of at most @size - 1 bytes from the guest.
 * Returns its length, -EFAULT, or -ENAMETOOLONG when no NUL came in time.
 */
long pkvm_read_guest_string(struct pkvm_vm *vm, char *dst, uint64_t gva, size_t size);

/* ------------------------------------------------------------------------ */
/* Protection keys                                                           */

#define PKVM_NR_PKEYS		16

/* PKRU: bit 2k is AD (access disable) of key k, bit 2k+1 is WD (write disable). */
#define PKVM_PKRU_AD(k)		(1U << (2 * (k)))
#define PKVM_PKRU_WD(k)		(2U << (2 * (k)))
/* Every key but the default key 0 denied. */
#define PKVM_PKRU_DENY_ALL	0xfffffffcU

#define PKVM_PKEY_READ		0x1
#define PKVM_PKEY_WRITE		0x2	/* implies READ */

/* The PKRU bits that keep key @k from the access @rights; clear them to allow it. */
static inline uint32_t pkvm_pkru_allow(int k, unsigned rights)
{
	uint32_t bits = (rights & PKVM_PKEY_WRITE) ? 3U : (rights & PKVM_PKEY_READ) ? 1U : 0U;

	return bits << (2 * (k & 15));
}

/* Allocate a key in 1..15: returns it, or -ENOSPC. */
int pkvm_pkey_alloc(struct pkvm_vm *vm);

/* Free a key from pkvm_pkey_alloc(); pages keep the key number (-EINVAL if not allocated). */
int pkvm_pkey_free(struct pkvm_vm *vm, int pkey);

/*
 * Who may change PKRU.  GUEST_FREE: the guest too, with WRPKRU (the default).
 * LOCKED: only the host.  On the soft backend a guest WRPKRU then ends the run
 * with a #GP fault (exit.fault.pkru_refused); on the hw backend WRPKRU runs
 * natively, so the VM keeps W^X and refuses (-EPERM) to make executable any
 * page whose bytes contain WRPKRU (0f 01 ef) or XRSTOR (0f ae /5), also
 * across page boundaries, as ERIM does; existing executable pages are
 * scanned when the policy is set.  ALLOWLIST: the guest may set only the
 * @n values in @allowed (soft backend only; -EOPNOTSUPP on hw).
 * On the none backend the PKRU is always 0 and the policy has no effect.
 */
enum pkvm_pkru_policy {
	PKVM_PKRU_GUEST_FREE = 0,
	PKVM_PKRU_LOCKED,
	PKVM_PKRU_ALLOWLIST,
};

int pkvm_set_pkru_policy(struct pkvm_vm *vm, enum pkvm_pkru_policy policy,
			 const uint32_t *allowed, size_t n);

/*
 * Set the guest's PKRU, in force from the next pkvm_run().  The guest may
 * change it itself with WRPKRU (on the hw backend); pkvm_get_pkru() reads the
 * current value.  -EOPNOTSUPP on the none backend for anything but 0.
 */
int pkvm_set_pkru(struct pkvm_vm *vm, uint32_t pkru);
int pkvm_get_pkru(struct pkvm_vm *vm, uint32_t *pkru);

/* ------------------------------------------------------------------------ */
/* Registers                                                                 */

/* The CPL3 context: what a user process sees of its registers. */
struct pkvm_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	uint64_t fs_base, gs_base;
};

/*
 * Read or replace the guest's user context.  Between runs only; RFLAGS bits
 * that CPL3 cannot own (IOPL, IF, NT, VM...) are ignored on write.  Writing a
 * non-canonical RIP, RSP, FS or GS base fails with -EINVAL.
 */
int pkvm_get_regs(struct pkvm_vm *vm, struct pkvm_regs *regs);
int pkvm_set_regs(struct pkvm_vm *vm, const struct pkvm_regs *regs);

/* ------------------------------------------------------------------------ */
/* Running                                                                   */

enum pkvm_exit_reason {
	/*
	 * The guest executed `syscall`.  Its number and arguments (Linux ABI:
	 * RAX; RDI, RSI, RDX, R10, R8, R9) are in exit.syscall; RIP is already
	 * past the instruction, and RCX/R11 hold RIP/RFLAGS as on Linux.  Set
	 * the result with pkvm_syscall_return() and run again to continue.
	 */
	PKVM_EXIT_SYSCALL = 1,
	/*
	 * The guest raised an exception: details in exit.fault; RIP still
	 * points at the faulting instruction (after it for traps such as #BP).
	 * Running again without changing anything retries the instruction.
	 */
	PKVM_EXIT_FAULT,
	/* The guest program ended (Linux personality: exit/exit_group). */
	PKVM_EXIT_EXIT,
	/* The time limit of pkvm_set_time_limit() passed. */
	PKVM_EXIT_TIMEOUT,
	/* pkvm_interrupt() was called. */
	PKVM_EXIT_INTERRUPTED,
	/*
	 * Something outside the guest ABI: a triple fault, a fault in the stub,
	 * a KVM emulation failure.  exit.internal says what; the VM can only be
	 * destroyed (or its registers reset and run again).
	 */
	PKVM_EXIT_INTERNAL,
	/*
	 * The guest function started by pkvm_call() returned: its RAX is in
	 * exit.ret.value and the context from before the call is back.
	 */
	PKVM_EXIT_RETURN,
	/*
	 * The guest touched a page of demand-backed memory (pkvm_map_demand())
	 * and no frame or page-table page was left for it: guest memory is
	 * used up.  exit.fault describes the access (#PF, not present).
	 * Running again retries it: after pkvm_discard() or pkvm_unmap() have
	 * given frames back, it may then succeed.
	 */
	PKVM_EXIT_OUT_OF_MEMORY,
};

/* Page-fault error code bits, as the CPU pushes them (SDM vol. 3A §4.7). */
#define PKVM_PFEC_P		(1U << 0)	/* protection (0: not present) */
#define PKVM_PFEC_W		(1U << 1)	/* a write */
#define PKVM_PFEC_U		(1U << 2)	/* a user-mode access */
#define PKVM_PFEC_RSVD		(1U << 3)	/* a reserved bit was set */
#define PKVM_PFEC_I		(1U << 4)	/* an instruction fetch */
#define PKVM_PFEC_PK		(1U << 5)	/* a protection key denied it */

/* Exception vectors the guest may raise. */
#define PKVM_VEC_DE		0	/* divide error */
#define PKVM_VEC_DB		1
#define PKVM_VEC_BP		3	/* int3 */
#define PKVM_VEC_UD		6	/* invalid opcode */
#define PKVM_VEC_GP		13	/* general protection */
#define PKVM_VEC_PF		14	/* page fault */
#define PKVM_VEC_MF		16
#define PKVM_VEC_AC		17
#define PKVM_VEC_XM		19

struct pkvm_exit {
	enum pkvm_exit_reason reason;
	union {
		struct {
			uint64_t nr;
			uint64_t args[6];
		} syscall;
		struct {
			unsigned vector;	/* PKVM_VEC_* */
			bool has_error_code;
			uint32_t error_code;	/* as pushed by the CPU */
			uint64_t rip;		/* of the faulting instruction */
			/* #PF only: */
			uint64_t addr;		/* CR2: the address accessed */
			uint32_t pfec;		/* error code, PKVM_PFEC_* */
			int pkey;		/* key of the page at addr, -1 if unmapped */
			uint32_t pkru;		/* PKRU at the fault */
			/* #GP from a WRPKRU the PKRU policy refused (soft backend): */
			bool pkru_refused;
			uint32_t refused_pkru;	/* the value the guest tried to set */
		} fault;
		struct {
			int status;
			/* Linux personality: the signal that ended it (status 128 + it), 0 if none */
			int signal;
			/*
			 * Linux personality: SIGKILL because guest memory ran out
			 * when a page was first touched (PKVM_EXIT_OUT_OF_MEMORY),
			 * as Linux's OOM killer ends a process.
			 */
			bool out_of_memory;
			/*
			 * Linux personality: every thread of the program waits on
			 * a futex that none can wake, with no timeout: Linux would
			 * wait forever; the run ends (status 124).
			 */
			bool deadlock;
		} exit;
		struct {
			uint64_t value;
		} ret;
		struct {
			uint32_t kvm_exit_reason;	/* KVM_EXIT_*, 0 for a stub fault */
			uint64_t detail;		/* vector, suberror, ... */
			const char *what;		/* a static description */
		} internal;
		uint64_t reserved_union[16];	/* the union's size for good */
	};
	uint64_t reserved[4];		/* zero: room to grow (docs/abi.md) */
};

/*
 * Run the guest's user context until it needs the host.  Returns 0 with
 * @exit filled, or a negative errno when running failed (-EBUSY if the VM
 * is already running on another thread, a KVM ioctl's error).
 */
int pkvm_run(struct pkvm_vm *vm, struct pkvm_exit *exit);

/* Set RAX, the result the guest sees from the `syscall` it stopped at. */
int pkvm_syscall_return(struct pkvm_vm *vm, uint64_t value);

/*
 * Limit the guest's running time to @ns nanoseconds of wall-clock time from
 * now, counted across pkvm_run() calls until changed; 0 removes the limit.
 * When it passes, pkvm_run() returns PKVM_EXIT_TIMEOUT (again at each call
 * until a new limit is set).
 */
int pkvm_set_time_limit(struct pkvm_vm *vm, uint64_t ns);

/*
 * Make pkvm_run() return PKVM_EXIT_INTERRUPTED as soon as possible: at once
 * if it is running on another thread, else at the next call.  Safe from any
 * thread (not from a signal handler).
 */
int pkvm_interrupt(struct pkvm_vm *vm);

/* Counters of what a VM did, since it was created. */
struct pkvm_stats {
	uint64_t runs;			/* pkvm_run() calls */
	uint64_t kvm_exits;		/* returns from KVM_RUN, signals included */
	uint64_t syscalls;		/* SYSCALL exits */
	uint64_t faults;		/* exceptions reported to the host */
	uint64_t pkru_emulations;	/* soft: guest RDPKRU/WRPKRU served */
	uint64_t view_builds;		/* soft: page-table views built */
	uint64_t view_pages;		/* soft: pool pages the views hold now */
	uint64_t demand_fills;		/* demand-backed pages given a frame */
	uint64_t frames_in_use;		/* pages of guest memory mapped now */
	/*
	 * ioctls the library made to KVM for this VM, KVM_RUN included: the
	 * delta around an operation is what it costs beside the guest's time.
	 */
	uint64_t ioctls;
	/* soft: PCIDs the views run on (0: each view switch flushes the TLB) */
	uint64_t view_pcids;
	uint64_t reserved[6];		/* zero: room to grow (docs/abi.md) */
};

int pkvm_get_stats(struct pkvm_vm *vm, struct pkvm_stats *stats);

/* A short name for an exit reason ("syscall", "fault", ...). */
const char *pkvm_exit_reason_name(enum pkvm_exit_reason reason);

/* A short name for an exception vector ("#PF", "#GP", ...). */
const char *pkvm_vector_name(unsigned vector);

/* ------------------------------------------------------------------------ */
/* Host functions and guest functions                                        */

/*
 * System-call numbers at and above PKVM_HOSTCALL_BASE are host calls: the
 * guest reaches host function nr with `syscall` and RAX = PKVM_HOSTCALL_BASE
 * + nr, arguments in RDI, RSI, RDX, R10, R8, R9 as for Linux system calls,
 * the result in RAX.  A call costs exactly one VM exit.
 */
#define PKVM_HOSTCALL_BASE	0x10000000U
#define PKVM_HOSTCALL_MAX	256

/*
 * A host function.  It runs on the thread in pkvm_run(), while the guest is
 * stopped (with the Linux personality's threads: while the thread that made
 * the call is the one running, its registers and PKRU the vCPU's); it may read and write guest memory only through the checked copy
 * calls (pkvm_read_guest()...), under the guest's PKRU, and may call
 * pkvm_interrupt() to end the run after it returns.  Its return value is the
 * guest's RAX.
 */
typedef uint64_t (*pkvm_hostcall_fn)(struct pkvm_vm *vm, void *ctx, const uint64_t args[6]);

/*
 * Register @fn as host function @nr (0..PKVM_HOSTCALL_MAX-1), replacing any
 * earlier one; NULL unregisters.  A host call to an unregistered number is
 * returned by pkvm_run() as a PKVM_EXIT_SYSCALL.
 */
int pkvm_hostcall_register(struct pkvm_vm *vm, unsigned nr, pkvm_hostcall_fn fn, void *ctx);

/*
 * Call the guest function at @fn with the System V AMD64 ABI: up to 6 of the
 * @nargs integer arguments in registers, the rest (at most 16 in all) on the
 * stack, on the guest stack below the current RSP (and its 128-byte red
 * zone), returning into a trampoline page libpkvm maps at PKVM_TRAMPOLINE_GVA.
 * The guest's user context is saved first and restored when the function
 * returns.  Runs like pkvm_run(): @exit says PKVM_EXIT_RETURN with the value,
 * or why it stopped before (a fault, a host call it could not serve, the time
 * limit...); pkvm_run() then continues the call, and pkvm_call_abort()
 * abandons it.  Returns 0, -EINVAL (no stack: RSP is 0; too many arguments),
 * -EBUSY (a call is already in progress, or the guest is more than one
 * context: a Linux program with more than one thread), or an error of
 * pkvm_run().  The Linux personality refuses clone() of a thread (EAGAIN)
 * while a call is in progress.
 */
#define PKVM_TRAMPOLINE_GVA	(PKVM_USER_TOP - 0x1000)
int pkvm_call(struct pkvm_vm *vm, uint64_t fn, const uint64_t *args, unsigned nargs,
	      struct pkvm_exit *exit);

/* Abandon the call in progress and restore the context from before it (-ENOENT if none). */
int pkvm_call_abort(struct pkvm_vm *vm);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */

/*
 * Capture the VM as it is now, between runs: guest memory, page tables,
 * mappings, keys, registers, FPU/SSE/AVX state and PKRU.  One snapshot per
 * VM; taking another replaces it.  The Linux personality's state (file
 * descriptors, brk, mappings it tracks) is not captured: snapshot guests that
 * use host functions, or restore only to a point where they made no Linux
 * calls since.  Returns 0, -ENOMEM, -EBUSY (running, in a pkvm_call(), or
 * a Linux program with more than one thread), or a KVM error.
 */
int pkvm_snapshot(struct pkvm_vm *vm);

/*
 * Bring the VM back to its snapshot, in time proportional to the pages
 * written since (KVM's dirty log for the guest's writes, libpkvm's own for
 * the host's), so that each request can run on a clean sandbox.  A call in
 * progress, the time limit and host function registrations are not part of
 * the state.  -ENOENT without a snapshot.
 */
int pkvm_restore(struct pkvm_vm *vm);

/* Release the snapshot's memory (and stop dirty logging). */
void pkvm_snapshot_drop(struct pkvm_vm *vm);

/* ------------------------------------------------------------------------ */
/* Loading a program                                                         */

struct pkvm_program {
	uint64_t entry;			/* where execution starts */
	uint64_t load_start, load_end;	/* the image's lowest and highest address */
	uint64_t brk;			/* the first page after the image: initial brk */
	uint64_t stack_top;		/* the end of the stack mapping */
	uint64_t stack_pointer;		/* RSP at entry: argc, argv, envp, auxv */
	bool pie;			/* ET_DYN image, placed at PKVM_PIE_BASE */
	uint64_t load_bias;		/* added to the image's addresses: PKVM_PIE_BASE or 0 */
	uint64_t reserved[4];		/* zero: room to grow (docs/abi.md) */
};

/* Where static-PIE images are placed, and where the stack ends (as on Linux). */
#define PKVM_PIE_BASE		0x0000555555554000ULL
#define PKVM_STACK_TOP		0x00007ffffffff000ULL

/*
 * Load a static x86-64 ELF64 executable (ET_EXEC, or ET_DYN without an
 * interpreter) from @image, @size bytes of untrusted data: map its PT_LOAD
 * segments with their rights (key 0), map a stack of @stack_size bytes
 * (0: 1 MiB) below PKVM_STACK_TOP holding argc, @argv, @envp (NULL-terminated
 * arrays; either may be NULL) and the auxiliary vector a libc start-up needs
 * (AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_EXECFN,
 * AT_HWCAP (the guest's CPUID.1:EDX), AT_PLATFORM "x86_64", AT_UID/AT_EUID/
 * AT_GID/AT_EGID 1000, AT_SECURE 0, AT_CLKTCK 100; no AT_SYSINFO_EHDR: no
 * vDSO), executable only when PT_GNU_STACK asks for PF_X,
 * and set RIP and RSP.  @prog may be NULL.  Returns 0; -ENOEXEC for a
 * malformed or foreign file, -ELIBBAD for a dynamically linked one,
 * -E2BIG when the arguments do not fit the stack, -ENOMEM, -EEXIST when it
 * overlaps existing mappings.
 */
int pkvm_load_elf(struct pkvm_vm *vm, const void *image, size_t size, const char *const *argv,
		  const char *const *envp, uint64_t stack_size, struct pkvm_program *prog);

/*
 * Find the function, data object or untyped label @name in the symbol table
 * of the ELF64 @image (@size bytes, untrusted: every offset is bounded),
 * .symtab first, then .dynsym, and set *@value to its address in the file,
 * before any load bias: add pkvm_program.load_bias to call it in the guest
 * with pkvm_call().
 * Time is linear in @size (each symbol costs at most strlen(@name) bytes).
 * Returns 0, -ENOENT when there is no such symbol (or the file is stripped),
 * -ENOEXEC for a malformed file (two .symtab or two .dynsym tables included),
 * -EINVAL for bad arguments.
 */
int pkvm_elf_symbol(const void *image, size_t size, const char *name, uint64_t *value);

/* ------------------------------------------------------------------------ */
/* Linux personality                                                         */

/*
 * Serve the guest's Linux system calls in the library instead of returning
 * PKVM_EXIT_SYSCALL for them: an allow-list of x86-64 Linux calls enough for
 * static musl and glibc programs (memory, files by policy, time, identity,
 * random, pkey_*, threads); anything else returns -ENOSYS to the guest.
 * exit_group(), and exit() of the last thread, end the run with
 * PKVM_EXIT_EXIT.
 *
 * Threads: clone() and clone3() with CLONE_VM | CLONE_FS | CLONE_FILES |
 * CLONE_SIGHAND | CLONE_THREAD (what pthread_create() asks; SETTLS,
 * PARENT_SETTID, CHILD_SETTID, CHILD_CLEARTID, SYSVSEM honoured) make a
 * thread; without CLONE_VM they make a process (see max_procs; EAGAIN
 * where it allows one only).  The
 * threads share the VM's one vCPU, M:1: the running thread's registers, FS
 * base, FPU state and PKRU are the vCPU's, the others' wait in the
 * personality, and a switch happens when a thread blocks on a futex,
 * yields, exits, or has run 10 ms while others wait (the run is woken for
 * it, as for a timer).  A new thread starts with its creator's PKRU; each
 * thread's WRPKRU is its own.  futex() WAIT, WAKE, the BITSET variants,
 * REQUEUE and CMP_REQUEUE (private or not, with timeouts) block and wake
 * threads; a blocking call of another kind (a read, a sleep) is made again
 * at each slice's end, so other threads run meanwhile.  When every thread
 * waits on a futex with no timeout and no timer is armed, no thread can
 * ever run again: the run ends with exit.deadlock (status 124) instead of
 * waiting forever.  Signal masks, alternate stacks and tkill()/tgkill()
 * targets are per thread; a signal for the whole process (kill(), timers)
 * goes to the thread running when it comes.  At most 128 threads (EAGAIN).
 *
 * The guest never sees host descriptors: the personality keeps its own fd
 * table.  Guest fds 0, 1 and 2 are the host fds given here (-1: closed);
 * every other file is one the guest opened read-only under @ro_paths, or a
 * pipe or epoll instance it made (pipe(), pipe2(), epoll_create1(): host
 * ones, so pkvm_seccomp_lockdown() allows pipe2 and the epoll calls when
 * the personality is attached; vmsplice() copies).  Every
 * guest pointer is copied through pkvm_read_guest()/pkvm_write_guest() under
 * the guest's PKRU (a key-denied buffer gives EFAULT, as on Linux), and every
 * length is bounded before anything is allocated or copied.
 *
 * Memory: brk starts at @program->brk; mmap() places anonymous private memory
 * top-down below the stack.  All of it is demand-backed (pkvm_map_demand()):
 * reserving costs nothing, up to @max_address_space, and pages take guest
 * memory when first touched; a touch that finds pkvm_config.mem_size used up
 * ends the program with SIGKILL (PKVM_EXIT_EXIT, exit.out_of_memory), and a
 * system call whose buffer needs a page then fails with ENOMEM.  On a backend
 * that enforces keys the guest starts with Linux's PKRU (every key but 0
 * access-disabled) and pkey_alloc()/pkey_free()/pkey_mprotect() work as on
 * a PKU machine; on the none backend pkey_alloc() fails with ENOSPC.  On hw,
 * PROT_EXEC without PROT_READ is execute-only as on Linux: those pages get a
 * key of their own (allocated once, counted by pkey_alloc()) that PKRU
 * denies access to, so reading them is SEGV_PKUERR.  On soft, whose views
 * cannot tell a fetch from a read, they stay readable, as on Linux without
 * PKU, and no key is taken.
 *
 * Signals: the personality keeps the program's handlers, masks, pending
 * signals and alternate stack, and delivers them as Linux x86-64 does, with
 * the kernel's frame (siginfo, ucontext, the XSAVE image with PKRU at the
 * offset CPUID leaf 0xD gives, on soft too): on the way back from a system
 * call, for an exception the program handles (#PF as SIGSEGV with
 * SEGV_MAPERR/ACCERR/PKUERR and si_pkey, #UD SIGILL, #DE/#MF/#XM SIGFPE,
 * #BP/#DB SIGTRAP, #AC SIGBUS, #GP SIGSEGV), when ITIMER_REAL/alarm() fires
 * (the run is woken for it) and for pkvm_linux_kill().  A handler starts with
 * Linux's handler PKRU (0x55555554) where the PKRU policy allows it, and
 * rt_sigreturn takes the frame's PKRU only if the policy lets the guest set
 * it.  An exception the program does not handle ends the run as that
 * PKVM_EXIT_FAULT; a signal whose default action ends the program gives
 * PKVM_EXIT_EXIT with exit.signal set.  A write to a pipe or socket whose
 * reader is gone fails with EPIPE and sends the program SIGPIPE; the host
 * process never gets that SIGPIPE (the calling thread blocks it around such
 * writes and takes it back).  SIGSTOP stops the program: pkvm_run() then
 * runs no guest code, and returns only for pkvm_interrupt(), the time limit
 * (the program stays stopped in the next run) or SIGKILL, until SIGCONT
 * from pkvm_linux_kill() continues it; signals sent meanwhile stay pending.
 * SIGTSTP, SIGTTIN and SIGTTOU do not stop it: its process group is an
 * orphaned one, as Linux treats those.  Real-time signals do not queue.
 */

/*
 * What the trace callback is told after each system call, and when a signal
 * is delivered to a handler: then nr is PKVM_LINUX_TRACE_SIGNAL, name NULL,
 * args[0] the signal number, and line as strace shows it
 * ("--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_PKUERR, si_addr=0x..., si_pkey=1} ---").
 */
#define PKVM_LINUX_TRACE_SIGNAL	(~0ULL)
struct pkvm_linux_trace {
	uint64_t nr;			/* the system-call number */
	const char *name;		/* its name (pkvm_linux_syscall_name()), or NULL */
	uint64_t args[6];
	int64_t result;			/* as returned to the guest: a value or -errno */
	/*
	 * strace-like, flags and constants by name, strings and small structs
	 * shown, no newline: "openat(AT_FDCWD, \"/etc\", O_RDONLY|O_CLOEXEC) =
	 * -1 ENOENT (No such file or directory)"; a call the personality does
	 * not serve ends in " (not served)", one without a name is
	 * "syscall_999(...)".
	 */
	const char *line;
	int pid;			/* the guest process that made it (max_procs) */
	/* Zero; room to grow without breaking binaries (see docs/abi.md). */
	uint64_t reserved[8];
};

/*
 * A tmpfs for the guest: an empty writable tree at guest path @path (absolute)
 * whose files may hold @size bytes together (0: 64 MiB; beyond it ENOSPC).
 * Its host side is a private directory in /dev/shm (else /tmp) that only the
 * sandbox sees, removed when the guest's first process is destroyed.  An
 * array of these ends with a NULL @path.
 */
struct pkvm_linux_tmpfs {
	const char *path;
	uint64_t size;
};

struct pkvm_linux_config {
	int stdin_fd;			/* host fd for guest fd 0, -1: closed */
	int stdout_fd;			/* host fd for guest fd 1, -1: closed */
	int stderr_fd;			/* host fd for guest fd 2, -1: closed */
	/*
	 * Host paths (files or directory trees) the guest may open read-only at
	 * the same path; NULL-terminated, may be NULL.  Resolved when attaching
	 * (each must exist: -ENOENT otherwise).  Inside them neither ".." above
	 * the allowed path nor any symbolic link is followed.  Other paths give
	 * ENOENT, opening for writing EACCES.  A path on /proc, /sys or /dev,
	 * one on a kernel file system (procfs, sysfs, devpts, debugfs, cgroup,
	 * ...) or a device, FIFO or socket is refused (-EPERM when attaching);
	 * below a root, such a file or directory gives EACCES, whatever the
	 * host's permissions, and every component of a path is checked, so
	 * that a root of "/" does not lead into /proc/self/mem.
	 */
	const char *const *ro_paths;
	/*
	 * The protection keys the guest may allocate with pkey_alloc() (bit k
	 * for key k, 1..15); 0: every key not allocated when attaching.  The
	 * guest never obtains, frees or assigns a key outside this set or one
	 * the host holds: allocate the keys that protect your own data before
	 * attaching, or leave them out of this mask, and the guest cannot take
	 * them from you.
	 */
	uint16_t guest_pkeys;
	/* The loaded program (brk, stack): required for brk and mmap. */
	const struct pkvm_program *program;
	/* Called after every system call, for strace-like output; may be NULL. */
	void (*trace)(void *ctx, const struct pkvm_linux_trace *call);
	void *trace_ctx;
	/*
	 * Like ro_paths, but these roots may be, or contain, kernel file
	 * systems and devices (e.g. "/proc/cpuinfo", "/dev/urandom"): the
	 * explicit exception to the rule above; NULL-terminated, may be NULL.
	 * The most specific root containing a path decides.  Mind that the
	 * host's /proc/self is the embedding process itself.
	 */
	const char *const *ro_special_paths;
	/*
	 * The guest's RLIMIT_NOFILE (getrlimit reports it): its descriptors
	 * are numbered below it and the host fds its open files hold never
	 * exceed it (beyond it: EMFILE), so that one sandbox cannot take the
	 * fds of an embedder that runs many.  0: 256, a quarter of the usual
	 * host soft limit of 1024, which leaves the embedder room for itself
	 * and a few sandboxes; at most 1024, at least 3 (else -EINVAL).
	 */
	unsigned max_fds;
	/*
	 * The address space the guest may reserve with mmap(), brk() and
	 * mremap(), in bytes (beyond it: ENOMEM); 0: 512 GiB.  Its memory is
	 * demand-backed (pkvm_map_demand()): a reservation costs no frames
	 * until touched, so runtimes that reserve large ranges up front (Go,
	 * Java) work in a small pkvm_config.mem_size.  As Linux's heuristic
	 * overcommit does, one private writable mapping larger than all of
	 * guest memory is refused (ENOMEM) unless MAP_NORESERVE.
	 */
	uint64_t max_address_space;
	/*
	 * The most processes the guest may have at once, itself included
	 * (beyond it fork() says EAGAIN); 0 or 1: one, and fork(), vfork() and
	 * clone() of a process fail with EAGAIN.  At most 4096.  With more,
	 * a guest's fork() forks the embedding process: the child process
	 * runs the guest's child (a new VM over a copy-on-write image of the
	 * guest, pkvm_config.mem_size and the time limit shared by all the
	 * guest's processes) and exits when it ends, never returning into the
	 * embedder's code; only the first process's pkvm_run() returns, and
	 * when it reports the end of the program the other processes end too,
	 * as in a PID namespace.  Attaching then opens one eventfd per process
	 * and keeps /dev/kvm open; pkvm_seccomp_lockdown() allows fork() and
	 * making VMs.  Inside a pkvm_call() fork() says EAGAIN, and with a
	 * snapshot taken it fails (EAGAIN) too: a child could not restore it.
	 * Host functions (pkvm_hostcall_register()) a child's guest calls run
	 * in the child process, on its copy of your memory: what they change
	 * stays there, as after any fork(2); talk to the parent through
	 * descriptors or shared memory made before attaching.  The trace
	 * callback runs in whichever process made the call (trace.pid says which).
	 */
	unsigned max_procs;
	/*
	 * The guest's working directory at the start, an absolute guest path
	 * inside ro_paths (NULL: "/"); attaching fails with -ENOENT or
	 * -ENOTDIR if it is not an allowed directory, -EINVAL if relative.
	 */
	const char *cwd;
	/*
	 * Host directory trees the guest may change: create, write, truncate,
	 * rename, link, unlink, mkdir and rmdir beneath each, at the same path,
	 * under the rules of ro_paths (no symbolic link followed or made, never
	 * above the root, no kernel file system); NULL-terminated, may be NULL.
	 * Each must be an existing directory (-ENOTDIR otherwise).
	 */
	const char *const *rw_paths;
	/* In-memory writable trees (see struct pkvm_linux_tmpfs); may be NULL. */
	const struct pkvm_linux_tmpfs *tmpfs;
	uint64_t reserved[8];		/* must be zero: room to grow (docs/abi.md) */
};

/*
 * Attach the personality to @vm (replacing one attached before).  Returns 0;
 * -EINVAL for a bad @config, -ENOENT / -EACCES / -ENAMETOOLONG for an
 * @ro_paths entry that cannot be resolved, -ENOMEM.
 */
int pkvm_linux_attach(struct pkvm_vm *vm, const struct pkvm_linux_config *config);

#define PKVM_LINUX_NR_MAX	512	/* system-call numbers counted one by one */

/*
 * What the personality has served since it was attached, as strace -c
 * counts it.  A call's time is the host's wall-clock time serving it, a
 * blocking call's wait included.
 */
struct pkvm_linux_stats {
	uint64_t calls;			/* every system call, served or not */
	uint64_t unknown;		/* of which answered -ENOSYS for want of a handler */
	uint64_t host_ns;		/* wall-clock time spent serving them */
	uint64_t by_nr[PKVM_LINUX_NR_MAX];	/* calls per number (>= NR_MAX: only in calls) */
	uint64_t ns_by_nr[PKVM_LINUX_NR_MAX];	/* their time per number, in nanoseconds */
	uint64_t errors_by_nr[PKVM_LINUX_NR_MAX];	/* of them, those that returned -errno */
	/* Bit (nr % 64) of word (nr / 64): nr was answered -ENOSYS for want of a handler. */
	uint64_t not_served[PKVM_LINUX_NR_MAX / 64];
	/* Zero; room to grow without breaking binaries (see docs/abi.md). */
	uint64_t reserved[8];
};

/*
 * Copy the counters into @stats (all of it written, reserved fields zero);
 * -EINVAL if no personality is attached.
 */
int pkvm_linux_get_stats(struct pkvm_vm *vm, struct pkvm_linux_stats *stats);

/*
 * The kernel's name of x86-64 Linux system call @nr ("read", "io_uring_setup"),
 * whether the personality serves it or not, taken from the kernel's syscall
 * table when libpkvm was built; NULL for a number no call has (999).
 */
const char *pkvm_linux_syscall_name(uint64_t nr);

/*
 * Send signal @sig (1..64) to the program, as kill() from another process
 * would (si_code SI_USER, si_pid 0): it is delivered to its handler, or takes
 * its default action (ending the program: PKVM_EXIT_EXIT with exit.signal),
 * as soon as the guest runs, within the run now in progress if any (a guest
 * spinning in its own code is stopped for it, and a blocking call it is in
 * ends with EINTR or restarts, as on Linux).  SIGKILL always ends it.  Safe
 * from any thread while the VM runs (not from a signal handler); not while
 * the personality is being attached.  With processes (max_procs), every
 * process of the first one's process group gets it, as a terminal's signal
 * reaches its foreground group (a shell's Ctrl-C ends the command it runs).
 * Returns 0, or -EINVAL for a bad @sig or a VM without the personality.
 */
int pkvm_linux_kill(struct pkvm_vm *vm, int sig);

/* ------------------------------------------------------------------------ */
/* Host lockdown                                                             */

/*
 * Confine the calling process with a seccomp filter (libseccomp; all its
 * threads, and no_new_privs): from now on it may make only the system calls
 * that running @vm and its Linux personality need: KVM_RUN and the vCPU
 * state ioctls on @vm's own descriptors, terminal queries on the
 * personality's three streams, reads and writes, opens that are read-only,
 * O_NOFOLLOW and relative to a descriptor (never an absolute path nor
 * openat2), clocks, sleeps and waits, the time-limit timer, signals to this
 * process only, memory management without PROT_EXEC, and exit.  Any other
 * call kills the process with SIGSYS (@flags 0), or fails with EPERM
 * (@flags PKVM_LOCKDOWN_ERRNO).  Call it after the VM is built, the program
 * loaded and the personality attached; it cannot be undone.  Not narrowed,
 * because seccomp sees registers and not memory nor later descriptors:
 * reads and writes on any descriptor the process holds, the path an open
 * names, and the memory-region struct of KVM_SET_USER_MEMORY_REGION (this
 * VM's fd only).  Returns 0 or a negative errno.
 */
#define PKVM_LOCKDOWN_ERRNO	0x1
int pkvm_seccomp_lockdown(struct pkvm_vm *vm, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* LIBPKVM_H */
