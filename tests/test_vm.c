/* test_vm.c: scenarios on a real KVM: guest code in C beside what the host must see. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

#define RW	(PKVM_PROT_READ | PKVM_PROT_WRITE)
#define RO	PKVM_PROT_READ
#define PF_U	PKVM_PFEC_U
#define PF_W	PKVM_PFEC_W
#define PF_P	PKVM_PFEC_P
#define PF_I	PKVM_PFEC_I
#define PF_PK	PKVM_PFEC_PK

/* ---- guest code ---------------------------------------------------------- */

GUEST_CODE static void guest_store_then_load(volatile uint64_t *p, uint64_t v)
{
	p[0] = v * 2;
	GUEST_SYNC(p[0]);
	GUEST_SYNC(p[1]);	/* the host wrote it meanwhile */
	GUEST_DONE();
}

GUEST_CODE static void guest_syscall_echo(void)
{
	uint64_t r = guest_syscall(0x1234, 11, 22, 33);

	GUEST_SYNC(r + 1);
	GUEST_DONE();
}

GUEST_CODE static void guest_write(volatile uint64_t *p, uint64_t v)
{
	*p = v;
	GUEST_SYNC(*p);
	GUEST_DONE();
}

GUEST_CODE static void guest_read(volatile uint64_t *p)
{
	GUEST_SYNC(*p);
	GUEST_DONE();
}

/* Reads, then reads again after the host had its say at the SYNC. */
GUEST_CODE static void guest_read_twice(volatile uint64_t *p)
{
	GUEST_SYNC(*p);
	GUEST_SYNC(*p);
	GUEST_DONE();
}

GUEST_CODE static void guest_call(void (*fn)(void))
{
	fn();
	GUEST_DONE();
}

GUEST_CODE static void guest_ud2(void)
{
	__asm__ volatile("ud2");
	GUEST_DONE();
}

GUEST_CODE static void guest_divide(volatile uint64_t divisor)
{
	GUEST_SYNC(100 / divisor);
	GUEST_DONE();
}

GUEST_CODE static void guest_int3(void)
{
	__asm__ volatile("int3");
	GUEST_SYNC(3);
	GUEST_DONE();
}

GUEST_CODE static void guest_hlt(void)
{
	__asm__ volatile("hlt");	/* privileged: #GP(0) at CPL3 */
	GUEST_DONE();
}

/*
 * Far-jump into selector 0x23, Linux's 32-bit user code: with such a segment
 * the guest could run `syscall` in compatibility mode, which enters CPL0
 * through MSR_CSTAR, not the stub's 64-bit entry.  (m16:32, the far pointer
 * form that both AMD and Intel take in 64-bit mode.)
 */
GUEST_CODE static void guest_enter_compat_mode(void)
{
	volatile uint32_t target[2];

	__asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
			 "movl %%eax, (%0)\n\t"
			 "movl $0x23, 4(%0)\n\t"
			 "ljmpl *(%0)\n\t"
			 "1: syscall\n\t"
			 "ud2" :: "r"(target) : "rax", "rcx", "r11", "memory");
	GUEST_DONE();
}

GUEST_CODE static void guest_spin(void)
{
	for (;;)
		__asm__ volatile("" ::: "memory");
}

/* Long enough to be stopped many times; the result shows nothing was lost. */
GUEST_CODE static void guest_sum(volatile uint64_t *acc, uint64_t n)
{
	uint64_t r12 = 0x1212;

	for (uint64_t i = 1; i <= n; i++)
		*acc += i;
	__asm__ volatile("" : "+r"(r12));
	GUEST_SYNC(*acc + (r12 != 0x1212));
	GUEST_DONE();
}

GUEST_CODE static void guest_rdpkru_then_wrpkru(uint64_t new_pkru, volatile uint64_t *p)
{
	GUEST_SYNC(guest_rdpkru());
	guest_wrpkru((uint32_t)new_pkru);
	GUEST_SYNC(guest_rdpkru());
	GUEST_SYNC(*p);
	GUEST_DONE();
}

