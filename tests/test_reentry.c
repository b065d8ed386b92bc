/*
 * test_reentry.c: entries into the guest that a kick interrupts, and what the
 * guest must see afterwards: exactly the PKRU and the mappings the host set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

#define RW		(PKVM_PROT_READ | PKVM_PROT_WRITE)
#define SECRET		0x5ec2e7
#define SLOW_CALL	3	/* the host function that outlives the call */

/* ---- guest code ---------------------------------------------------------- */

GUEST_CODE static void guest_idle(void)
{
	GUEST_SYNC(1);
	GUEST_DONE();
}

GUEST_CODE static uint64_t guest_read(const volatile uint64_t *p)
{
	return *p;
}

/* Calls the slow host function with the key granted, then reads the key's page. */
GUEST_CODE static uint64_t guest_slow_then_read(const volatile uint64_t *p)
{
	guest_syscall(PKVM_HOSTCALL_BASE + SLOW_CALL, 0, 0, 0);
	return *p;
}

GUEST_CODE static uint64_t guest_pkru(void)
{
	return guest_rdpkru();
}

/* ---- host side ------------------------------------------------------------ */

static struct vmtest t;

static void teardown(void) { if (t.vm) vmtest_destroy(&t); }

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* The kick signal interrupts the sleep: finish it. */
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Outlives the time limit: the kick lands while the host serves the call. */
static uint64_t host_sleep_past_limit(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	(void)vm; (void)ctx; (void)args;
	sleep_ms(60);
	return 0;
}

/* Asks for the run to end: the kick lands while the host serves the call. */
static uint64_t host_interrupt(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	(void)ctx; (void)args;
	ck_assert_int_eq(pkvm_interrupt(vm), 0);
	return 0;
}

/*
 * The README's per-call PKRU window, with call 1 cut short inside a host
 * function: call 2, under a PKRU that denies the key, must fault on it.
 * A kick left over from call 1 once made call 2's first entry fail before
 * the stub loaded the new view's CR3, and the retry resumed on the old one.
 */
static void per_call_window_survives_a_stop(int backend_index, bool by_time_limit)
{
	uint64_t input = VMTEST_DATA_GVA, secret = SECRET;
	struct pkvm_exit e;
	int key;

	vmtest_create(&t, backend_index);
	if (!vmtest_backend_enforces(t.backend))
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, input, 4096, RW, key);
	ck_assert_int_eq(pkvm_host_write_guest(t.vm, input, &secret, sizeof(secret)), 0);
	ck_assert_int_eq(pkvm_hostcall_register(t.vm, SLOW_CALL, by_time_limit ?
						host_sleep_past_limit : host_interrupt, NULL), 0);
	vmtest_start(&t, guest_idle, 0, 0, 0);

	/* Call 1: the key is granted, and the call is stopped in the host function. */
	ck_assert_int_eq(pkvm_set_pkru(t.vm, 0), 0);
	if (by_time_limit)
		ck_assert_int_eq(pkvm_set_time_limit(t.vm, 20 * 1000 * 1000), 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_slow_then_read),
				   (uint64_t[]){ input }, 1, &e), 0);
	ck_assert_int_eq(e.reason, by_time_limit ? PKVM_EXIT_TIMEOUT : PKVM_EXIT_INTERRUPTED);
	ck_assert_int_eq(pkvm_call_abort(t.vm), 0);
	ck_assert_int_eq(pkvm_set_time_limit(t.vm, 0), 0);

	/* Call 2: the key is denied. */
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_read), (uint64_t[]){ input }, 1,
				   &e), 0);
	ck_assert_msg(e.reason == PKVM_EXIT_FAULT, "call 2 %s, expected a PK fault%s",
		      pkvm_exit_reason_name(e.reason),
		      e.reason == PKVM_EXIT_RETURN && e.ret.value == SECRET ?
		      ": it read the denied key's secret" : "");
	ck_assert_uint_eq(e.fault.vector, PKVM_VEC_PF);
	ck_assert_uint_eq(e.fault.pfec, PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK);
	ck_assert_int_eq(e.fault.pkey, key);
}

START_TEST(test_window_after_time_limit_in_host_call)
{
	per_call_window_survives_a_stop(_i, true);
}
END_TEST

START_TEST(test_window_after_interrupt_in_host_call)
{
	per_call_window_survives_a_stop(_i, false);
}
END_TEST

/* A stale kick must not make the next run fail or stop for nothing. */
START_TEST(test_stale_kick_does_not_stop_next_run)
{
	struct pkvm_stats before, after;
	struct pkvm_exit e;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_hostcall_register(t.vm, SLOW_CALL, host_interrupt, NULL), 0);
	vmtest_start(&t, guest_idle, 0, 0, 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_slow_then_read),
				   (uint64_t[]){ VMTEST_STACK_GVA }, 1, &e), 0);
	ck_assert_int_eq(e.reason, PKVM_EXIT_INTERRUPTED);
	ck_assert_int_eq(pkvm_call_abort(t.vm), 0);
	pkvm_get_stats(t.vm, &before);
	vmtest_expect_sync(&t, 1);
	pkvm_get_stats(t.vm, &after);
	ck_assert_uint_eq(after.kvm_exits - before.kvm_exits, 1);
}
END_TEST

