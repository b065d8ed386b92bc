/* test_xsave.c: the XSAVE layout, guest XCR0 and PKRU-in-buffer code, and CPUID table editing. */
/*
 * The CPUID tables here are modelled on what KVM_GET_SUPPORTED_CPUID reports
 * on real parts (SDM vol. 1 §13.4, table 13-1 for the standard-form offsets):
 * a Skylake-SP-like CPU with AVX-512 and PKU, a Haswell-like one with AVX2
 * only, and a Sapphire-Rapids-like one with AMX on top.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "cpuid.h"
#include "x86.h"
#include "xsave.h"

#define SIG		KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define MAX_ENT		32

/* The architectural standard-form places (SDM vol. 1 table 13-1 and CPUID on real parts). */
#define AVX_OFF		576
#define AVX_SIZE	256
#define OPMASK_OFF	1088
#define OPMASK_SIZE	64
#define ZMMH_OFF	1152
#define ZMMH_SIZE	512
#define HI16_OFF	1664
#define HI16_SIZE	1024
#define PKRU_OFF	2688
#define PKRU_SIZE	8
#define SKX_MAX		2696		/* PKRU_OFF + PKRU_SIZE */
#define SKX_XCR0	0x2e7ULL	/* x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU */
#define AVX512		(XFEATURE_MASK(XFEATURE_OPMASK) | XFEATURE_MASK(XFEATURE_ZMM_HI256) | \
			 XFEATURE_MASK(XFEATURE_HI16_ZMM))
#define PKRU_BIT	XFEATURE_MASK(XFEATURE_PKRU)

struct table {
	struct kvm_cpuid_entry2 e[MAX_ENT];
	unsigned n;
};

static struct kvm_cpuid_entry2 *add(struct table *t, uint32_t function, uint32_t index,
				    uint32_t flags, uint32_t eax, uint32_t ebx, uint32_t ecx,
				    uint32_t edx)
{
	struct kvm_cpuid_entry2 *e;

	ck_assert_uint_lt(t->n, MAX_ENT);
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
	return e;
}

/* Leaf 0xD sub-leaf 0 and 1, in the shape KVM gives them. */
static void add_xsave_base(struct table *t, uint64_t xcr0, uint32_t max_size)
{
	add(t, 0xd, 0, SIG, (uint32_t)xcr0, 576, max_size, (uint32_t)(xcr0 >> 32));
	add(t, 0xd, 1, SIG, 0xf, 0x240, 0, 0);
}