/* Sets PKRU itself, then runs until the host stops it. */
GUEST_CODE static void guest_wrpkru_then_spin(uint64_t pkru)
{
	guest_wrpkru((uint32_t)pkru);
	for (;;)
		__asm__ volatile("" ::: "memory");
}

/* WRPKRU with ECX != 0 is #GP(0) (SDM vol. 2B), on every backend that has it. */
GUEST_CODE static void guest_bad_wrpkru(void)
{
	__asm__ volatile(".byte 0x0f, 0x01, 0xef" :: "a"(0), "c"(1), "d"(0) : "memory");
	GUEST_DONE();
}

/* What CPUID leaf 7 says about protection keys (ECX bits 3 PKU, 4 OSPKE), and leaf 0's EAX. */
GUEST_CODE static void guest_cpuid_pkeys(void)
{
	uint32_t a = 7, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	GUEST_SYNC(c & 0x18);
	a = 0;
	c = 0;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	GUEST_SYNC(a >= 7);
	GUEST_DONE();
}

/* Reads one of its own code bytes: a data access to an executable page. */
GUEST_CODE static void guest_read_own_code(void)
{
	GUEST_SYNC(*(volatile uint8_t *)guest_read_own_code != 0);
	GUEST_DONE();
}

/* ---- host side ------------------------------------------------------------ */

static struct vmtest t;

static void setup(void) { }
static void teardown(void) { if (t.vm) vmtest_destroy(&t); }

static bool enforcing(void)
{
	if (vmtest_backend_enforces(t.backend))
		return true;
	printf("  (%s backend enforces no keys: key scenario not applicable)\n",
	       pkvm_pkeys_backend_name(t.backend));
	return false;
}

START_TEST(test_store_load_and_host_copies)
{
	uint64_t p = VMTEST_DATA_GVA, v;

	vmtest_create(&t, _i);
	vmtest_map(&t, p, 4096, RW, 0);
	vmtest_start(&t, guest_store_then_load, p, 21, 0);
	vmtest_expect_sync(&t, 42);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p, 8), 0);
	ck_assert_uint_eq(v, 42);
	v = 0xfeedface;
	ck_assert_int_eq(pkvm_write_guest(t.vm, p + 8, &v, 8), 0);
	vmtest_expect_sync(&t, 0xfeedface);
	vmtest_expect_done(&t);
}
END_TEST

START_TEST(test_syscall_arguments_and_result)
{
	struct pkvm_regs regs;
	struct pkvm_exit *e;

	vmtest_create(&t, _i);
	vmtest_start(&t, guest_syscall_echo, 0, 0, 0);
	e = vmtest_run(&t);
	ck_assert_int_eq(e->reason, PKVM_EXIT_SYSCALL);
	ck_assert_uint_eq(e->syscall.nr, 0x1234);
	ck_assert_uint_eq(e->syscall.args[0], 11);
	ck_assert_uint_eq(e->syscall.args[1], 22);
	ck_assert_uint_eq(e->syscall.args[2], 33);
	ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
	/* Linux ABI: RIP past the SYSCALL, RCX = RIP, R11 = RFLAGS. */
	ck_assert_uint_eq(regs.rcx, regs.rip);
	ck_assert_uint_eq(regs.r11, regs.rflags);
	ck_assert(regs.rip > VMTEST_CODE_GVA && regs.rip < VMTEST_CODE_GVA + 0x10000);
	ck_assert_int_eq(pkvm_syscall_return(t.vm, 99), 0);
	vmtest_expect_sync(&t, 100);
	vmtest_expect_done(&t);
}
END_TEST

START_TEST(test_readonly_write_faults_then_retries)
{
	uint64_t p = VMTEST_DATA_GVA;

	vmtest_create(&t, _i);
	vmtest_map(&t, p, 4096, RO, 0);
	vmtest_start(&t, guest_write, p, 7, 0);
	vmtest_expect_pf(&t, p, PF_P | PF_W | PF_U, 0);
	ck_assert(t.exit.fault.rip >= VMTEST_CODE_GVA);
	/* The host fixes the rights; running again retries the faulting store. */
	ck_assert_int_eq(pkvm_protect(t.vm, p, 4096, RW), 0);
	vmtest_expect_sync(&t, 7);
	vmtest_expect_done(&t);
}
END_TEST

