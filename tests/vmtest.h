/*
 * vmtest.h: run guest functions written in C beside their assertions, as the
 * kernel's KVM selftests do.  A function marked GUEST_CODE is placed in the
 * section "pkvm_guest_text"; the whole section is copied into the guest at
 * VMTEST_CODE_GVA and the function is entered at CPL3 with up to three
 * arguments.  Guest code may call only other GUEST_CODE functions and the
 * always-inline helpers below, and must not touch host globals or string
 * literals (they stay in the host).
 */
#ifndef PKVM_VMTEST_H
#define PKVM_VMTEST_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "libpkvm.h"

#define GUEST_CODE __attribute__((section("pkvm_guest_text"), noinline, used, \
				  no_stack_protector, no_sanitize("address", "undefined")))

#define VMTEST_CODE_GVA		0x400000ULL
#define VMTEST_STACK_GVA	0x7ff00000ULL
#define VMTEST_STACK_SIZE	0x10000ULL
#define VMTEST_DATA_GVA		0x10000000ULL	/* tests map their regions from here */

/* The guest's side of the "ucall" protocol: system calls the host test reads. */
#define VMTEST_NR_SYNC		0x1000
#define VMTEST_NR_DONE		0x1001

static inline __attribute__((always_inline)) uint64_t
guest_syscall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	uint64_t ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
			 : "rcx", "r11", "memory");
	return ret;
}

#define GUEST_SYNC(v)		guest_syscall(VMTEST_NR_SYNC, (uint64_t)(v), 0, 0)
#define GUEST_DONE()		do { guest_syscall(VMTEST_NR_DONE, 0, 0, 0); } while (1)

static inline __attribute__((always_inline)) uint32_t guest_rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static inline __attribute__((always_inline)) void guest_wrpkru(uint32_t pkru)
{
	__asm__ volatile(".byte 0x0f, 0x01, 0xef" :: "a"(pkru), "c"(0), "d"(0) : "memory");
}

struct vmtest {
	struct pkvm_vm *vm;
	struct pkvm_exit exit;
	enum pkvm_pkeys_backend backend;
	uint64_t code_size;	/* bytes mapped at VMTEST_CODE_GVA */
};

/* The backends this host offers, for tcase_add_loop_test(): index -> backend. */
#define VMTEST_MAX_VARIANTS	5	/* hw, soft, none and two more softs */
extern enum pkvm_pkeys_backend vmtest_backends[VMTEST_MAX_VARIANTS];
extern uint64_t vmtest_flags[VMTEST_MAX_VARIANTS];	/* pkvm_config.flags per index */
extern int vmtest_nbackends;
/* Fills vmtest_backends; exits 77 when /dev/kvm is absent. */
void vmtest_probe_backends(void);
/*
 * Where soft is under test, add it once more with PKVM_CONFIG_SOFT_PKRU_EXITS,
 * so that a suite runs with guest RDPKRU/WRPKRU served by the stub (soft)
 * and by the host (soft-exits).
 */
void vmtest_add_soft_exits(void);
/*
 * Where soft is under test and KVM offers PCIDs, add it once more with
 * PKVM_CONFIG_SOFT_NO_PCID: its views then switch with TLB flushes.
 */
void vmtest_add_soft_no_pcid(void);
/* "hw", "soft", "none", "soft-exits" or "soft-nopcid". */
const char *vmtest_label(int backend_index);
bool vmtest_backend_enforces(enum pkvm_pkeys_backend backend);

void vmtest_create(struct vmtest *t, int backend_index);
void vmtest_destroy(struct vmtest *t);
/* Map @len zeroed bytes at @gva; returns @gva. */
uint64_t vmtest_map(struct vmtest *t, uint64_t gva, uint64_t len, int prot, int pkey);
/* Enter @fn (a GUEST_CODE function) with arguments at the next run. */
void vmtest_start(struct vmtest *t, void *fn, uint64_t a0, uint64_t a1, uint64_t a2);
/* The guest address of a GUEST_CODE function or label. */
uint64_t vmtest_guest_addr(const void *fn);

struct pkvm_exit *vmtest_run(struct vmtest *t);
/*
 * A thread that calls pkvm_interrupt() on @vm at random moments, every
 * @min_ns + (0..@spread_ns) ns, until stopped: kicks land in the guest, in
 * the stub and in the host alike.  vmtest_kicker_stop() returns the count.
 */
struct vmtest_kicker {
	struct pkvm_vm *vm;
	pthread_t thread;
	atomic_bool stop;
	unsigned seed;
	long min_ns, spread_ns;
	unsigned long kicks;
};
void vmtest_kicker_start(struct vmtest_kicker *k, struct pkvm_vm *vm, unsigned seed,
			 long min_ns, long spread_ns);
unsigned long vmtest_kicker_stop(struct vmtest_kicker *k);

/* Run @tc as suite @name and return main()'s exit status: 1 if any test failed. */
int vmtest_run_tcase(const char *name, TCase *tc, enum print_output mode);

/* A one-line account of an exit, for failure messages (a static buffer). */
const char *vmtest_describe(const struct pkvm_exit *e);
/* Run; the guest must reach GUEST_SYNC(value).  Resumes it with @ret in RAX next time. */
void vmtest_expect_sync(struct vmtest *t, uint64_t value);
void vmtest_expect_done(struct vmtest *t);
void vmtest_expect_reason(struct vmtest *t, enum pkvm_exit_reason reason);
void vmtest_expect_fault(struct vmtest *t, unsigned vector);
/* Run; the guest must page-fault at @addr with exactly @pfec, on a page with @pkey. */
void vmtest_expect_pf(struct vmtest *t, uint64_t addr, uint32_t pfec, int pkey);

/* How many descriptors the process has open (leak checks). */
int vmtest_open_fds(void);

#endif
