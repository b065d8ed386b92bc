/*
 * test_demand.c: demand-backed memory (pkvm_map_demand()) on a real KVM:
 * reservations far beyond guest memory, pages filled on first touch with
 * their rights and key, no frames for PROT_NONE, frames given back, running
 * out, and snapshots.
 */
#include <errno.h>
#include <stdio.h>

#include "vmtest.h"

#define RW	(PKVM_PROT_READ | PKVM_PROT_WRITE)
#define PG	4096ULL
#define GIB	(1ULL << 30)

/* Write i + 1 at @base + i * @stride for each i < @n, then report the sum read back. */
GUEST_CODE static void guest_touch(uint64_t base, uint64_t stride, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		*(volatile uint64_t *)(base + i * stride) = i + 1;
	for (uint64_t i = 0; i < n; i++)
		sum += *(volatile uint64_t *)(base + i * stride);
	GUEST_SYNC(sum);
	GUEST_DONE();
}

GUEST_CODE static void guest_read(volatile uint64_t *p)
{
	GUEST_SYNC(*p);
	GUEST_DONE();
}

static struct vmtest t;

static void teardown(void)
{
	if (t.vm)
		vmtest_destroy(&t);
}

static struct pkvm_stats stats(void)
{
	struct pkvm_stats s;

	ck_assert_int_eq(pkvm_get_stats(t.vm, &s), 0);
	return s;
}

/*
 * 64 GiB reserved in a 32 MiB VM: only the 64 pages touched cost frames
 * (and the table pages that map them: one per 2 MiB touched, one per GiB).
 */
START_TEST(test_reserve_far_more_than_memory)
{
	uint64_t p = 1ULL << 44;	/* 16 TiB: far from the test's code and stack */
	struct pkvm_stats before;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 64 * GIB, RW, 0), 0);
	before = stats();
	vmtest_start(&t, guest_touch, p, GIB / 8, 64);
	vmtest_expect_sync(&t, 64 * 65 / 2);
	ck_assert_uint_eq(stats().demand_fills - before.demand_fills, 64);
	ck_assert_uint_eq(stats().frames_in_use - before.frames_in_use, 64);
	vmtest_expect_done(&t);
}
END_TEST

/* Untouched pages read as zeros; the host's copies reach them too. */
START_TEST(test_untouched_pages_and_host_copies)
{
	uint64_t p = VMTEST_DATA_GVA, v = 1;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 1 << 20, RW, 0), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + 2 * PG, 8), 0);
	ck_assert_uint_eq(v, 0);
	v = 77;
	ck_assert_int_eq(pkvm_write_guest(t.vm, p, &v, 8), 0);
	ck_assert_int_eq(pkvm_host_write_guest(t.vm, p + 3 * PG, &v, 8), 0);
	vmtest_start(&t, guest_read, p, 0, 0);
	vmtest_expect_sync(&t, 77);
	vmtest_expect_done(&t);
	vmtest_start(&t, guest_read, p + 5 * PG, 0, 0);
	vmtest_expect_sync(&t, 0);
	vmtest_expect_done(&t);
}
END_TEST

/* A PROT_NONE reservation: no frames, a protection fault; made usable piece by piece. */
START_TEST(test_none_reservation)
{
	uint64_t p = VMTEST_DATA_GVA, v;
	uint64_t fills;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, GIB, 0, 0), 0);
	fills = stats().demand_fills;
	vmtest_start(&t, guest_read, p + 100, 0, 0);
	vmtest_expect_pf(&t, p + 100, PKVM_PFEC_P | PKVM_PFEC_U, 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p, 8), -EFAULT);
	ck_assert_uint_eq(stats().demand_fills, fills);
	ck_assert_int_eq(pkvm_protect(t.vm, p + PG, PG, RW), 0);
	vmtest_start(&t, guest_read, p + PG, 0, 0);
	vmtest_expect_sync(&t, 0);
	ck_assert_uint_eq(stats().demand_fills, fills + 1);
	/* Rights for a range only partly reserved: refused, nothing changed. */
	ck_assert_int_eq(pkvm_protect(t.vm, p + GIB - PG, 2 * PG, RW), -ENOMEM);
	vmtest_start(&t, guest_read, p + GIB - PG, 0, 0);
	vmtest_expect_pf(&t, p + GIB - PG, PKVM_PFEC_P | PKVM_PFEC_U, 0);
}
END_TEST

/*
 * A keyed reservation under a PKRU that denies the key: the first touch
 * fills the page and then faults as a key fault.  On soft this also proves
 * that a view built before the page existed cannot show it unrestricted.
 */
START_TEST(test_keyed_reservation)
{
	uint64_t p = VMTEST_DATA_GVA;
	int key;

	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(t.backend))
		return;
	key = pkvm_pkey_alloc(t.vm);
	ck_assert_int_gt(key, 0);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 1 << 20, RW, key), 0);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	vmtest_start(&t, guest_read, p + 16, 0, 0);
	vmtest_expect_pf(&t, p + 16, PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK, key);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, 0), 0);
	vmtest_expect_sync(&t, 0);
	vmtest_expect_done(&t);

	/* A key set on a range partly filled: both the filled and the unfilled pages get it. */
	ck_assert_int_eq(pkvm_set_pkey(t.vm, p, 2 * PG, 0), 0);
	ck_assert_int_eq(pkvm_set_pkey(t.vm, p, 2 * PG, key), 0);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	vmtest_start(&t, guest_read, p + PG, 0, 0);
	vmtest_expect_pf(&t, p + PG, PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK, key);
	vmtest_start(&t, guest_read, p, 0, 0);
	vmtest_expect_pf(&t, p, PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK, key);
}
END_TEST

