/* test_pkeys.c: key allocation, PKRU encoding and the permission masks, against docs/protection-keys.md. */
/*
 * The oracle below restates docs/protection-keys.md ("The full permission check",
 * "When protection keys apply") rule by rule; it is not derived from
 * lib/pkeys.c.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkeys.h"
#include "x86.h"

/* ------------------------------------------------------------------------- */
/* Key allocation.                                                            */

START_TEST(test_pkeys_init)
{
	struct pkvm_pkey_set set;

	memset(&set, 0xff, sizeof(set));
	pkvm_pkeys_init(&set);
	ck_assert(pkvm_pkeys_is_allocated(&set, 0));	/* key 0 is always allocated */
	for (int k = 1; k < PKVM_NR_PKEYS; k++)
		ck_assert_msg(!pkvm_pkeys_is_allocated(&set, k), "key %d allocated after init", k);
	ck_assert(!pkvm_pkeys_is_allocated(&set, -1));
	ck_assert(!pkvm_pkeys_is_allocated(&set, 16));
	ck_assert(!pkvm_pkeys_is_allocated(&set, INT_MAX));
	ck_assert(!pkvm_pkeys_is_allocated(&set, INT_MIN));
}
END_TEST

START_TEST(test_pkeys_alloc_all)
{
	struct pkvm_pkey_set set;
	bool seen[PKVM_NR_PKEYS] = { false };

	pkvm_pkeys_init(&set);
	for (int i = 1; i < PKVM_NR_PKEYS; i++) {
		int k = pkvm_pkeys_alloc(&set);

		ck_assert_msg(k >= 1 && k <= 15, "allocation %d returned %d", i, k);
		ck_assert_msg(!seen[k], "key %d handed out twice", k);
		seen[k] = true;
		ck_assert(pkvm_pkeys_is_allocated(&set, k));
	}
	ck_assert_int_eq(pkvm_pkeys_alloc(&set), -ENOSPC);
	ck_assert_int_eq(pkvm_pkeys_alloc(&set), -ENOSPC);
	for (int k = 0; k < PKVM_NR_PKEYS; k++)
		ck_assert(pkvm_pkeys_is_allocated(&set, k));
}
END_TEST

START_TEST(test_pkeys_claim)
{
	struct pkvm_pkey_set set;

	pkvm_pkeys_init(&set);
	ck_assert_int_eq(pkvm_pkeys_claim(&set, 0), -EINVAL);	/* everyone's */
	ck_assert_int_eq(pkvm_pkeys_claim(&set, 16), -EINVAL);
	ck_assert_int_eq(pkvm_pkeys_claim(&set, -1), -EINVAL);
	ck_assert_int_eq(pkvm_pkeys_claim(&set, 9), 9);
	ck_assert_int_eq(pkvm_pkeys_claim(&set, 9), -EBUSY);
	ck_assert(pkvm_pkeys_is_allocated(&set, 9));
	/* Plain allocation goes around it. */
	for (int k = 1; k < PKVM_NR_PKEYS; k++)
		if (k != 9)
			ck_assert_int_eq(pkvm_pkeys_alloc(&set), k);
	ck_assert_int_eq(pkvm_pkeys_alloc(&set), -ENOSPC);
	ck_assert_int_eq(pkvm_pkeys_free(&set, 9), 0);
	ck_assert_int_eq(pkvm_pkeys_claim(&set, 9), 9);
}
END_TEST

