/*
 * test_conformance.c: one scenario suite, every backend.  Each scenario (an
 * access × page rights × key × the key's AD/WD × page size × who set PKRU) is
 * run in a guest and its outcome compared with the one docs/protection-keys.md
 * prescribes, written here from the rules, not from the library.  With more
 * than one backend it also compares them with each other, scenario by
 * scenario; PKVM_CONFORMANCE_TABLE=1 prints the whole table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmtest.h"

enum access { READ, WRITE, FETCH };
enum rights { RW, RO, RX };
enum setter { BY_HOST, BY_GUEST };

struct scenario {
	enum access access;
	enum rights rights;
	int key_is_k;		/* 0: key 0, 1: the allocated key K */
	unsigned adwd;		/* the AD/WD bits given to that key */
	int large;		/* 2 MiB page */
	enum setter setter;
};

struct outcome {
	int faulted;
	uint32_t pfec;
	uint64_t addr;
	int pkey;
	uint64_t value;		/* what a read returned */
};

#define PATTERN		0x5a5a5a5a5a5a5a5aULL
#define RET_BYTES	0xc3c3c3c3c3c3c3c3ULL	/* RX pages are full of RET */
#define CODE_KEY	3	/* code and stack keys are never denied */
#define STACK_KEY	2
#define REGION_KEY	1

static const char *const access_names[] = { "read", "write", "fetch" };
static const char *const rights_names[] = { "rw", "ro", "rx" };
static const char *const adwd_names[] = { "-", "AD", "WD", "AD|WD" };

/* ---- guest ---------------------------------------------------------------- */

GUEST_CODE static void guest_access(uint64_t access, volatile uint64_t *p, uint64_t pkru)
{
	if (pkru != ~0ULL)
		guest_wrpkru((uint32_t)pkru);
	if (access == READ)
		GUEST_SYNC(*p);
	else if (access == WRITE)
		*p = 1;
	else
		((void (*)(void))p)();
	GUEST_SYNC(0);
	GUEST_DONE();
}

/* ---- the rules of docs/protection-keys.md, for a user-mode access to a user-mode page ---- */

static struct outcome expected(const struct scenario *s, uint64_t addr, int backend)
{
	bool ad = s->adwd & 1, wd = s->adwd & 2;
	struct outcome o = { .addr = addr, .pkey = s->key_is_k ? REGION_KEY : 0 };

	switch (s->access) {
	case READ:	/* allowed unless AD(key) */
		o.faulted = ad;
		o.pfec = PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK;
		o.value = s->rights == RX ? RET_BYTES : PATTERN;
		break;
	case WRITE:	/* needs writable; denied if AD or WD; PK whenever the key denies */
		o.faulted = s->rights != RW || ad || wd;
		o.pfec = PKVM_PFEC_P | PKVM_PFEC_W | PKVM_PFEC_U | (ad || wd ? PKVM_PFEC_PK : 0);
		break;
	case FETCH:	/* needs executable; PK never applies */
		o.faulted = 0;
		/* The soft backend's documented difference: no execute-only pages. */
		if (backend == PKVM_PKEYS_SOFT && ad) {
			o.faulted = 1;
			o.pfec = PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_I;
		}
		break;
	}
	if (!o.faulted) {
		o.pfec = 0;
		o.addr = 0;
		o.pkey = 0;
	} else {
		o.value = 0;
	}
	return o;
}

/* ---- running scenarios ------------------------------------------------------ */

static uint64_t region_gva(const struct scenario *s)
{
	/* One region per (rights, key, size), 2 MiB apart so large pages fit. */
	return 0x40000000ULL + (((uint64_t)s->large * 6 + s->key_is_k * 3 + s->rights) << 21);
}

static void map_regions(struct vmtest *t)
{
	static uint64_t buf[(2 << 20) / 8];
	const int prots[] = { PKVM_PROT_READ | PKVM_PROT_WRITE, PKVM_PROT_READ, PKVM_PROT_EXEC };

	for (int large = 0; large < 2; large++)
		for (int k = 0; k < 2; k++)
			for (int r = RW; r <= RX; r++) {
				struct scenario s = { .rights = r, .key_is_k = k, .large = large };
				uint64_t len = large ? 2 << 20 : 4096;
				uint64_t fill = r == RX ? RET_BYTES : PATTERN;
				int err;

				for (size_t i = 0; i < len / 8; i++)
					buf[i] = fill;
				err = pkvm_map(t->vm, region_gva(&s), buf, len, len, prots[r],
					       k ? REGION_KEY : 0);
				ck_assert_msg(err == 0, "map: %s", pkvm_strerror(err));
			}
}

static struct vmtest *create(int backend_index)
{
	static struct vmtest t;