static void model_common(struct table *t)
{
	memset(t, 0, sizeof(*t));
	add(t, 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(t, 1, 0, 0, 0x50654, 0x800, 0xfffa3203 | CPUID_1_ECX_XSAVE, 0x1f8bfbff);
	add(t, 4, 3, SIG, 0x3c07c163, 0x04c0003f, 0x0000ffff, 0x00000006);
	add(t, 0x80000008, 0, 0, 0x0000302e, 0, 0, 0);
}

/* Skylake-SP with PKU: AVX, AVX-512 and PKRU, and the supervisor PT component (8). */
static void model_skx(struct table *t)
{
	model_common(t);
	add(t, 7, 0, SIG, 0, 0xd39ffffb, CPUID_7_ECX_PKU | CPUID_7_ECX_OSPKE | 0x2 | (1U << 30),
	    0xbc000400);
	add_xsave_base(t, SKX_XCR0, SKX_MAX);
	add(t, 0xd, 2, SIG, AVX_SIZE, AVX_OFF, 0, 0);
	add(t, 0xd, 5, SIG, OPMASK_SIZE, OPMASK_OFF, 0, 0);
	add(t, 0xd, 6, SIG, ZMMH_SIZE, ZMMH_OFF, 0, 0);
	add(t, 0xd, 7, SIG, HI16_SIZE, HI16_OFF, 0, 0);
	add(t, 0xd, 8, SIG, 128, 0, 1, 0);		/* supervisor: ECX bit 0 */
	add(t, 0xd, 9, SIG, PKRU_SIZE, PKRU_OFF, 0, 0);
}

/* Haswell: AVX2, no AVX-512, no PKU. */
static void model_hsw(struct table *t)
{
	model_common(t);
	add(t, 7, 0, SIG, 0, 0x000027ab, 0, 0x9c000400);
	add_xsave_base(t, 0x7, AVX_OFF + AVX_SIZE);
	add(t, 0xd, 2, SIG, AVX_SIZE, AVX_OFF, 0, 0);
}

/* Sapphire Rapids: Skylake-SP plus AMX (17: XTILECFG, 18: XTILEDATA). */
static void model_spr(struct table *t)
{
	struct kvm_cpuid_entry2 *e;

	model_skx(t);
	e = pkvm_cpuid_find(t->e, t->n, 0xd, 0);
	e->eax = (uint32_t)(SKX_XCR0 | XFEATURE_MASK(17) | XFEATURE_MASK(18));
	e->ecx = 11008;
	add(t, 0xd, 17, SIG, 64, 2752, 0, 0);
	add(t, 0xd, 18, SIG, 8192, 2816, 2, 0);	/* ECX bit 1: 64-byte aligned when compacted */
}

static struct kvm_cpuid_entry2 *find(struct table *t, uint32_t function, uint32_t index)
{
	struct kvm_cpuid_entry2 *e = pkvm_cpuid_find(t->e, t->n, function, index);

	ck_assert_ptr_nonnull(e);
	return e;
}

static void expect_feature(const struct pkvm_xsave_layout *l, unsigned f, uint32_t offset,
			   uint32_t size)
{
	ck_assert_msg(l->feature[f].offset == offset && l->feature[f].size == size,
		      "feature %u at %u size %u, expected %u size %u", f, l->feature[f].offset,
		      l->feature[f].size, offset, size);
}

static void layout_of(struct table *t, struct pkvm_xsave_layout *l)
{
	ck_assert_int_eq(pkvm_xsave_layout_init(l, t->e, t->n), 0);
}

/* ------------------------------------------------------------------------- */
/* Layout.                                                                    */

START_TEST(test_xsave_layout_skx)
{
	struct table t;
	struct pkvm_xsave_layout l;

	model_skx(&t);
	memset(&l, 0xa5, sizeof(l));
	layout_of(&t, &l);
	ck_assert_uint_eq(l.supported_xcr0, SKX_XCR0);
	ck_assert_uint_eq(l.max_size, SKX_MAX);
	expect_feature(&l, XFEATURE_X87, 0, 160);
	expect_feature(&l, XFEATURE_SSE, 160, 256);
	expect_feature(&l, XFEATURE_YMM, AVX_OFF, AVX_SIZE);
	expect_feature(&l, XFEATURE_OPMASK, OPMASK_OFF, OPMASK_SIZE);
	expect_feature(&l, XFEATURE_ZMM_HI256, ZMMH_OFF, ZMMH_SIZE);
	expect_feature(&l, XFEATURE_HI16_ZMM, HI16_OFF, HI16_SIZE);
	expect_feature(&l, XFEATURE_PKRU, PKRU_OFF, PKRU_SIZE);
	/* Components outside XCR0 (MPX, the supervisor PT state) stay empty. */
	for (unsigned f = 3; f < PKVM_XSAVE_MAX_FEATURES; f++)
		if (f != 5 && f != 6 && f != 7 && f != 9)
			expect_feature(&l, f, 0, 0);

	/* The order of the table does not matter. */
	for (unsigned i = 0; i < t.n / 2; i++) {
		struct kvm_cpuid_entry2 tmp = t.e[i];

		t.e[i] = t.e[t.n - 1 - i];
		t.e[t.n - 1 - i] = tmp;
	}
	{
		struct pkvm_xsave_layout l2;

		layout_of(&t, &l2);
		ck_assert(memcmp(&l, &l2, sizeof(l)) == 0);
	}
}
END_TEST

START_TEST(test_xsave_layout_other_models)
{
	struct table t;
	struct pkvm_xsave_layout l;

	model_hsw(&t);
	layout_of(&t, &l);
	ck_assert_uint_eq(l.supported_xcr0, 0x7);
	ck_assert_uint_eq(l.max_size, 832);
	expect_feature(&l, XFEATURE_YMM, AVX_OFF, AVX_SIZE);
	expect_feature(&l, XFEATURE_PKRU, 0, 0);

	model_spr(&t);
	layout_of(&t, &l);
	ck_assert_uint_eq(l.supported_xcr0, 0x602e7);
	ck_assert_uint_eq(l.max_size, 11008);
	expect_feature(&l, 17, 2752, 64);
	expect_feature(&l, 18, 2816, 8192);
	expect_feature(&l, XFEATURE_PKRU, PKRU_OFF, PKRU_SIZE);

	/* A bit above 31 of XCR0 comes from EDX. */
	model_skx(&t);
	find(&t, 0xd, 0)->edx = 1;		/* component 32 */
	find(&t, 0xd, 0)->ecx = SKX_MAX + 64;
	add(&t, 0xd, 32, SIG, 64, SKX_MAX, 0, 0);
	layout_of(&t, &l);
	ck_assert_uint_eq(l.supported_xcr0, SKX_XCR0 | (1ULL << 32));
	expect_feature(&l, 32, SKX_MAX, 64);
}
END_TEST

START_TEST(test_xsave_layout_enoent)
{
	struct table t;
	struct pkvm_xsave_layout l;

	memset(&l, 0xa5, sizeof(l));
	ck_assert_int_eq(pkvm_xsave_layout_init(&l, NULL, 0), -ENOENT);
	for (size_t i = 0; i < sizeof(l); i++)
		ck_assert_uint_eq(((uint8_t *)&l)[i], 0);

	model_common(&t);
	add(&t, 7, 0, SIG, 0, 0, CPUID_7_ECX_PKU, 0);
	ck_assert_int_eq(pkvm_xsave_layout_init(&l, t.e, t.n), -ENOENT);
	/* Sub-leaves of 0xD without sub-leaf 0 are no layout either. */
	add(&t, 0xd, 2, SIG, AVX_SIZE, AVX_OFF, 0, 0);
	add(&t, 0xd, 9, SIG, PKRU_SIZE, PKRU_OFF, 0, 0);
	ck_assert_int_eq(pkvm_xsave_layout_init(&l, t.e, t.n), -ENOENT);
	/* The full table with its leaf 0xD entries not counted. */
	model_skx(&t);
	ck_assert_int_eq(pkvm_xsave_layout_init(&l, t.e, 4), -ENOENT);
}
END_TEST

START_TEST(test_xsave_layout_einval)
{
	static const struct {
		uint32_t subleaf, eax, ebx;	/* replaces EAX/EBX of that 0xD sub-leaf */
		uint32_t max_size;		/* replaces 0xD.0 ECX when non-zero */
		int result;
	} cases[] = {
		{ 9, PKRU_SIZE, 512, 0, -EINVAL },		/* inside the XSAVE header */
		{ 9, PKRU_SIZE, 575, 0, -EINVAL },		/* last header byte */
		{ 9, PKRU_SIZE, 568, 0, -EINVAL },		/* straddling its end */
		{ 2, AVX_SIZE, 0, 0, -EINVAL },			/* over the legacy area */
		{ 2, AVX_SIZE, 160, 0, -EINVAL },
		{ 9, PKRU_SIZE, 576, 0, 0 },			/* just after the header */
		{ 9, PKRU_SIZE, 2692, 0, -EINVAL },		/* past the end */
		{ 9, PKRU_SIZE, 2689, 0, -EINVAL },
		{ 9, PKRU_SIZE, PKRU_OFF, 2695, -EINVAL },	/* max size one short */
		{ 9, PKRU_SIZE, PKRU_OFF, 2696, 0 },		/* exactly fits */
		{ 9, PKRU_SIZE, 0xfffffff8, 0, -EINVAL },	/* offset + size wraps */
		{ 9, 0xfffffff0, PKRU_OFF, 0, -EINVAL },
		{ 9, 0xffffffff, 0xffffffff, 0, -EINVAL },
		{ 9, SKX_MAX, 576, 0, -EINVAL },		/* bigger than the area after the header */
		{ 9, 0, PKRU_OFF, 0, -EINVAL },			/* zero size */
		{ 2, 0, AVX_OFF, 0, -EINVAL },
		{ 7, 0, 0, 0, -EINVAL },
		{ 2, AVX_SIZE, AVX_OFF, 100, -EINVAL },		/* max size below the components */
	};
	struct pkvm_xsave_layout l;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct table t;
		struct kvm_cpuid_entry2 *e;

		model_skx(&t);
		e = find(&t, 0xd, cases[i].subleaf);
		e->eax = cases[i].eax;
		e->ebx = cases[i].ebx;
		if (cases[i].max_size)
			find(&t, 0xd, 0)->ecx = cases[i].max_size;
		ck_assert_msg(pkvm_xsave_layout_init(&l, t.e, t.n) == cases[i].result,
			      "case %zu: sub-leaf %u at %u size %u, max %u", i, cases[i].subleaf,
			      cases[i].ebx, cases[i].eax, cases[i].max_size);
	}

	/* A supported component without its sub-leaf. */
	{
		struct table t;

		model_skx(&t);
		find(&t, 0xd, 9)->function = 0x4000000d;
		ck_assert_int_eq(pkvm_xsave_layout_init(&l, t.e, t.n), -EINVAL);
		model_skx(&t);
		find(&t, 0xd, 0)->eax |= XFEATURE_MASK(3);	/* MPX claimed, no 0xD.3 */
		ck_assert_int_eq(pkvm_xsave_layout_init(&l, t.e, t.n), -EINVAL);
		/* A component claimed in EDX (bit 63) with nothing behind it. */
		model_skx(&t);
		find(&t, 0xd, 0)->edx = 0x80000000;
		ck_assert_int_eq(pkvm_xsave_layout_init(&l, t.e, t.n), -EINVAL);
	}
}
END_TEST