START_TEST(test_pkeys_free_realloc)
{
	struct pkvm_pkey_set set;

	pkvm_pkeys_init(&set);
	for (int i = 1; i < PKVM_NR_PKEYS; i++)
		ck_assert_int_gt(pkvm_pkeys_alloc(&set), 0);

	/* With one key free, allocation must return exactly that key. */
	for (int k = 1; k < PKVM_NR_PKEYS; k++) {
		ck_assert_int_eq(pkvm_pkeys_free(&set, k), 0);
		ck_assert(!pkvm_pkeys_is_allocated(&set, k));
		ck_assert_int_eq(pkvm_pkeys_free(&set, k), -EINVAL);	/* double free */
		ck_assert_int_eq(pkvm_pkeys_alloc(&set), k);
		ck_assert_int_eq(pkvm_pkeys_alloc(&set), -ENOSPC);
	}

	/* Two free keys come back, in some order, and nothing else. */
	ck_assert_int_eq(pkvm_pkeys_free(&set, 3), 0);
	ck_assert_int_eq(pkvm_pkeys_free(&set, 15), 0);
	int a = pkvm_pkeys_alloc(&set), b = pkvm_pkeys_alloc(&set);

	ck_assert_msg((a == 3 && b == 15) || (a == 15 && b == 3), "got %d and %d", a, b);
	ck_assert_int_eq(pkvm_pkeys_alloc(&set), -ENOSPC);

	/* Free everything: back to the initial state. */
	for (int k = 1; k < PKVM_NR_PKEYS; k++)
		ck_assert_int_eq(pkvm_pkeys_free(&set, k), 0);
	ck_assert(pkvm_pkeys_is_allocated(&set, 0));
	for (int k = 1; k < PKVM_NR_PKEYS; k++)
		ck_assert(!pkvm_pkeys_is_allocated(&set, k));
}
END_TEST

START_TEST(test_pkeys_free_invalid)
{
	static const int bad[] = { 0, -1, 16, 17, 32, 64, INT_MAX, INT_MIN, -16 };
	struct pkvm_pkey_set set;
	int k;

	pkvm_pkeys_init(&set);
	/* Unallocated keys. */
	for (k = 1; k < PKVM_NR_PKEYS; k++)
		ck_assert_int_eq(pkvm_pkeys_free(&set, k), -EINVAL);
	k = pkvm_pkeys_alloc(&set);
	ck_assert_int_gt(k, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pkvm_pkey_set before = set;

		ck_assert_msg(pkvm_pkeys_free(&set, bad[i]) == -EINVAL, "free(%d) accepted", bad[i]);
		ck_assert_msg(memcmp(&before, &set, sizeof(set)) == 0, "free(%d) changed the set",
			      bad[i]);
	}
	ck_assert(pkvm_pkeys_is_allocated(&set, 0));
	ck_assert(pkvm_pkeys_is_allocated(&set, k));
}
END_TEST

START_TEST(test_pkeys_sets_independent)
{
	struct pkvm_pkey_set s1, s2;

	pkvm_pkeys_init(&s1);
	pkvm_pkeys_init(&s2);
	for (int i = 1; i < PKVM_NR_PKEYS; i++)
		ck_assert_int_gt(pkvm_pkeys_alloc(&s1), 0);
	ck_assert_int_eq(pkvm_pkeys_alloc(&s1), -ENOSPC);
	int k2 = pkvm_pkeys_alloc(&s2);
	int n = 0;

	ck_assert_int_gt(k2, 0);
	for (int k = 0; k < PKVM_NR_PKEYS; k++)
		n += pkvm_pkeys_is_allocated(&s2, k);
	ck_assert_int_eq(n, 2);		/* key 0 and k2 only */
	ck_assert_int_eq(pkvm_pkeys_free(&s2, k2), 0);
	ck_assert(pkvm_pkeys_is_allocated(&s1, k2));
}
END_TEST

/* ------------------------------------------------------------------------- */
/* PKRU encoding: "bit 2i is ADi (access disable), bit 2i+1 is WDi".          */