START_TEST(test_unmapped_read_faults_not_present)
{
	vmtest_create(&t, _i);
	vmtest_start(&t, guest_read, VMTEST_DATA_GVA + 0x123, 0, 0);
	vmtest_expect_pf(&t, VMTEST_DATA_GVA + 0x123, PF_U, -1);
}
END_TEST

START_TEST(test_unmap_is_seen_by_a_running_guest)
{
	uint64_t p = VMTEST_DATA_GVA;

	vmtest_create(&t, _i);
	vmtest_map(&t, p, 4096, RW, 0);
	vmtest_start(&t, guest_read_twice, p, 0, 0);
	vmtest_expect_sync(&t, 0);	/* the translation is now in the guest TLB */
	ck_assert_int_eq(pkvm_unmap(t.vm, p, 4096), 0);
	vmtest_expect_pf(&t, p, PF_U, -1);
}
END_TEST

START_TEST(test_protect_is_seen_by_a_running_guest)
{
	uint64_t p = VMTEST_DATA_GVA;

	vmtest_create(&t, _i);
	vmtest_map(&t, p, 4096, RW, 0);
	vmtest_start(&t, guest_store_then_load, p, 1, 0);
	vmtest_expect_sync(&t, 2);	/* a writable translation is cached */
	ck_assert_int_eq(pkvm_protect(t.vm, p, 4096, RO), 0);
	ck_assert_int_eq(pkvm_unmap(t.vm, p, 4096), 0);
	vmtest_map(&t, p, 4096, RO, 0);
	vmtest_expect_sync(&t, 0);	/* fresh zeroed page */
	vmtest_expect_done(&t);
}
END_TEST

START_TEST(test_fetch_from_data_page_faults)
{
	uint64_t p = VMTEST_DATA_GVA;

	vmtest_create(&t, _i);
	vmtest_map(&t, p, 4096, RW, 0);
	vmtest_start(&t, guest_call, p, 0, 0);
	vmtest_expect_pf(&t, p, PF_P | PF_U | PF_I, 0);
}
END_TEST

START_TEST(test_supervisor_pages_are_out_of_reach)
{
	uint64_t idt = 0xffffffff80002000ULL;

	vmtest_create(&t, _i);
	vmtest_start(&t, guest_read, idt, 0, 0);
	vmtest_expect_pf(&t, idt, PF_P | PF_U, 0);
}
END_TEST

/* No compatibility-mode code segment: the far return faults at CPL3, #GP(0x20). */
START_TEST(test_no_compatibility_mode)
{
	vmtest_create(&t, _i);
	vmtest_start(&t, guest_enter_compat_mode, 0, 0, 0);
	vmtest_expect_fault(&t, PKVM_VEC_GP);
	ck_assert_uint_eq(t.exit.fault.error_code, 0x20);
}
END_TEST

START_TEST(test_exceptions_are_reported)
{
	vmtest_create(&t, _i);
	vmtest_start(&t, guest_ud2, 0, 0, 0);
	vmtest_expect_fault(&t, PKVM_VEC_UD);
	ck_assert_uint_eq(t.exit.fault.rip, vmtest_guest_addr(guest_ud2) +
			  (*(uint8_t *)guest_ud2 == 0xf3 ? 4 : 0));	/* after ENDBR64 */

	vmtest_start(&t, guest_divide, 0, 0, 0);
	vmtest_expect_fault(&t, PKVM_VEC_DE);

	vmtest_start(&t, guest_int3, 0, 0, 0);
	vmtest_expect_fault(&t, PKVM_VEC_BP);
	vmtest_expect_sync(&t, 3);	/* #BP is a trap: RIP is past INT3 */

	vmtest_start(&t, guest_hlt, 0, 0, 0);
	vmtest_expect_fault(&t, PKVM_VEC_GP);
	ck_assert(t.exit.fault.has_error_code);
	ck_assert_uint_eq(t.exit.fault.error_code, 0);

	vmtest_start(&t, guest_divide, 5, 0, 0);
	vmtest_expect_sync(&t, 20);
}
END_TEST