/* ------------------------------------------------------------------------- */
/* The guest's XCR0.                                                          */

START_TEST(test_xsave_guest_xcr0)
{
	static const struct {
		int want_pkru;
		size_t buf_size;
		uint64_t xcr0;
	} skx[] = {
		{ 0, 4096, 0xe7 },
		{ 1, 4096, 0x2e7 },
		{ 2, 4096, 0x2e7 },		/* any non-zero is "want" */
		{ 1, SKX_MAX, 0x2e7 },		/* everything fits exactly */
		{ 1, SKX_MAX - 1, 0xe7 },	/* PKRU does not */
		{ 1, PKRU_OFF + 4, 0xe7 },	/* the whole component must fit, not just PKRU */
		{ 1, PKRU_OFF, 0xe7 },
		{ 1, HI16_OFF + HI16_SIZE, 0xe7 },
		{ 1, HI16_OFF + HI16_SIZE - 1, 0x7 },	/* Hi16_ZMM out: the whole trio goes */
		{ 0, ZMMH_OFF + ZMMH_SIZE, 0x7 },
		{ 0, OPMASK_OFF + OPMASK_SIZE, 0x7 },
		{ 0, AVX_OFF + AVX_SIZE, 0x7 },
		{ 0, AVX_OFF + AVX_SIZE - 1, 0x3 },
		{ 1, 576, 0x3 },
		{ 1, 0, 0x3 },			/* the legacy area is not checked: callers use >= 4096 */
	};
	struct table t;
	struct pkvm_xsave_layout l;

	model_skx(&t);
	layout_of(&t, &l);
	for (size_t i = 0; i < sizeof(skx) / sizeof(skx[0]); i++)
		ck_assert_msg(pkvm_xsave_guest_xcr0(&l, skx[i].want_pkru, skx[i].buf_size) ==
			      skx[i].xcr0, "case %zu: %#" PRIx64 ", expected %#" PRIx64, i,
			      pkvm_xsave_guest_xcr0(&l, skx[i].want_pkru, skx[i].buf_size),
			      skx[i].xcr0);

	/* PKRU only when supported. */
	model_hsw(&t);
	layout_of(&t, &l);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 4096), 0x7);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 0, 4096), 0x7);

	/* AMX never, however large the buffer. */
	model_spr(&t);
	layout_of(&t, &l);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 4096), 0x2e7);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 16384), 0x2e7);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 0, 16384), 0xe7);

	/* x87 always, even from an empty layout. */
	memset(&l, 0, sizeof(l));
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 4096), 0x1);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 0, 0), 0x1);
}
END_TEST