	vmtest_create(&t, backend_index);
	for (int k = 1; k <= CODE_KEY; k++)
		ck_assert_int_eq(pkvm_pkey_alloc(t.vm), k);
	ck_assert_int_eq(pkvm_set_pkey(t.vm, VMTEST_CODE_GVA, t.code_size, CODE_KEY), 0);
	ck_assert_int_eq(pkvm_set_pkey(t.vm, VMTEST_STACK_GVA, VMTEST_STACK_SIZE, STACK_KEY), 0);
	map_regions(&t);
	return &t;
}

static struct outcome run_scenario(struct vmtest *t, const struct scenario *s, uint64_t addr)
{
	uint32_t pkru = (uint32_t)s->adwd << (2 * (s->key_is_k ? REGION_KEY : 0));
	struct outcome o = { 0 };
	struct pkvm_exit *e;

	ck_assert_int_eq(pkvm_set_pkru(t->vm, s->setter == BY_HOST ? pkru : 0), 0);
	vmtest_start(t, guest_access, s->access, addr, s->setter == BY_GUEST ? pkru : ~0ULL);
	e = vmtest_run(t);
	if (e->reason == PKVM_EXIT_FAULT) {
		ck_assert_msg(e->fault.vector == PKVM_VEC_PF, "%s instead of #PF",
			      pkvm_vector_name(e->fault.vector));
		o.faulted = 1;
		o.pfec = e->fault.pfec;
		o.addr = e->fault.addr;
		o.pkey = e->fault.pkey;
		ck_assert_uint_eq(e->fault.error_code, e->fault.pfec);
		ck_assert_uint_eq(e->fault.pkru, pkru);
		return o;
	}
	ck_assert_msg(e->reason == PKVM_EXIT_SYSCALL && e->syscall.nr == VMTEST_NR_SYNC,
		      "unexpected %s exit", pkvm_exit_reason_name(e->reason));
	o.value = s->access == READ ? e->syscall.args[0] : 0;
	return o;
}

static void describe(char *buf, size_t n, const struct outcome *o)
{
	if (!o->faulted)
		snprintf(buf, n, o->value ? "ok %#llx" : "ok", (unsigned long long)o->value);
	else
		snprintf(buf, n, "#PF %s%s%s%s%s key %d", o->pfec & PKVM_PFEC_P ? "P" : "-",
			 o->pfec & PKVM_PFEC_W ? "W" : "-", o->pfec & PKVM_PFEC_U ? "U" : "-",
			 o->pfec & PKVM_PFEC_I ? "I" : "-", o->pfec & PKVM_PFEC_PK ? "K" : "-", o->pkey);
}

static bool same(const struct outcome *a, const struct outcome *b)
{
	return a->faulted == b->faulted && a->pfec == b->pfec && a->addr == b->addr &&
	       a->pkey == b->pkey && a->value == b->value;
}

#define NSCENARIOS	192

/* Every combination; fetches only from RX pages, and RX is read but not written. */
static int all_scenarios(struct scenario *out)
{
	int n = 0;

	for (int a = READ; a <= FETCH; a++)
		for (int r = RW; r <= RX; r++) {
			if ((a == FETCH && r != RX) || (a == WRITE && r == RX))
				continue;
			for (int k = 0; k < 2; k++)
				for (unsigned adwd = 0; adwd < 4; adwd++)
					for (int large = 0; large < 2; large++)
						for (int by = BY_HOST; by <= BY_GUEST; by++)
							out[n++] = (struct scenario){ a, r, k, adwd, large, by };
		}
	return n;
}

static void name(char *buf, size_t n, const struct scenario *s)
{
	snprintf(buf, n, "%-5s %s key%c %-5s %s by-%s", access_names[s->access],
		 rights_names[s->rights], s->key_is_k ? 'K' : '0', adwd_names[s->adwd],
		 s->large ? "2M" : "4K", s->setter == BY_HOST ? "host" : "guest");
}

/*
 * Runs every scenario on one backend; fills @got (and @exits, the KVM exits
 * it took, when not NULL); returns how many differ from docs/protection-keys.md.
 */
static int run_backend(int backend_index, struct outcome *got, int *documented, uint64_t *exits)
{
	struct scenario sc[NSCENARIOS];
	int n = all_scenarios(sc), wrong = 0;
	struct vmtest *t = create(backend_index);

	ck_assert_int_eq(n, NSCENARIOS);
	*documented = 0;
	for (int i = 0; i < n; i++) {
		uint64_t addr = region_gva(&sc[i]) + 8;
		struct outcome want = expected(&sc[i], addr, t->backend);
		char what[64], w[64], g[64];

		got[i] = run_scenario(t, &sc[i], addr);
		if (sc[i].access == FETCH && (sc[i].adwd & 1) && t->backend == PKVM_PKEYS_SOFT)
			(*documented)++;
		if (!same(&want, &got[i])) {
			name(what, sizeof(what), &sc[i]);
			describe(w, sizeof(w), &want);
			describe(g, sizeof(g), &got[i]);
			printf("MISMATCH %s: %s: expected %s, got %s\n",
			       vmtest_label(backend_index), what, w, g);
			wrong++;
		}
	}
	printf("%s: %d scenarios, %d as docs/protection-keys.md says (%d of them the documented soft difference)\n",
	       vmtest_label(backend_index), n, n - wrong, *documented);
	if (exits) {
		struct pkvm_stats st;

		ck_assert_int_eq(pkvm_get_stats(t->vm, &st), 0);
		*exits = st.kvm_exits;
	}
	vmtest_destroy(t);
	return wrong;
}