START_TEST(test_key_access_disable)
{
	uint64_t p = VMTEST_DATA_GVA;
	int key;

	vmtest_create(&t, _i);
	if (!enforcing())
		return;
	key = pkvm_pkey_alloc(t.vm);
	ck_assert_int_gt(key, 0);
	vmtest_map(&t, p, 4096, RW, key);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	vmtest_start(&t, guest_read, p + 16, 0, 0);
	vmtest_expect_pf(&t, p + 16, PF_P | PF_U | PF_PK, key);
	ck_assert_uint_eq(t.exit.fault.pkru, PKVM_PKRU_AD(key));
	/* The host grants the key and the same read goes through. */
	ck_assert_int_eq(pkvm_set_pkru(t.vm, 0), 0);
	vmtest_expect_sync(&t, 0);
}
END_TEST

START_TEST(test_key_write_disable)
{
	uint64_t p = VMTEST_DATA_GVA;
	int key;

	vmtest_create(&t, _i);
	if (!enforcing())
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, p, 4096, RW, key);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_DENY_ALL & ~pkvm_pkru_allow(key, PKVM_PKEY_READ)), 0);
	vmtest_start(&t, guest_read, p, 0, 0);
	vmtest_expect_sync(&t, 0);	/* reading is allowed */
	vmtest_start(&t, guest_write, p, 5, 0);
	vmtest_expect_pf(&t, p, PF_P | PF_W | PF_U | PF_PK, key);
}
END_TEST

START_TEST(test_key_and_page_rights_together)
{
	uint64_t p = VMTEST_DATA_GVA;
	int key;

	vmtest_create(&t, _i);
	if (!enforcing())
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, p, 4096, RO, key);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_WD(key)), 0);
	vmtest_start(&t, guest_write, p, 5, 0);
	/* docs/protection-keys.md: PK is reported whether or not R/W also denied the write. */
	vmtest_expect_pf(&t, p, PF_P | PF_W | PF_U | PF_PK, key);
}
END_TEST

START_TEST(test_key_on_2mib_page_and_pkey_change)
{
	uint64_t p = 0x40000000ULL;	/* 2 MiB aligned: mapped with a large page */
	int key;

	vmtest_create(&t, _i);
	if (!enforcing())
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, p, 2 << 20, RW, key);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	vmtest_start(&t, guest_read, p + 0x12345, 0, 0);
	vmtest_expect_pf(&t, p + 0x12345, PF_P | PF_U | PF_PK, key);
	/* Move one 4 KiB page of it to key 0: that page becomes readable. */
	ck_assert_int_eq(pkvm_set_pkey(t.vm, p + 0x12000, 4096, 0), 0);
	vmtest_expect_sync(&t, 0);
	vmtest_start(&t, guest_read, p + 0x13000, 0, 0);
	vmtest_expect_pf(&t, p + 0x13000, PF_P | PF_U | PF_PK, key);
}
END_TEST

START_TEST(test_guest_rdpkru_wrpkru)
{
	uint64_t p = VMTEST_DATA_GVA;
	uint32_t pkru;
	int key;

	vmtest_create(&t, _i);
	if (t.backend == PKVM_PKEYS_NONE) {
		/* No PKU in the guest's CPUID and CR4.PKE=0: RDPKRU is #UD, as on such a CPU. */
		vmtest_map(&t, p, 4096, RW, 0);
		vmtest_start(&t, guest_rdpkru_then_wrpkru, 0, p, 0);
		vmtest_expect_fault(&t, PKVM_VEC_UD);
		return;
	}
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, p, 4096, RW, key);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_WD(key)), 0);
	vmtest_start(&t, guest_rdpkru_then_wrpkru, PKVM_PKRU_AD(key), p, 0);
	vmtest_expect_sync(&t, PKVM_PKRU_WD(key));	/* the host's value reached the guest */
	vmtest_expect_sync(&t, PKVM_PKRU_AD(key));
	ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
	ck_assert_uint_eq(pkru, PKVM_PKRU_AD(key));	/* and the guest's value the host */
	vmtest_expect_pf(&t, p, PF_P | PF_U | PF_PK, key);
}
END_TEST