/* Each AVX-512 component missing in turn: the other two must go as well. */
START_TEST(test_xsave_guest_xcr0_avx512_trio)
{
	static const unsigned parts[] = { XFEATURE_OPMASK, XFEATURE_ZMM_HI256, XFEATURE_HI16_ZMM };
	struct table t;
	struct pkvm_xsave_layout l;

	for (unsigned i = 0; i < 3; i++) {
		model_skx(&t);
		find(&t, 0xd, 0)->eax &= ~(uint32_t)XFEATURE_MASK(parts[i]);
		layout_of(&t, &l);
		ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 4096), 0x207);
		ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 0, 4096), 0x7);
	}
	/* AVX-512 over no AVX is not a valid XCR0 (XSETBV #GP). */
	model_skx(&t);
	find(&t, 0xd, 0)->eax &= ~(uint32_t)XFEATURE_MASK(XFEATURE_YMM);
	layout_of(&t, &l);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 4096), 0x203);

	/* Whatever the buffer size, the result is a valid XCR0 (SDM vol. 1 §13.3). */
	model_skx(&t);
	layout_of(&t, &l);
	for (size_t size = 0; size <= 4096; size++) {
		uint64_t x = pkvm_xsave_guest_xcr0(&l, 1, size);

		ck_assert(x & 1);
		ck_assert((x & AVX512) == 0 || (x & AVX512) == AVX512);
		ck_assert(!(x & AVX512) || (x & XFEATURE_MASK(XFEATURE_YMM)));
		ck_assert(!(x & XFEATURE_MASK(XFEATURE_YMM)) || (x & XFEATURE_MASK(XFEATURE_SSE)));
		ck_assert((x & ~SKX_XCR0) == 0);
		for (unsigned f = 2; f < 10; f++)
			if (x & XFEATURE_MASK(f))
				ck_assert_uint_le(l.feature[f].offset + l.feature[f].size, size);
	}
}
END_TEST