/* pkvm_discard(): demand-backed frames go back to the pool, other pages are zeroed. */
START_TEST(test_discard)
{
	uint64_t p = VMTEST_DATA_GVA, q = VMTEST_DATA_GVA + GIB, v = 5, in_use;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 1 << 20, RW, 0), 0);
	vmtest_start(&t, guest_touch, p, PG, 256);
	vmtest_expect_sync(&t, 256 * 257 / 2);
	vmtest_expect_done(&t);
	in_use = stats().frames_in_use;
	ck_assert_int_eq(pkvm_discard(t.vm, p, 1 << 20), 0);
	ck_assert_uint_eq(stats().frames_in_use, in_use - 256);
	vmtest_start(&t, guest_read, p + 8, 0, 0);
	vmtest_expect_sync(&t, 0);
	vmtest_expect_done(&t);

	vmtest_map(&t, q, PG, RW, 0);
	ck_assert_int_eq(pkvm_write_guest(t.vm, q, &v, 8), 0);
	ck_assert_int_eq(pkvm_discard(t.vm, q, PG), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, q, 8), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(pkvm_discard(t.vm, q, 2 * PG), 0);	/* holes are fine */
	ck_assert_int_eq(pkvm_discard(t.vm, q + 1, PG), -EINVAL);
}
END_TEST

/* More touched than there is memory: PKVM_EXIT_OUT_OF_MEMORY, and going on after a discard. */
START_TEST(test_out_of_memory)
{
	uint64_t p = VMTEST_DATA_GVA, first;
	uint64_t v;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 64 << 20, RW, 0), 0);
	vmtest_start(&t, guest_touch, p, PG, (64 << 20) / PG);
	vmtest_expect_reason(&t, PKVM_EXIT_OUT_OF_MEMORY);
	first = t.exit.fault.addr;
	ck_assert(first > p && first < p + (64 << 20));
	ck_assert_uint_eq(t.exit.fault.vector, PKVM_VEC_PF);
	/* The same touch again: the same answer. */
	vmtest_expect_reason(&t, PKVM_EXIT_OUT_OF_MEMORY);
	ck_assert_uint_eq(t.exit.fault.addr, first);
	/* A copy that needs a frame says so. */
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + (63 << 20), 8), -ENOMEM);
	/* Frames given back: the guest goes on, further. */
	ck_assert_int_eq(pkvm_discard(t.vm, p, 8 << 20), 0);
	vmtest_expect_reason(&t, PKVM_EXIT_OUT_OF_MEMORY);
	ck_assert(t.exit.fault.addr > first);
}
END_TEST

/* A restore drops the frames filled since the snapshot, and brings back its ranges. */
START_TEST(test_snapshot_restore)
{
	uint64_t p = VMTEST_DATA_GVA, in_use, v = 9;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 1 << 20, RW, 0), 0);
	vmtest_start(&t, guest_touch, p, PG, 16);
	in_use = stats().frames_in_use;
	ck_assert_int_eq(pkvm_snapshot(t.vm), 0);
	vmtest_expect_sync(&t, 16 * 17 / 2);
	ck_assert_uint_eq(stats().frames_in_use, in_use + 16);
	ck_assert_int_eq(pkvm_unmap(t.vm, p, 1 << 20), 0);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p, 8), -EFAULT);
	ck_assert_int_eq(pkvm_restore(t.vm), 0);
	ck_assert_uint_eq(stats().frames_in_use, in_use);
	ck_assert_int_eq(pkvm_read_guest(t.vm, &v, p + PG, 8), 0);
	ck_assert_uint_eq(v, 0);
	vmtest_expect_sync(&t, 16 * 17 / 2);	/* the same run again, from the start */
	vmtest_expect_done(&t);
	pkvm_snapshot_drop(t.vm);
}
END_TEST

START_TEST(test_bad_arguments)
{
	uint64_t p = VMTEST_DATA_GVA;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 0, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p + 1, PG, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, PG + 1, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map_demand(t.vm, 0, PG, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map_demand(t.vm, PKVM_USER_TOP - PG, 2 * PG, RW, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, PG, 0x100, 0), -EINVAL);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, PG, RW, 9), -EINVAL);	/* not allocated */
	ck_assert_int_eq(pkvm_map_demand(t.vm, p, 4 * PG, RW, 0), 0);
	ck_assert_int_eq(pkvm_map_demand(t.vm, p + PG, PG, RW, 0), -EEXIST);
	ck_assert_int_eq(pkvm_map(t.vm, p + 3 * PG, NULL, 0, 2 * PG, RW, 0), -EEXIST);
	ck_assert_int_eq(pkvm_map_demand(t.vm, VMTEST_CODE_GVA, PG, RW, 0), -EEXIST);
	ck_assert_int_eq(pkvm_unmap(t.vm, p + PG, PG), 0);
	ck_assert_int_eq(pkvm_map(t.vm, p + PG, NULL, 0, PG, RW, 0), 0);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("demand");

	vmtest_probe_backends();
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_reserve_far_more_than_memory, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_untouched_pages_and_host_copies, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_none_reservation, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_keyed_reservation, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_discard, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_out_of_memory, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_snapshot_restore, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_bad_arguments, 0, vmtest_nbackends);
	tcase_set_timeout(tc, 120);
	return vmtest_run_tcase("demand", tc, CK_NORMAL);
}