START_TEST(test_execute_only_code)
{
	int key;

	vmtest_create(&t, _i);
	if (!enforcing())
		return;
	key = pkvm_pkey_alloc(t.vm);
	/* Keys never apply to fetches: code under an AD key still runs (SDM §4.6.2). */
	ck_assert_int_eq(pkvm_set_pkey(t.vm, VMTEST_CODE_GVA, 0x1000, key), 0);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	vmtest_start(&t, guest_read_own_code, 0, 0, 0);
	if (vmtest_guest_addr(guest_read_own_code) >= VMTEST_CODE_GVA + 0x1000)
		return;	/* the function is not on the keyed page: nothing to see */
	if (t.backend == PKVM_PKEYS_SOFT) {
		/* The documented difference: no execute-only pages without PKU. */
		vmtest_expect_pf(&t, vmtest_guest_addr(guest_read_own_code), PF_P | PF_U | PF_I, key);
		return;
	}
	vmtest_expect_pf(&t, vmtest_guest_addr(guest_read_own_code), PF_P | PF_U | PF_PK, key);
}
END_TEST

START_TEST(test_host_copies_honor_pkru)
{
	uint64_t p = VMTEST_DATA_GVA, v = 1;
	int key;

	vmtest_create(&t, _i);
	if (!enforcing())
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, p, 8192, RW, key);
	ck_assert_int_eq(pkvm_write_guest(t.vm, p + 4000, &v, 8), 0);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_WD(key)), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + 4000, 8), 0);
	ck_assert_int_eq(pkvm_write_guest(t.vm, p + 4000, &v, 8), -EFAULT);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + 4000, 8), -EFAULT);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key + 1)), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + 4000, 8), 0);
	/* Kernel addresses are never user buffers. */
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, 0xffffffff80002000ULL, 8), -EFAULT);
}
END_TEST

START_TEST(test_host_copies_check_rights)
{
	uint64_t p = VMTEST_DATA_GVA, v = 1;
	char s[16];

	vmtest_create(&t, _i);
	vmtest_map(&t, p, 4096, RO, 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p, 8), 0);
	ck_assert_int_eq(pkvm_write_guest(t.vm, p, &v, 8), -EFAULT);	/* CR0.WP=1 */
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + 4092, 8), -EFAULT);	/* crosses a hole */
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, 0xffffffffffff0000ULL, 8), -EFAULT);
	ck_assert_int_eq(pkvm_read_guest_string(t.vm, s, p, sizeof(s)), 0);
	ck_assert_int_eq(pkvm_read_guest_string(t.vm, s, p + 4090, sizeof(s)), 0);
	/* No access at all (PROT_NONE): neither the guest nor host copies may touch it. */
	ck_assert_int_eq(pkvm_protect(t.vm, p, 4096, 0), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p, 8), -EFAULT);
	vmtest_start(&t, guest_read, p, 0, 0);
	vmtest_expect_pf(&t, p, PF_P | PF_U, 0);
	ck_assert_int_eq(pkvm_protect(t.vm, p, 4096, RO), 0);
	vmtest_expect_sync(&t, 0);
}
END_TEST

START_TEST(test_time_limit)
{
	uint64_t start, elapsed;
	struct timespec ts;

	vmtest_create(&t, _i);
	vmtest_start(&t, guest_spin, 0, 0, 0);
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 50 * 1000 * 1000), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	vmtest_expect_reason(&t, PKVM_EXIT_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	elapsed = ts.tv_sec * 1000000000ULL + ts.tv_nsec - start;
	ck_assert_uint_ge(elapsed, 50 * 1000 * 1000);
	ck_assert_uint_lt(elapsed, 5ULL * 1000 * 1000 * 1000);
	/* Still past the limit: the next run stops at once; a new limit gives more time. */
	vmtest_expect_reason(&t, PKVM_EXIT_TIMEOUT);
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 10 * 1000 * 1000), 0);
	vmtest_expect_reason(&t, PKVM_EXIT_TIMEOUT);
}
END_TEST

