/*
 * test_linux_guard.c: the Linux personality cannot be turned against its host:
 * the host's keys, the host's mappings, rights kept through mremap(), and
 * host time bounded by what is mapped, not by the lengths a guest passes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "vmtest.h"

#define RW		(PKVM_PROT_READ | PKVM_PROT_WRITE)
#define HOST_BUF	0x20000000ULL	/* the host's own region: not the personality's */
#define SECRET		0x5ec2e75ec2e7ULL
#define NR_REPORT	(PKVM_HOSTCALL_BASE + 1)	/* unregistered: reaches the test */

#define PKEY_DISABLE_ACCESS_	0x1

/* ---- guest code ---------------------------------------------------------- */

static inline __attribute__((always_inline)) int64_t
lx_call(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	register uint64_t r10 __asm__("r10") = a3, r8 __asm__("r8") = a4, r9 __asm__("r9") = a5;
	uint64_t ret;

	__asm__ volatile("syscall" : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return (int64_t)ret;
}

/* With the personality attached, every Linux number is its; report through a host call. */
#define REPORT(v)	lx_call(NR_REPORT, (uint64_t)(v), 0, 0, 0, 0, 0)

GUEST_CODE static void guest_key_games(const volatile uint64_t *secret)
{
	REPORT(lx_call(SYS_pkey_free, 1, 0, 0, 0, 0, 0));		/* the host's key */
	REPORT(lx_call(SYS_pkey_alloc, 0, 0, 0, 0, 0, 0));		/* would grant it */
	REPORT(lx_call(SYS_pkey_alloc, 0, PKEY_DISABLE_ACCESS_, 0, 0, 0, 0));
	REPORT(lx_call(SYS_pkey_mprotect, (uint64_t)secret, 4096, PROT_READ, 1, 0, 0));
	REPORT(lx_call(SYS_pkey_free, 2, 0, 0, 0, 0, 0));
	REPORT(*secret);						/* must fault */
}

GUEST_CODE static void guest_map_games(uint64_t host_buf, uint64_t trampoline)
{
	uint64_t below = host_buf - 4096;
	int64_t own = lx_call(SYS_mmap, below, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	REPORT(own);
	*(volatile uint64_t *)below = 7;
	/* Fixed mappings, unmaps and moves that reach into the host's page. */
	REPORT(lx_call(SYS_mmap, host_buf, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	REPORT(lx_call(SYS_mmap, below, 8192, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	REPORT(lx_call(SYS_munmap, below, 8192, 0, 0, 0, 0));
	REPORT(lx_call(SYS_munmap, host_buf, 4096, 0, 0, 0, 0));
	REPORT(lx_call(SYS_munmap, trampoline, 4096, 0, 0, 0, 0));
	REPORT(lx_call(SYS_mremap, below, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, host_buf, 0));
	REPORT(lx_call(SYS_mmap, 0x1000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		       -1, 0));
	/* Its own page is untouched by all that failed. */
	REPORT(*(volatile uint64_t *)below);
	REPORT(lx_call(SYS_munmap, below, 4096, 0, 0, 0, 0));
}

GUEST_CODE static void guest_mremap_rights(void)
{
	int64_t a = lx_call(SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	int64_t moved;

	REPORT(lx_call(SYS_mprotect, a + 4096, 4096, PROT_NONE, 0, 0, 0));
	/* Two mappings (RW, then none) in one move: EFAULT, as Linux. */
	REPORT(lx_call(SYS_mremap, a, 8192, 16384, MREMAP_MAYMOVE, 0, 0));
	/* The PROT_NONE page alone moves, and stays PROT_NONE. */
	moved = lx_call(SYS_mremap, a + 4096, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED,
			a + 65536 * 4, 0);
	REPORT(moved);
	REPORT(*(volatile uint64_t *)moved);				/* must fault */
}

GUEST_CODE static void guest_huge_spans(uint64_t start, uint64_t len)
{
	REPORT(lx_call(SYS_madvise, start, len, MADV_DONTNEED, 0, 0, 0));
	REPORT(lx_call(SYS_mprotect, start, len, PROT_READ | PROT_EXEC, 0, 0, 0));
	REPORT(lx_call(SYS_munmap, start + len - 4096 * 16, 4096 * 16, 0, 0, 0, 0));
}

/* ---- host side ------------------------------------------------------------ */

static struct vmtest t;

static void teardown(void) { if (t.vm) vmtest_destroy(&t); }

/*
 * A fake program image spanning most of the user half (a hostile ELF can
 * place two segments that far apart): the personality owns all of it.
 */
static const struct pkvm_program sprawling = {
	.load_start = 0x400000,
	.load_end = PKVM_STACK_TOP - (64ULL << 20),
	.brk = PKVM_STACK_TOP - (64ULL << 20),
	.stack_top = PKVM_STACK_TOP,
};

static void attach(const struct pkvm_program *program)
{
	struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,
					.program = program };

	ck_assert_int_eq(pkvm_linux_attach(t.vm, &lx), 0);
}

static int64_t expect_report(void)
{
	struct pkvm_exit *e = vmtest_run(&t);

	ck_assert_msg(e->reason == PKVM_EXIT_SYSCALL && e->syscall.nr == NR_REPORT,
		      "expected a report, got %s", vmtest_describe(e));
	return (int64_t)e->syscall.args[0];
}

/*
 * The host's key 1 guards its secret under a locked PKRU.  The guest may
 * neither free that key, nor get it back from pkey_alloc(), nor put it on
 * its pages, nor change the PKRU through pkey_alloc()'s rights.
 */
START_TEST(test_guest_cannot_take_the_hosts_key)
{
	uint64_t secret = SECRET;
	int key;

	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(t.backend))
		return;
	key = pkvm_pkey_alloc(t.vm);
	ck_assert_int_eq(key, 1);
	vmtest_map(&t, HOST_BUF, 4096, RW, key);
	ck_assert_int_eq(pkvm_host_write_guest(t.vm, HOST_BUF, &secret, sizeof(secret)), 0);
	attach(NULL);
	ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_LOCKED, NULL, 0), 0);
	vmtest_start(&t, guest_key_games, HOST_BUF, 0, 0);
	ck_assert_int_eq(expect_report(), -EINVAL);	/* pkey_free(1) */
	ck_assert_int_eq(expect_report(), -ENOSPC);	/* pkey_alloc(0, 0): PKRU locked */
	ck_assert_int_eq(expect_report(), 2);		/* pkey_alloc(0, AD): no change */
	ck_assert_int_eq(expect_report(), -EINVAL);	/* pkey_mprotect(.., 1) */
	ck_assert_int_eq(expect_report(), 0);		/* pkey_free(2): its own */
	vmtest_expect_pf(&t, HOST_BUF, PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK, key);
}
END_TEST

/* Without a policy the guest's keys work as on Linux, but only from its pool. */
START_TEST(test_guest_keys_come_from_its_pool)
{
	struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,
					.guest_pkeys = 1U << 5 };

	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(t.backend))
		return;
	ck_assert_int_eq(pkvm_linux_attach(t.vm, &lx), 0);
	vmtest_start(&t, guest_key_games, HOST_BUF, 0, 0);
	vmtest_map(&t, HOST_BUF, 4096, RW, 0);
	ck_assert_int_eq(expect_report(), -EINVAL);	/* pkey_free(1): never allocated */
	ck_assert_int_eq(expect_report(), 5);		/* the pool's only key */
	ck_assert_int_eq(expect_report(), -ENOSPC);	/* pool exhausted */
	ck_assert_int_eq(expect_report(), -EINVAL);	/* key 1 is not the guest's */
	ck_assert_int_eq(expect_report(), -EINVAL);	/* pkey_free(2): not the guest's */
	ck_assert_int_eq(expect_report(), 0);		/* key 0 page reads zero */
}
END_TEST

START_TEST(test_guest_cannot_replace_host_mappings)
{
	uint64_t secret = SECRET, back = 0;

	vmtest_create(&t, _i);
	vmtest_map(&t, HOST_BUF, 4096, RW, 0);
	ck_assert_int_eq(pkvm_host_write_guest(t.vm, HOST_BUF, &secret, sizeof(secret)), 0);
	attach(NULL);
	vmtest_start(&t, guest_map_games, HOST_BUF, PKVM_TRAMPOLINE_GVA, 0);
	ck_assert_int_eq(expect_report(), HOST_BUF - 4096);	/* its own page */
	ck_assert_int_eq(expect_report(), -ENOMEM);		/* MAP_FIXED on the host's */
	ck_assert_int_eq(pkvm_map(t.vm, HOST_BUF, NULL, 0, 4096, RW, 0), -EEXIST);
	ck_assert_int_eq(expect_report(), -ENOMEM);		/* MAP_FIXED over both */
	ck_assert_int_eq(expect_report(), -EINVAL);		/* munmap of both */
	ck_assert_int_eq(expect_report(), -EINVAL);		/* munmap of the host's */
	ck_assert_int_eq(expect_report(), -EINVAL);		/* munmap of the trampoline */
	ck_assert_int_eq(expect_report(), -ENOMEM);		/* mremap onto the host's */
	ck_assert_int_eq(expect_report(), -EPERM);		/* below mmap_min_addr */
	ck_assert_int_eq(expect_report(), 7);
	ck_assert_int_eq(expect_report(), 0);
	/* The host's page is still the host's, at the same place. */
	ck_assert_int_eq(pkvm_host_read_guest(t.vm, &back, HOST_BUF, sizeof(back)), 0);
	ck_assert_uint_eq(back, SECRET);
	ck_assert_int_eq(pkvm_map(t.vm, HOST_BUF, NULL, 0, 4096, RW, 0), -EEXIST);
}
END_TEST

START_TEST(test_mremap_keeps_rights_per_mapping)
{
	struct pkvm_exit *e;
	int64_t moved;

	vmtest_create(&t, _i);
	attach(NULL);
	vmtest_start(&t, guest_mremap_rights, 0, 0, 0);
	ck_assert_int_eq(expect_report(), 0);
	ck_assert_int_eq(expect_report(), -EFAULT);
	moved = expect_report();
	ck_assert_msg(moved > 0 && moved % 4096 == 0, "mremap of one page: %lld", (long long)moved);
	e = vmtest_run(&t);
	ck_assert_msg(e->reason == PKVM_EXIT_FAULT && e->fault.vector == PKVM_VEC_PF &&
		      e->fault.addr == (uint64_t)moved,
		      "reading a moved PROT_NONE page gave %s", vmtest_describe(e));
}
END_TEST

/*
 * madvise(), mprotect(PROT_EXEC) and munmap() over a span of ~128 TiB that
 * the guest owns but that is all unmapped (above the test's code and stack):
 * each must answer at once.  Per-page loops took hours here; Check's timeout
 * is the guard.
 */
START_TEST(test_huge_spans_cost_what_is_mapped)
{
	uint64_t start = VMTEST_STACK_GVA + VMTEST_STACK_SIZE, len = sprawling.load_end - start;

	vmtest_create(&t, _i);
	attach(&sprawling);
	if (t.backend == PKVM_PKEYS_HW)	/* the lock's W^X scan runs on mprotect(PROT_EXEC) */
		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, PKVM_PKRU_LOCKED, NULL, 0), 0);
	vmtest_start(&t, guest_huge_spans, start, len, 0);
	ck_assert_int_eq(expect_report(), 0);
	ck_assert_int_eq(expect_report(), -ENOMEM);	/* not all of it is mapped */
	ck_assert_int_eq(expect_report(), 0);		/* unmapping a hole is fine */
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("guard");

	vmtest_probe_backends();
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_guest_cannot_take_the_hosts_key, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_guest_keys_come_from_its_pool, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_guest_cannot_replace_host_mappings, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_mremap_keeps_rights_per_mapping, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_huge_spans_cost_what_is_mapped, 0, vmtest_nbackends);
	return vmtest_run_tcase("linux_guard", tc, CK_VERBOSE);
}