/* ------------------------------------------------------------------------- */
/* PKRU in the XSAVE buffer.                                                  */

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void fill_random(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rng();
}

static uint64_t get_xstate_bv(const uint8_t *buf)
{
	uint64_t bv;

	memcpy(&bv, buf + XSAVE_HDR_OFFSET, sizeof(bv));
	return bv;
}

static void put_xstate_bv(uint8_t *buf, uint64_t bv)
{
	memcpy(buf + XSAVE_HDR_OFFSET, &bv, sizeof(bv));
}

START_TEST(test_xsave_pkru_roundtrip)
{
	struct table t;
	struct pkvm_xsave_layout l;
	uint8_t *buf = malloc(4096), *copy = malloc(4096);
	uint32_t pkru, stored;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(copy);
	model_skx(&t);
	layout_of(&t, &l);
	fill_random(buf, 4096);

	/* Init state: XSTATE_BV[9] clear reads as 0 whatever the bytes say. */
	put_xstate_bv(buf, get_xstate_bv(buf) & ~PKRU_BIT);
	memcpy(buf + PKRU_OFF, "\xde\xad\xbe\xef", 4);
	pkru = 0x12345678;
	ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, 4096, &pkru), 0);
	ck_assert_uint_eq(pkru, 0);

	for (unsigned i = 0; i < 3000; i++) {
		uint32_t value;
		uint64_t bv_before;

		if (i < 32)
			value = 1U << i;
		else if (i == 32)
			value = 0;
		else if (i == 33)
			value = 0xffffffff;
		else if (i == 34)
			value = 0x55555554;	/* Linux's default: every key but 0 access-disabled */
		else
			value = (uint32_t)rng();
		/* Sometimes start from the init state, sometimes from an old value. */
		if (i % 3 == 0)
			put_xstate_bv(buf, get_xstate_bv(buf) & ~PKRU_BIT);
		bv_before = get_xstate_bv(buf);
		memcpy(copy, buf, 4096);
		ck_assert_int_eq(pkvm_xsave_set_pkru(&l, buf, 4096, value), 0);
		/* XSTATE_BV gains bit 9 and nothing else; PKRU is little-endian at its offset. */
		ck_assert_uint_eq(get_xstate_bv(buf), bv_before | PKRU_BIT);
		memcpy(&stored, buf + PKRU_OFF, 4);
		ck_assert_uint_eq(stored, value);
		/* Every other byte, the rest of the PKRU component included, is untouched. */
		for (size_t b = 0; b < 4096; b++) {
			if (b >= PKRU_OFF && b < PKRU_OFF + 4)
				continue;
			if (b >= XSAVE_HDR_OFFSET && b < XSAVE_HDR_OFFSET + 8)
				continue;
			if (buf[b] != copy[b])
				ck_abort_msg("value %#x: byte %zu changed", value, b);
		}
		pkru = ~value;
		ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, 4096, &pkru), 0);
		ck_assert_uint_eq(pkru, value);
		/* Clearing the bit brings back the init state. */
		if (i % 7 == 0) {
			put_xstate_bv(buf, get_xstate_bv(buf) & ~PKRU_BIT);
			ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, 4096, &pkru), 0);
			ck_assert_uint_eq(pkru, 0);
			put_xstate_bv(buf, get_xstate_bv(buf) | PKRU_BIT);
		}
	}
	free(buf);
	free(copy);
}
END_TEST

START_TEST(test_xsave_pkru_unsupported)
{
	struct table t;
	struct pkvm_xsave_layout l;
	uint8_t buf[4096], copy[4096];
	uint32_t pkru = 0;

	fill_random(buf, sizeof(buf));
	put_xstate_bv(buf, PKRU_BIT);
	memcpy(copy, buf, sizeof(buf));
	model_hsw(&t);
	layout_of(&t, &l);
	ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, sizeof(buf), &pkru), -EOPNOTSUPP);
	ck_assert_int_eq(pkvm_xsave_set_pkru(&l, buf, sizeof(buf), 4), -EOPNOTSUPP);
	ck_assert(memcmp(buf, copy, sizeof(buf)) == 0);
	/* Also when the size is wrong too: the layout is the first thing that counts. */
	ck_assert_int_eq(pkvm_xsave_set_pkru(&l, buf, 0, 4), -EOPNOTSUPP);

	/* A layout whose XCR0 lacks PKRU, even with a stale slot. */
	model_skx(&t);
	layout_of(&t, &l);
	l.supported_xcr0 &= ~PKRU_BIT;
	ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, sizeof(buf), &pkru), -EOPNOTSUPP);
	ck_assert_int_eq(pkvm_xsave_set_pkru(&l, buf, sizeof(buf), 4), -EOPNOTSUPP);
	ck_assert(memcmp(buf, copy, sizeof(buf)) == 0);
}
END_TEST