START_TEST(test_stopped_guest_resumes_where_it_was)
{
	const uint64_t n = 1000000;
	struct pkvm_regs regs;
	int stops = 0;

	vmtest_create(&t, _i);
	vmtest_map(&t, VMTEST_DATA_GVA, 4096, RW, 0);
	vmtest_start(&t, guest_sum, VMTEST_DATA_GVA, n, 0);
	for (;;) {
		ck_assert_int_eq(pkvm_set_time_limit(t.vm, 500 * 1000), 0);
		if (vmtest_run(&t)->reason != PKVM_EXIT_TIMEOUT)
			break;
		/* Stopped at CPL3 or in the stub: either way the context is the user's. */
		ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
		ck_assert(regs.rip >= VMTEST_CODE_GVA && regs.rip < VMTEST_CODE_GVA + 0x10000);
		stops++;
	}
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 0), 0);
	ck_assert_msg(t.exit.reason == PKVM_EXIT_SYSCALL && t.exit.syscall.args[0] == n * (n + 1) / 2,
		      "wrong sum after %d stops", stops);
	printf("  guest_sum: stopped and resumed %d times\n", stops);
}
END_TEST

START_TEST(test_cpuid_shows_pkeys_as_the_backend_provides)
{
	vmtest_create(&t, _i);
	vmtest_start(&t, guest_cpuid_pkeys, 0, 0, 0);
	/* hw and soft alike: PKU, and OSPKE since keys are enabled; none: neither. */
	vmtest_expect_sync(&t, t.backend == PKVM_PKEYS_NONE ? 0 : 0x18);
	vmtest_expect_sync(&t, 1);
	vmtest_expect_done(&t);
}
END_TEST

START_TEST(test_pkru_seen_after_a_timeout)
{
	uint32_t pkru;

	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(t.backend))
		return;
	vmtest_start(&t, guest_wrpkru_then_spin, PKVM_PKRU_AD(7), 0, 0);
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 20 * 1000 * 1000), 0);
	vmtest_expect_reason(&t, PKVM_EXIT_TIMEOUT);
	/* The guest's WRPKRU happened before the stop: the host must see its value. */
	ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
	ck_assert_uint_eq(pkru, PKVM_PKRU_AD(7));
}
END_TEST

START_TEST(test_wrpkru_checks_ecx)
{
	vmtest_create(&t, _i);
	vmtest_start(&t, guest_bad_wrpkru, 0, 0, 0);
	/* Without PKU in the guest it is #UD (as on such a CPU). */
	vmtest_expect_fault(&t, t.backend == PKVM_PKEYS_NONE ? PKVM_VEC_UD : PKVM_VEC_GP);
}
END_TEST