/* ---- the stress test -------------------------------------------------------- */

/* Runs a call to its end: an interrupted one is simply continued. */
static struct pkvm_exit *call_through_kicks(uint64_t fn, uint64_t arg)
{
	ck_assert_int_eq(pkvm_call(t.vm, fn, &arg, 1, &t.exit), 0);
	while (t.exit.reason == PKVM_EXIT_INTERRUPTED)
		vmtest_run(&t);
	return &t.exit;
}

#define STRESS_ROUNDS	1500

/*
 * Thousands of entries, each after the host changed the PKRU or the mapping
 * of a keyed page, under a stream of kicks from another thread.  After each
 * call the guest must have seen exactly what the host set: the value or the
 * fault the architecture gives for the current PKRU and mapping, and (where
 * keys are enforced) RDPKRU equal to the host's PKRU.
 */
START_TEST(test_kicks_never_leave_a_stale_view)
{
	static const uint32_t pkrus[] = { 0, PKVM_PKRU_AD(1), PKVM_PKRU_WD(1), PKVM_PKRU_AD(2),
					  PKVM_PKRU_AD(1) | PKVM_PKRU_AD(2) };
	uint64_t page = VMTEST_DATA_GVA;
	struct vmtest_kicker k;
	unsigned seed = 777;
	bool mapped = false;
	int key;

	vmtest_create(&t, _i);
	key = pkvm_pkey_alloc(t.vm);
	ck_assert_int_eq(key, 1);
	ck_assert_int_eq(pkvm_pkey_alloc(t.vm), 2);
	vmtest_start(&t, guest_idle, 0, 0, 0);
	vmtest_kicker_start(&k, t.vm, 12345, 1000, 150000);
	for (uint64_t round = 1; round <= STRESS_ROUNDS; round++) {
		uint32_t pkru = vmtest_backend_enforces(t.backend) ?
				pkrus[rand_r(&seed) % (sizeof(pkrus) / sizeof(pkrus[0]))] : 0;
		struct pkvm_exit *e;

		/* Change something the guest must see at once. */
		switch (rand_r(&seed) % 3) {
		case 0:
			if (mapped)
				ck_assert_int_eq(pkvm_unmap(t.vm, page, 4096), 0);
			else
				vmtest_map(&t, page, 4096, RW, key);
			mapped = !mapped;
			break;
		case 1:
			if (mapped)
				ck_assert_int_eq(pkvm_set_pkey(t.vm, page, 4096, key), 0);
			break;
		default:
			break;
		}
		if (mapped)
			ck_assert_int_eq(pkvm_host_write_guest(t.vm, page, &round, sizeof(round)), 0);
		ck_assert_int_eq(pkvm_set_pkru(t.vm, pkru), 0);

		e = call_through_kicks(vmtest_guest_addr(guest_read), page);
		if (!mapped) {
			ck_assert_msg(e->reason == PKVM_EXIT_FAULT && e->fault.vector == PKVM_VEC_PF &&
				      e->fault.pfec == PKVM_PFEC_U,
				      "round %llu: an unmapped page read as %s",
				      (unsigned long long)round, pkvm_exit_reason_name(e->reason));
			ck_assert_int_eq(pkvm_call_abort(t.vm), 0);
		} else if (pkru & PKVM_PKRU_AD(key)) {
			ck_assert_msg(e->reason == PKVM_EXIT_FAULT && e->fault.vector == PKVM_VEC_PF &&
				      e->fault.pfec == (PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK),
				      "round %llu: a denied key's page read as %s (PKRU %#x)",
				      (unsigned long long)round, pkvm_exit_reason_name(e->reason),
				      pkru);
			ck_assert_int_eq(pkvm_call_abort(t.vm), 0);
		} else {
			ck_assert_msg(e->reason == PKVM_EXIT_RETURN && e->ret.value == round,
				      "round %llu: reading the page gave %s %#llx (PKRU %#x)",
				      (unsigned long long)round, pkvm_exit_reason_name(e->reason),
				      (unsigned long long)e->ret.value, pkru);
		}
		if (vmtest_backend_enforces(t.backend) && round % 4 == 0) {
			e = call_through_kicks(vmtest_guest_addr(guest_pkru), 0);
			ck_assert_msg(e->reason == PKVM_EXIT_RETURN, "round %llu: RDPKRU gave %s",
				      (unsigned long long)round, vmtest_describe(e));
			ck_assert_uint_eq(e->ret.value, pkru);
		}
	}
	ck_assert_msg(vmtest_kicker_stop(&k) > 100, "only %lu kicks landed", k.kicks);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("reentry");

	vmtest_probe_backends();
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_window_after_time_limit_in_host_call, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_window_after_interrupt_in_host_call, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_stale_kick_does_not_stop_next_run, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_kicks_never_leave_a_stale_view, 0, vmtest_nbackends);
	return vmtest_run_tcase("reentry", tc, CK_VERBOSE);
}