static int index_of(enum pkvm_pkeys_backend b)
{
	for (int i = 0; i < vmtest_nbackends; i++)
		if (vmtest_backends[i] == b)
			return i;
	return -1;
}

START_TEST(test_backend_follows_pkeys_md)
{
	struct outcome got[NSCENARIOS];
	int documented;

	if (!vmtest_backend_enforces(vmtest_backends[_i]))
		return;
	ck_assert_int_eq(run_backend(_i, got, &documented, NULL), 0);
}
END_TEST

/*
 * The soft backend's two ways of serving the guest's WRPKRU, in its CPL0 stub
 * and in the host, give the same outcome in every scenario; and the stub's
 * really served some (fewer exits), or this would compare the host with itself.
 */
START_TEST(test_soft_stub_and_host_agree)
{
	struct outcome stub[NSCENARIOS], host[NSCENARIOS];
	struct scenario sc[NSCENARIOS];
	int isoft = -1, iexits = -1, d, differ = 0;
	uint64_t stub_exits, host_exits;

	for (int i = 0; i < vmtest_nbackends; i++)
		if (vmtest_backends[i] == PKVM_PKEYS_SOFT)
			*(vmtest_flags[i] ? &iexits : &isoft) = i;
	if (isoft < 0 || iexits < 0) {
		printf("soft stub/host comparison: soft is not under test\n");
		return;
	}
	run_backend(isoft, stub, &d, &stub_exits);
	run_backend(iexits, host, &d, &host_exits);
	all_scenarios(sc);
	for (int i = 0; i < NSCENARIOS; i++) {
		char what[64], a[64], b[64];

		if (same(&stub[i], &host[i]))
			continue;
		name(what, sizeof(what), &sc[i]);
		describe(a, sizeof(a), &stub[i]);
		describe(b, sizeof(b), &host[i]);
		printf("%-34s stub %-18s host %-18s DIFFERENT\n", what, a, b);
		differ++;
	}
	printf("soft stub vs soft host: %d scenarios, %d different; %llu vs %llu KVM exits\n",
	       NSCENARIOS, differ, (unsigned long long)stub_exits, (unsigned long long)host_exits);
	ck_assert_int_eq(differ, 0);
	ck_assert_uint_lt(stub_exits, host_exits);
}
END_TEST

START_TEST(test_hw_and_soft_agree)
{
	struct outcome hw[NSCENARIOS], soft[NSCENARIOS];
	struct scenario sc[NSCENARIOS];
	int ihw = index_of(PKVM_PKEYS_HW), isoft = index_of(PKVM_PKEYS_SOFT), d, differ = 0;
	bool table = getenv("PKVM_CONFORMANCE_TABLE") != NULL;

	if (ihw < 0 || isoft < 0) {
		printf("hw/soft comparison: needs both backends (this KVM %s guest PKU)\n",
		       ihw < 0 ? "has no" : "has");
		return;
	}
	run_backend(ihw, hw, &d, NULL);
	run_backend(isoft, soft, &d, NULL);
	all_scenarios(sc);
	if (table)
		printf("%-34s %-18s %-18s\n", "scenario", "hw", "soft");
	for (int i = 0; i < NSCENARIOS; i++) {
		bool doc = sc[i].access == FETCH && (sc[i].adwd & 1);
		bool eq = same(&hw[i], &soft[i]);
		char what[64], h[64], s[64];

		name(what, sizeof(what), &sc[i]);
		describe(h, sizeof(h), &hw[i]);
		describe(s, sizeof(s), &soft[i]);
		if (table || (!eq && !doc))
			printf("%-34s %-18s %-18s%s\n", what, h, s,
			       eq ? "" : doc ? "  (documented: no execute-only pages)" : "  DIFFERENT");
		differ += !eq && !doc;
	}
	printf("hw vs soft: %d scenarios, %d identical, %d documented differences, %d unexplained\n",
	       NSCENARIOS, NSCENARIOS - differ - d, d, differ);
	ck_assert_int_eq(differ, 0);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("pkeys");

	vmtest_probe_backends();
	vmtest_add_soft_exits();
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_backend_follows_pkeys_md, 0, vmtest_nbackends);
	tcase_add_test(tc, test_hw_and_soft_agree);
	tcase_add_test(tc, test_soft_stub_and_host_agree);
	return vmtest_run_tcase("conformance", tc, CK_NORMAL);
}