START_TEST(test_pkru_lock_policy)
{
	uint64_t p = VMTEST_DATA_GVA;
	uint32_t allowed[1];
	int key;

	vmtest_create(&t, _i);
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, p, 4096, RW, key);
	if (t.backend == PKVM_PKEYS_SOFT) {
		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_LOCKED, NULL, 0), 0);
		vmtest_start(&t, guest_rdpkru_then_wrpkru, PKVM_PKRU_AD(key), p, 0);
		vmtest_expect_sync(&t, 0);	/* RDPKRU still works */
		vmtest_expect_fault(&t, PKVM_VEC_GP);
		ck_assert(t.exit.fault.pkru_refused);
		ck_assert_uint_eq(t.exit.fault.refused_pkru, PKVM_PKRU_AD(key));
		/* An allow-list lets exactly its values through. */
		allowed[0] = PKVM_PKRU_AD(key);
		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_ALLOWLIST, allowed, 1), 0);
		vmtest_expect_sync(&t, PKVM_PKRU_AD(key));
		vmtest_expect_pf(&t, p, PF_P | PF_U | PF_PK, key);
	} else if (t.backend == PKVM_PKEYS_HW) {
		uint8_t code[8192];

		/* The test's own guest code contains WRPKRU: locking must refuse it. */
		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_LOCKED, NULL, 0), -EPERM);
		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_ALLOWLIST, allowed, 1), -EOPNOTSUPP);
		ck_assert_int_eq(pkvm_unmap(t.vm, VMTEST_CODE_GVA, 0x10000), 0);
		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_LOCKED, NULL, 0), 0);
		/* W^X, then WRPKRU and XRSTOR bytes, also split across two pages. */
		memset(code, 0x90, sizeof(code));
		ck_assert_int_eq(pkvm_map(t.vm, 0x800000, code, 4096, 4096,
					  PKVM_PROT_WRITE | PKVM_PROT_EXEC, 0), -EPERM);
		memcpy(code + 100, (uint8_t[]){ 0x0f, 0x01, 0xef }, 3);
		ck_assert_int_eq(pkvm_map(t.vm, 0x800000, code, 4096, 4096, PKVM_PROT_EXEC, 0), -EPERM);
		memcpy(code + 100, (uint8_t[]){ 0x48, 0x0f, 0xae, 0x28 }, 4);	/* xrstor64 (%rax) */
		ck_assert_int_eq(pkvm_map(t.vm, 0x800000, code, 4096, 4096, PKVM_PROT_EXEC, 0), -EPERM);
		memcpy(code + 100, (uint8_t[]){ 0x0f, 0xae, 0xe8 }, 3);		/* lfence is fine */
		code[4095] = 0x0f;
		ck_assert_int_eq(pkvm_map(t.vm, 0x800000, code, 4096, 4096, PKVM_PROT_EXEC, 0), 0);
		code[4096] = 0x01;
		code[4097] = 0xef;
		ck_assert_int_eq(pkvm_map(t.vm, 0x801000, code + 4096, 4096, 4096, PKVM_PROT_EXEC, 0),
				 -EPERM);
		/* Data pages may hold anything, but may not become executable. */
		ck_assert_int_eq(pkvm_map(t.vm, 0x801000, code + 4096, 4096, 4096, RO, 0), 0);
		ck_assert_int_eq(pkvm_protect(t.vm, 0x801000, 4096, PKVM_PROT_EXEC), -EPERM);
		ck_assert_int_eq(pkvm_protect(t.vm, 0x800000, 4096, RW | PKVM_PROT_EXEC), -EPERM);
	}
}
END_TEST

static void *interrupt_later(void *vm)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	pkvm_interrupt(vm);
	return NULL;
}

START_TEST(test_interrupt_from_another_thread)
{
	pthread_t thread;

	vmtest_create(&t, _i);
	vmtest_start(&t, guest_spin, 0, 0, 0);
	ck_assert_int_eq(pthread_create(&thread, NULL, interrupt_later, t.vm), 0);
	vmtest_expect_reason(&t, PKVM_EXIT_INTERRUPTED);
	pthread_join(thread, NULL);
	/* An interrupt while not running stops the next run before it starts. */
	ck_assert_int_eq(pkvm_interrupt(t.vm), 0);
	vmtest_expect_reason(&t, PKVM_EXIT_INTERRUPTED);
}
END_TEST