START_TEST(test_xsave_pkru_small_buffer)
{
	static const size_t bad[] = { 0, 1, 8, 512, 519, PKRU_OFF, PKRU_OFF + 3 };
	struct table t;
	struct pkvm_xsave_layout l;
	uint32_t pkru;

	model_skx(&t);
	layout_of(&t, &l);
	/* Exact-size allocations: a sanitizer build catches any access past @size. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *buf = malloc(bad[i] ? bad[i] : 1);
		uint8_t *copy = malloc(bad[i] ? bad[i] : 1);

		ck_assert_ptr_nonnull(buf);
		ck_assert_ptr_nonnull(copy);
		fill_random(buf, bad[i]);
		memcpy(copy, buf, bad[i]);
		ck_assert_msg(pkvm_xsave_get_pkru(&l, buf, bad[i], &pkru) == -EINVAL, "size %zu",
			      bad[i]);
		ck_assert_msg(pkvm_xsave_set_pkru(&l, buf, bad[i], 0x10) == -EINVAL, "size %zu",
			      bad[i]);
		ck_assert(memcmp(buf, copy, bad[i]) == 0);
		free(buf);
		free(copy);
	}
	/* PKRU itself is 4 bytes: a buffer ending right after them is enough. */
	{
		uint8_t *buf = calloc(1, PKRU_OFF + 4);

		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(pkvm_xsave_set_pkru(&l, buf, PKRU_OFF + 4, 0xc0ffee), 0);
		ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, PKRU_OFF + 4, &pkru), 0);
		ck_assert_uint_eq(pkru, 0xc0ffee);
		free(buf);
	}
	/* A layout claiming a PKRU component smaller than PKRU. */
	{
		uint8_t buf[4096] = { 0 };

		l.feature[XFEATURE_PKRU].size = 2;
		ck_assert_int_eq(pkvm_xsave_get_pkru(&l, buf, sizeof(buf), &pkru), -EINVAL);
		ck_assert_int_eq(pkvm_xsave_set_pkru(&l, buf, sizeof(buf), 1), -EINVAL);
	}
}
END_TEST

/* ------------------------------------------------------------------------- */
/* CPUID.                                                                     */

START_TEST(test_cpuid_find)
{
	struct table t;

	memset(&t, 0, sizeof(t));
	add(&t, 7, 0, SIG, 0, 0x70, 0, 0);
	add(&t, 7, 1, SIG, 0x71, 0, 0, 0);
	add(&t, 0x80000008, 0xdeadbeef, 0, 0x302e, 0, 0, 0);	/* index not significant */
	add(&t, 0xd, 2, SIG, AVX_SIZE, AVX_OFF, 0, 0);
	add(&t, 0xd, 0, SIG, 0x7, 0, 832, 0);
	add(&t, 1, 5, 0, 0x1, 0, 0, 0);

	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 7, 0), &t.e[0]);
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 7, 1), &t.e[1]);
	ck_assert_ptr_null(pkvm_cpuid_find(t.e, t.n, 7, 2));
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 0x80000008, 0), &t.e[2]);
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 0x80000008, 7), &t.e[2]);
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 0xd, 0), &t.e[4]);
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 0xd, 2), &t.e[3]);
	ck_assert_ptr_null(pkvm_cpuid_find(t.e, t.n, 0xd, 1));
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 1, 0), &t.e[5]);
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 1, 5), &t.e[5]);
	ck_assert_ptr_null(pkvm_cpuid_find(t.e, t.n, 0x40000000, 0));
	ck_assert_ptr_null(pkvm_cpuid_find(t.e, t.n, 0x80000007, 0));
	/* Only the first @nent entries count. */
	ck_assert_ptr_null(pkvm_cpuid_find(t.e, 4, 0xd, 0));
	ck_assert_ptr_null(pkvm_cpuid_find(t.e, 0, 7, 0));
	ck_assert_ptr_null(pkvm_cpuid_find(NULL, 0, 7, 0));
	/* Other flag bits do not make an index significant. */
	t.e[2].flags = KVM_CPUID_FLAG_STATEFUL_FUNC;
	ck_assert_ptr_eq(pkvm_cpuid_find(t.e, t.n, 0x80000008, 3), &t.e[2]);
}
END_TEST