START_TEST(test_pkru_bits)
{
	uint32_t all = 0;

	for (unsigned k = 0; k < PKVM_NR_PKEYS; k++) {
		ck_assert_uint_eq(pkvm_pkru_ad(k), (uint32_t)1 << (2 * k));
		ck_assert_uint_eq(pkvm_pkru_wd(k), (uint32_t)1 << (2 * k + 1));
		ck_assert_uint_eq(all & (pkvm_pkru_ad(k) | pkvm_pkru_wd(k)), 0);
		all |= pkvm_pkru_ad(k) | pkvm_pkru_wd(k);
	}
	ck_assert_uint_eq(all, 0xffffffffU);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* The permission decision.                                                   */

enum { M_WP = 1, M_SMEP = 2, M_SMAP = 4, M_PKE = 8, M_NXE = 16, NR_MODES = 32 };

static struct pkvm_mmu_mode mode_of(unsigned m)
{
	return (struct pkvm_mmu_mode){
		.wp = m & M_WP, .smep = m & M_SMEP, .smap = m & M_SMAP,
		.pke = m & M_PKE, .nxe = m & M_NXE,
	};
}

/*
 * Each rule of the docs/protection-keys.md table, as a condition that denies.  For the eight
 * real accesses this is exactly the table; for the encodings no CPU produces
 * (a fetch that is also a write; SMAP_EXEMPT on a user access or a fetch) the
 * rules simply compose, as in KVM's update_permission_bitmask().
 */
static bool oracle_rights_deny(unsigned acc, unsigned pte_acc, unsigned m)
{
	bool user = acc & PKVM_ACC_USER, write = acc & PKVM_ACC_WRITE;
	bool fetch = acc & PKVM_ACC_FETCH, ac = acc & PKVM_ACC_SMAP_EXEMPT;
	bool w = pte_acc & PKVM_PTE_ACC_W, u = pte_acc & PKVM_PTE_ACC_U;
	bool exec = !(m & M_NXE) || (pte_acc & PKVM_PTE_ACC_X);

	if (user && !u)					/* user access to a supervisor address */
		return true;
	if (write && !w && (user || (m & M_WP)))	/* "needs writable" (WP=1 for supervisor) */
		return true;
	if (fetch && !exec)				/* "needs executable" */
		return true;
	if (fetch && !user && u && (m & M_SMEP))	/* supervisor fetch, user address */
		return true;
	if (!fetch && !user && u && (m & M_SMAP) && !ac) /* supervisor data, user address */
		return true;
	return false;
}

static bool oracle_pk_deny(unsigned acc, unsigned pte_acc, unsigned key, uint32_t pkru, unsigned m)
{
	bool user = acc & PKVM_ACC_USER, write = acc & PKVM_ACC_WRITE;
	bool ad = pkru >> (2 * key) & 1, wd = pkru >> (2 * key + 1) & 1;

	/* Only with CR4.PKE, only data accesses, only user-mode addresses. */
	if (!(m & M_PKE) || (acc & PKVM_ACC_FETCH) || !(pte_acc & PKVM_PTE_ACC_U))
		return false;
	if (ad)
		return true;
	/* WD: user writes; supervisor writes only with CR0.WP=1. */
	return write && wd && (user || (m & M_WP));
}

static uint32_t oracle_check(unsigned acc, unsigned pte_acc, unsigned key, uint32_t pkru, unsigned m)
{
	bool pk = oracle_pk_deny(acc, pte_acc, key, pkru, m);

	if (!pk && !oracle_rights_deny(acc, pte_acc, m))
		return 0;
	return PFEC_P | (pk ? PFEC_PK : 0);
}

static const char *acc_str(unsigned acc)
{
	static char buf[80];

	snprintf(buf, sizeof(buf), "%s%s%s%s", acc & PKVM_ACC_USER ? "user" : "supervisor",
		 acc & PKVM_ACC_WRITE ? " write" : "", acc & PKVM_ACC_FETCH ? " fetch" : "",
		 acc & PKVM_ACC_SMAP_EXEMPT ? " smap-exempt" : "");
	return buf;
}

/* PKRU values: the corners, every (AD, WD) of every key over quiet and noisy others, and noise. */
static unsigned pkru_values(uint32_t *v)
{
	unsigned n = 0;
	uint32_t x = 0x2545f491;

	v[n++] = 0;
	v[n++] = 0xffffffff;
	v[n++] = 0x55555555;
	v[n++] = 0xaaaaaaaa;
	for (unsigned k = 0; k < PKVM_NR_PKEYS; k++) {
		for (uint32_t b = 1; b < 4; b++) {
			v[n++] = b << (2 * k);
			v[n++] = ~(3U << (2 * k)) | b << (2 * k);
		}
		v[n++] = ~(3U << (2 * k));
	}
	for (unsigned i = 0; i < 32; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v[n++] = x;
	}
	return n;
}

START_TEST(test_pkeys_check_exhaustive)
{
	uint32_t pkru[4 + 16 * 7 + 32];
	unsigned npkru = pkru_values(pkru);
	unsigned long checks = 0, mismatches = 0;

	ck_assert_uint_le(npkru, sizeof(pkru) / sizeof(pkru[0]));
	for (unsigned m = 0; m < NR_MODES; m++) {
		struct pkvm_mmu_mode mode = mode_of(m);
		struct pkvm_perm_masks masks;

		/* The masks must not depend on what the structure held before. */
		memset(&masks, 0xff, sizeof(masks));
		pkvm_pkeys_compute_masks(&masks, &mode);
		for (unsigned index = 0; index < 16; index++) {
			unsigned acc = index << 1;

			/* No access is both a fetch and a write: docs/protection-keys.md gives no answer. */
			if ((acc & PKVM_ACC_FETCH) && (acc & PKVM_ACC_WRITE))
				continue;
			for (unsigned pte_acc = 0; pte_acc < 8; pte_acc++) {
				/* Left to test_pkeys_check_nxe0_all_executable, so it fails alone. */
				if (!(m & M_NXE) && !(pte_acc & PKVM_PTE_ACC_X) &&
				    (acc & PKVM_ACC_FETCH))
					continue;
				for (unsigned key = 0; key < PKVM_NR_PKEYS; key++) {
					for (unsigned p = 0; p < npkru; p++) {
						uint32_t want = oracle_check(acc, pte_acc, key, pkru[p], m);
						uint32_t got = pkvm_pkeys_check(&masks, acc, pte_acc, key,
										pkru[p]);

						checks++;
						if (got == want)
							continue;
						if (mismatches++ < 10)
							fprintf(stderr,
								"MISMATCH: WP=%u SMEP=%u SMAP=%u PKE=%u NXE=%u, %s (access %#x), pte_acc %s%s%s, key %u, pkru %#010x: got %#x want %#x\n",
								!!(m & M_WP), !!(m & M_SMEP), !!(m & M_SMAP),
								!!(m & M_PKE), !!(m & M_NXE), acc_str(acc), acc,
								pte_acc & PKVM_PTE_ACC_U ? "U" : "-",
								pte_acc & PKVM_PTE_ACC_W ? "W" : "-",
								pte_acc & PKVM_PTE_ACC_X ? "X" : "-", key,
								pkru[p], got, want);
					}
				}
			}
		}
	}
	fprintf(stderr, "pkeys_check: %lu checks, %lu mismatches\n", checks, mismatches);
	ck_assert_uint_eq(mismatches, 0);
}
END_TEST

/*
 * "Executable: with EFER.NXE=1, XD=0 in every entry": with NXE=0 every page is
 * executable whatever @pte_acc says (KVM: "if (!efer_nx) ff = 0").  The walker
 * never produces X=0 with NXE=0 (XD is then a reserved bit), but the check
 * itself must still follow the rule for any caller that computes @pte_acc.
 */
START_TEST(test_pkeys_check_nxe0_all_executable)
{
	for (unsigned m = 0; m < NR_MODES; m++) {
		struct pkvm_mmu_mode mode = mode_of(m);
		struct pkvm_perm_masks masks;

		if (m & M_NXE)
			continue;
		pkvm_pkeys_compute_masks(&masks, &mode);
		for (unsigned user = 0; user < 2; user++) {
			unsigned acc = PKVM_ACC_FETCH | (user ? PKVM_ACC_USER : 0);

			for (unsigned pte_acc = 0; pte_acc < 8; pte_acc += PKVM_PTE_ACC_W) {
				/* pte_acc has no X here: 0, W, U, U|W. */
				uint32_t want = oracle_check(acc, pte_acc, 0, 0, m);
				uint32_t got = pkvm_pkeys_check(&masks, acc, pte_acc, 0, 0);

				ck_assert_msg(got == want,
					      "NXE=0 mode %#x, %s, pte_acc %#x (X clear): got %#x, want %#x",
					      m, acc_str(acc), pte_acc, got, want);
			}
		}
	}
}
END_TEST

/* A few cases spelled out from docs/protection-keys.md, so a reader can see the rules at work. */
START_TEST(test_pkeys_check_examples)
{
	const unsigned uw = PKVM_PTE_ACC_U | PKVM_PTE_ACC_W, urw_x = uw | PKVM_PTE_ACC_X;
	struct pkvm_mmu_mode mode = { .wp = true, .smep = true, .smap = true, .pke = true, .nxe = true };
	struct pkvm_perm_masks m;

	pkvm_pkeys_compute_masks(&m, &mode);
	/* "a user write to a read-only page whose key also has WD reports P|W|U|PK" (P|PK here). */
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_USER | PKVM_ACC_WRITE, PKVM_PTE_ACC_U, 4,
					   pkvm_pkru_wd(4)), PFEC_P | PFEC_PK);
	/* AD stops user reads; WD does not. */
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_USER, uw, 4, pkvm_pkru_ad(4)), PFEC_P | PFEC_PK);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_USER, uw, 4, pkvm_pkru_wd(4)), 0);
	/* Fetches never see keys: execute-only memory. */
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_USER | PKVM_ACC_FETCH, urw_x, 4, 0xffffffff), 0);
	/* copy_from_user: explicit supervisor access with AC=1, WP=1. */
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_SMAP_EXEMPT, uw, 4, 0), 0);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_SMAP_EXEMPT, uw, 4, pkvm_pkru_ad(4)),
			  PFEC_P | PFEC_PK);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_SMAP_EXEMPT | PKVM_ACC_WRITE, uw, 4,
					   pkvm_pkru_wd(4)), PFEC_P | PFEC_PK);
	/* SMAP without AC denies, and a key's AD is reported alongside. */
	ck_assert_uint_eq(pkvm_pkeys_check(&m, 0, uw, 4, 0), PFEC_P);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, 0, uw, 4, pkvm_pkru_ad(4)), PFEC_P | PFEC_PK);
	/* Supervisor pages ignore keys. */
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_WRITE, PKVM_PTE_ACC_W, 4, 0xffffffff), 0);

	/* With WP=0, WD no longer stops supervisor writes, but AD still does. */
	mode.wp = false;
	pkvm_pkeys_compute_masks(&m, &mode);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_SMAP_EXEMPT | PKVM_ACC_WRITE, PKVM_PTE_ACC_U,
					   4, pkvm_pkru_wd(4)), 0);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_SMAP_EXEMPT | PKVM_ACC_WRITE, PKVM_PTE_ACC_U,
					   4, pkvm_pkru_ad(4)), PFEC_P | PFEC_PK);

	/* PKE=0: keys never matter. */
	mode.pke = false;
	pkvm_pkeys_compute_masks(&m, &mode);
	ck_assert_uint_eq(pkvm_pkeys_check(&m, PKVM_ACC_USER | PKVM_ACC_WRITE, uw, 4, 0xffffffff), 0);
}
END_TEST

static Suite *pkeys_suite(void)
{
	Suite *s = suite_create("pkeys");
	TCase *tc;

	tc = tcase_create("alloc");
	tcase_add_test(tc, test_pkeys_init);
	tcase_add_test(tc, test_pkeys_alloc_all);
	tcase_add_test(tc, test_pkeys_free_realloc);
	tcase_add_test(tc, test_pkeys_claim);
	tcase_add_test(tc, test_pkeys_free_invalid);
	tcase_add_test(tc, test_pkeys_sets_independent);
	suite_add_tcase(s, tc);

	tc = tcase_create("pkru");
	tcase_add_test(tc, test_pkru_bits);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_set_timeout(tc, 60);	/* well under a second at -O2; room for sanitizers */
	tcase_add_test(tc, test_pkeys_check_exhaustive);
	tcase_add_test(tc, test_pkeys_check_nxe0_all_executable);
	tcase_add_test(tc, test_pkeys_check_examples);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pkeys_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