START_TEST(test_many_vms_and_no_leaks)
{
	struct vmtest vms[8];
	int fds = vmtest_open_fds();

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 8; i++) {
			vmtest_create(&vms[i], _i);
			vmtest_map(&vms[i], VMTEST_DATA_GVA, 4096, RW, 0);
			vmtest_start(&vms[i], guest_write, VMTEST_DATA_GVA, i + 1, 0);
		}
		for (int i = 0; i < 8; i++) {
			vmtest_expect_sync(&vms[i], i + 1);
			vmtest_destroy(&vms[i]);
		}
	}
	ck_assert_int_eq(vmtest_open_fds(), fds);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct pkvm_regs regs = { 0 };
	struct pkvm_vm *vm;
	int key;

	ck_assert_int_eq(pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 12345 }), -EINVAL);
	ck_assert_int_eq(pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 8ULL << 30 }), -EINVAL);
	vmtest_create(&t, _i);
	/* A member of a later libpkvm in the reserved tail: refused, not ignored. */
	ck_assert_int_eq(pkvm_linux_attach(t.vm, &(struct pkvm_linux_config){ .stdin_fd = -1,
		.stdout_fd = -1, .stderr_fd = -1, .reserved[7] = 1 }), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, 0x1001, NULL, 0, 4096, RW, 0), -EINVAL);
	/* Below PKVM_USER_BOTTOM (Linux's mmap_min_addr): nothing is ever mapped. */
	ck_assert_int_eq(pkvm_map(t.vm, 0, NULL, 0, 4096, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, PKVM_USER_BOTTOM - 4096, NULL, 0, 8192, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, 0x10000, NULL, 0, 0, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, PKVM_USER_TOP - 4096, NULL, 0, 8192, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, 0xffffffff80000000ULL, NULL, 0, 4096, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, 0x10000, NULL, 0, 4096, 8, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, 0x10000, NULL, 0, 4096, RW, 3), -EINVAL);	/* not allocated */
	ck_assert_int_eq(pkvm_map(t.vm, 0x10000, NULL, 0, 4096, RW, 16), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, 0x10000, NULL, 5, 4096, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map(t.vm, VMTEST_CODE_GVA, NULL, 0, 4096, RW, 0), -EEXIST);
	ck_assert_int_eq(pkvm_map(t.vm, 0x80000000ULL, NULL, 0, 1ULL << 30, RW, 0), -ENOMEM);
	ck_assert_int_eq(pkvm_protect(t.vm, 0x10000, 4096, RW), -ENOMEM);
	regs.rip = 0x0000800000000000ULL;
	ck_assert_int_eq(pkvm_set_regs(t.vm, &regs), -EINVAL);
	for (int i = 1; i < 16; i++)
		ck_assert_int_gt(pkvm_pkey_alloc(t.vm), 0);
	ck_assert_int_eq(pkvm_pkey_alloc(t.vm), -ENOSPC);
	ck_assert_int_eq(pkvm_pkey_free(t.vm, 0), -EINVAL);
	ck_assert_int_eq(pkvm_pkey_free(t.vm, 5), 0);
	key = pkvm_pkey_alloc(t.vm);
	ck_assert_int_eq(key, 5);
	if (t.backend == PKVM_PKEYS_NONE)
		ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(1)), -EOPNOTSUPP);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("scenarios");

	vmtest_probe_backends();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
#define ADD(fn) tcase_add_loop_test(tc, fn, 0, vmtest_nbackends)
	ADD(test_store_load_and_host_copies);
	ADD(test_syscall_arguments_and_result);
	ADD(test_readonly_write_faults_then_retries);
	ADD(test_unmapped_read_faults_not_present);
	ADD(test_unmap_is_seen_by_a_running_guest);
	ADD(test_protect_is_seen_by_a_running_guest);
	ADD(test_fetch_from_data_page_faults);
	ADD(test_supervisor_pages_are_out_of_reach);
	ADD(test_exceptions_are_reported);
	ADD(test_no_compatibility_mode);
	ADD(test_key_access_disable);
	ADD(test_key_write_disable);
	ADD(test_key_and_page_rights_together);
	ADD(test_key_on_2mib_page_and_pkey_change);
	ADD(test_guest_rdpkru_wrpkru);
	ADD(test_execute_only_code);
	ADD(test_host_copies_honor_pkru);
	ADD(test_host_copies_check_rights);
	ADD(test_time_limit);
	ADD(test_interrupt_from_another_thread);
	ADD(test_stopped_guest_resumes_where_it_was);
	ADD(test_wrpkru_checks_ecx);
	ADD(test_pkru_seen_after_a_timeout);
	ADD(test_cpuid_shows_pkeys_as_the_backend_provides);
	ADD(test_pkru_lock_policy);
	ADD(test_many_vms_and_no_leaks);
	ADD(test_bad_arguments);
	return vmtest_run_tcase("vm", tc, CK_VERBOSE);
}