START_TEST(test_cpuid_shape_pku)
{
	struct table t, orig;
	const uint32_t other = 0x2 | (1U << 30);

	for (int pku = 0; pku < 2; pku++) {
		model_skx(&t);
		orig = t;
		pkvm_cpuid_shape(t.e, t.n, pku, pku ? SKX_XCR0 : SKX_XCR0 & ~PKRU_BIT);
		/* OSPKE always off (KVM sets it from CR4.PKE), PKU only for the hw backend. */
		ck_assert_uint_eq(find(&t, 7, 0)->ecx, other | (pku ? CPUID_7_ECX_PKU : 0));
		ck_assert_uint_eq(find(&t, 7, 0)->ebx, find(&orig, 7, 0)->ebx);
		ck_assert_uint_eq(find(&t, 7, 0)->edx, find(&orig, 7, 0)->edx);
		/* Leaves shape does not own are left alone. */
		for (unsigned i = 0; i < t.n; i++)
			if (t.e[i].function != 7 && t.e[i].function != 0xd)
				ck_assert(memcmp(&t.e[i], &orig.e[i], sizeof(t.e[i])) == 0);
	}
	/* OSPKE off even when PKU was never there. */
	model_hsw(&t);
	find(&t, 7, 0)->ecx = CPUID_7_ECX_OSPKE | 1;
	pkvm_cpuid_shape(t.e, t.n, true, 0x7);
	ck_assert_uint_eq(find(&t, 7, 0)->ecx, 1);

	/* No leaf 7, no leaf 0xD: nothing to do, nothing touched. */
	model_common(&t);
	orig = t;
	pkvm_cpuid_shape(t.e, t.n, false, 0x3);
	ck_assert(memcmp(&t, &orig, sizeof(t)) == 0);
	pkvm_cpuid_shape(NULL, 0, false, 0x3);
}
END_TEST

START_TEST(test_cpuid_shape_xsave)
{
	struct table t, orig;
	struct pkvm_xsave_layout l;

	/* AVX-512 and PKRU kept: every sub-leaf stays. */
	model_skx(&t);
	orig = t;
	pkvm_cpuid_shape(t.e, t.n, true, SKX_XCR0);
	ck_assert(memcmp(&t, &orig, sizeof(t)) != 0);	/* OSPKE went */
	for (unsigned i = 0; i < t.n; i++)
		if (t.e[i].function == 0xd)
			ck_assert(memcmp(&t.e[i], &orig.e[i], sizeof(t.e[i])) == 0);

	/* Without PKRU: 0xD.0 EAX loses bit 9 and sub-leaf 9 is hidden. */
	model_skx(&t);
	orig = t;
	pkvm_cpuid_shape(t.e, t.n, false, 0xe7);
	ck_assert_uint_eq(find(&t, 0xd, 0)->eax, 0xe7);
	ck_assert_uint_eq(find(&t, 0xd, 0)->edx, 0);
	ck_assert_uint_eq(find(&t, 0xd, 0)->ecx, SKX_MAX);	/* sizes are KVM's business */
	{
		struct kvm_cpuid_entry2 *e = find(&t, 0xd, 9);

		ck_assert_uint_eq(e->eax | e->ebx | e->ecx | e->edx, 0);
		ck_assert_uint_eq(e->function, 0xd);
		ck_assert_uint_eq(e->index, 9);
		ck_assert_uint_eq(e->flags, SIG);
	}
	for (unsigned sub = 1; sub <= 8; sub++) {
		if (sub == 3 || sub == 4)
			continue;
		ck_assert(memcmp(find(&t, 0xd, sub), find(&orig, 0xd, sub), sizeof(t.e[0])) == 0);
	}
	/* The shaped table gives the layout the guest will see. */
	layout_of(&t, &l);
	ck_assert_uint_eq(l.supported_xcr0, 0xe7);
	expect_feature(&l, XFEATURE_PKRU, 0, 0);
	ck_assert_uint_eq(pkvm_xsave_guest_xcr0(&l, 1, 4096), 0xe7);

	/* Only AVX: the AVX-512 sub-leaves go too; the supervisor one (8, ECX bit 0) stays. */
	model_skx(&t);
	orig = t;
	pkvm_cpuid_shape(t.e, t.n, false, 0x7);
	ck_assert_uint_eq(find(&t, 0xd, 0)->eax, 0x7);
	for (unsigned sub = 5; sub <= 9; sub++) {
		struct kvm_cpuid_entry2 *e = find(&t, 0xd, sub);

		if (sub == 8)
			ck_assert(memcmp(e, find(&orig, 0xd, 8), sizeof(*e)) == 0);
		else
			ck_assert_uint_eq(e->eax | e->ebx | e->ecx | e->edx, 0);
	}
	ck_assert(memcmp(find(&t, 0xd, 2), find(&orig, 0xd, 2), sizeof(t.e[0])) == 0);
	ck_assert(memcmp(find(&t, 0xd, 1), find(&orig, 0xd, 1), sizeof(t.e[0])) == 0);

	/* AMX hidden by an XCR0 without it; kept by one with it. */
	model_spr(&t);
	pkvm_cpuid_shape(t.e, t.n, true, SKX_XCR0);
	ck_assert_uint_eq(find(&t, 0xd, 0)->eax, SKX_XCR0);
	ck_assert_uint_eq(find(&t, 0xd, 17)->eax | find(&t, 0xd, 17)->ebx, 0);
	ck_assert_uint_eq(find(&t, 0xd, 18)->eax | find(&t, 0xd, 18)->ebx | find(&t, 0xd, 18)->ecx,
			  0);
	ck_assert_uint_eq(find(&t, 0xd, 9)->eax, PKRU_SIZE);
	model_spr(&t);
	pkvm_cpuid_shape(t.e, t.n, true, 0x602e7);
	ck_assert_uint_eq(find(&t, 0xd, 18)->eax, 8192);

	/* XCR0 bits 63:32 mask EDX. */
	model_skx(&t);
	find(&t, 0xd, 0)->edx = 0x3;
	pkvm_cpuid_shape(t.e, t.n, true, SKX_XCR0 | (1ULL << 33));
	ck_assert_uint_eq(find(&t, 0xd, 0)->edx, 0x2);
	ck_assert_uint_eq(find(&t, 0xd, 0)->eax, SKX_XCR0);
	/* Masking only ever removes: bits XCR0 asks for but the CPU lacks are not added. */
	model_hsw(&t);
	pkvm_cpuid_shape(t.e, t.n, true, SKX_XCR0);
	ck_assert_uint_eq(find(&t, 0xd, 0)->eax, 0x7);

	/* Other leaves with the same sub-leaf numbers are not 0xD's. */
	model_skx(&t);
	add(&t, 0x14, 9, SIG, 1, 2, 0, 4);
	pkvm_cpuid_shape(t.e, t.n, false, 0x3);
	ck_assert_uint_eq(find(&t, 0x14, 9)->eax, 1);
	ck_assert_uint_eq(find(&t, 4, 3)->eax, 0x3c07c163);
}
END_TEST

START_TEST(test_cpuid_maxphyaddr)
{
	struct table t;

	model_common(&t);
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 46);
	find(&t, 0x80000008, 0)->eax = 0x3027;
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 39);
	find(&t, 0x80000008, 0)->eax = 0x3034;
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 52);
	find(&t, 0x80000008, 0)->eax = 0xffff3028;	/* only bits 7:0 */
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 40);
	/* A zero field is no answer: the SDM default. */
	find(&t, 0x80000008, 0)->eax = 0x3000;
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 36);
	/* Absent. */
	find(&t, 0x80000008, 0)->function = 0x80000007;
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 36);
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(NULL, 0), 36);
	/* Present only as a significant sub-leaf other than 0. */
	memset(&t, 0, sizeof(t));
	add(&t, 0x80000008, 1, SIG, 0x302e, 0, 0, 0);
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 36);
	add(&t, 0x80000008, 0, SIG, 0x3030, 0, 0, 0);
	ck_assert_uint_eq(pkvm_cpuid_maxphyaddr(t.e, t.n), 48);
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *xsave_suite(void)
{
	Suite *s = suite_create("xsave");
	TCase *tc;

	tc = tcase_create("layout");
	tcase_add_test(tc, test_xsave_layout_skx);
	tcase_add_test(tc, test_xsave_layout_other_models);
	tcase_add_test(tc, test_xsave_layout_enoent);
	tcase_add_test(tc, test_xsave_layout_einval);
	suite_add_tcase(s, tc);

	tc = tcase_create("xcr0");
	tcase_add_test(tc, test_xsave_guest_xcr0);
	tcase_add_test(tc, test_xsave_guest_xcr0_avx512_trio);
	suite_add_tcase(s, tc);

	tc = tcase_create("pkru");
	tcase_add_test(tc, test_xsave_pkru_roundtrip);
	tcase_add_test(tc, test_xsave_pkru_unsupported);
	tcase_add_test(tc, test_xsave_pkru_small_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("cpuid");
	tcase_add_test(tc, test_cpuid_find);
	tcase_add_test(tc, test_cpuid_shape_pku);
	tcase_add_test(tc, test_cpuid_shape_xsave);
	tcase_add_test(tc, test_cpuid_maxphyaddr);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xsave_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
