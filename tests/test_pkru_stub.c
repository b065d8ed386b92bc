/*
 * test_pkru_stub.c: guest RDPKRU and WRPKRU as the soft backend's CPL0 stub
 * serves them (lib/guest/stub.S), against the same instructions served by the
 * host (PKVM_CONFIG_SOFT_PKRU_EXITS) and, where this KVM offers guest PKU, by
 * the CPU itself (hw), which is the oracle for what the instructions do.
 *
 *  - edge cases: ECX/EDX checks, prefixes, page ends, single-stepping, the
 *    PKRU policies: each outcome the same on every backend;
 *  - an interrupt storm: kicks land anywhere, in the stub's path included,
 *    and at every stop the host's PKRU and registers must be exact;
 *  - a stress run: hundreds of thousands of switches among three times as
 *    many values as the view cache holds, the host editing mappings between
 *    runs, every access checked against docs/protection-keys.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmtest.h"

#define CODE2_GVA	0x20000000ULL	/* two pages of hand-assembled code */
#define NR_DONE		0x7777

/* ---- edge cases ---------------------------------------------------------- */

struct edge {
	const char *name;
	uint8_t code[8];
	unsigned len;
	unsigned split;		/* 0: at a page start; n: the first n bytes end page 0 */
	bool next_unmapped;	/* page 1 is not mapped */
	uint64_t rax, rcx, rdx;
	bool single_step;
	uint32_t warm;		/* a PKRU whose view exists before the case (0: none) */
	int policy;		/* -1: free */
	bool cpu_oracle;	/* the CPU's answer is architectural: hw must agree */
};

#define WRPKRU	0x0f, 0x01, 0xef
#define RDPKRU	0x0f, 0x01, 0xee
#define AD(k)	PKVM_PKRU_AD(k)
#define WD(k)	PKVM_PKRU_WD(k)

static const struct edge edges[] = {
	{ "wrpkru", { WRPKRU }, 3, 0, false, AD(1), 0, 0, false, AD(1), -1, true },
	{ "wrpkru, no view yet", { WRPKRU }, 3, 0, false, AD(2) | WD(3), 0, 0, false, 0, -1, true },
	{ "wrpkru, same value", { WRPKRU }, 3, 0, false, 0, 0, 0, false, 0, -1, true },
	{ "wrpkru, ECX not 0", { WRPKRU }, 3, 0, false, AD(1), 1, 0, false, AD(1), -1, true },
	{ "wrpkru, EDX not 0", { WRPKRU }, 3, 0, false, AD(1), 0, 1, false, AD(1), -1, true },
	{ "wrpkru, upper halves ignored", { WRPKRU }, 3, 0, false,
	  0xabcdef0000000000ULL | AD(1), 0xffffffff00000000ULL, 0x1234567800000000ULL, false,
	  AD(1), -1, true },
	{ "wrpkru across a page end", { WRPKRU }, 3, 2, false, AD(1), 0, 0, false, AD(1), -1, true },
	{ "rdpkru", { RDPKRU }, 3, 0, false, 0x1111, 0, 0xdead, false, AD(1), -1, true },
	{ "rdpkru, ECX not 0", { RDPKRU }, 3, 0, false, 0, 1, 0, false, 0, -1, true },
	{ "rdpkru at a page end", { RDPKRU }, 3, 3, false, 0, 0, 7, false, 0, -1, true },
	{ "invalid opcode last on a page", { 0x06 }, 1, 1, true, 0, 0, 0, false, 0, -1, true },
	{ "ud2 last on a page", { 0x0f, 0x0b }, 2, 2, true, 0, 0, 0, false, 0, -1, true },
	{ "0f 01 ef with 66", { 0x66, WRPKRU }, 4, 0, false, AD(1), 0, 0, false, AD(1), -1, false },
	{ "0f 01 ef with REX.W", { 0x48, WRPKRU }, 4, 0, false, AD(1), 0, 0, false, AD(1), -1, false },
	/* The #DB trap after the instruction, as the CPU takes it. */
	{ "wrpkru single-stepped", { WRPKRU }, 3, 0, false, AD(1), 0, 0, true, AD(1), -1, true },
	{ "rdpkru single-stepped", { RDPKRU }, 3, 0, false, 0, 0, 0, true, AD(1), -1, true },
	{ "cpuid single-stepped", { 0x0f, 0xa2 }, 2, 0, false, 0, 0, 0, true, 0, -1, true },
	{ "wrpkru, LOCKED", { WRPKRU }, 3, 0, false, AD(1), 0, 0, false, AD(1),
	  PKVM_PKRU_LOCKED, false },
	{ "rdpkru, LOCKED", { RDPKRU }, 3, 0, false, 0, 0, 0, false, AD(1), PKVM_PKRU_LOCKED, false },
	{ "wrpkru, ALLOWLIST allows", { WRPKRU }, 3, 0, false, AD(1), 0, 0, false, AD(1),
	  PKVM_PKRU_ALLOWLIST, false },
	{ "wrpkru, ALLOWLIST refuses", { WRPKRU }, 3, 0, false, AD(2), 0, 0, false, AD(2),
	  PKVM_PKRU_ALLOWLIST, false },
};

struct edge_outcome {
	enum pkvm_exit_reason reason;
	unsigned vector;
	uint64_t rip, rax, rdx;
	uint32_t pkru;
	bool refused;
};

static void put_code(struct vmtest *t, const struct edge *c, uint64_t *entry)
{
	static uint8_t page[2][4096];
	const uint8_t tail[] = { 0x0f, 0x05, 0xeb, 0xfe };	/* syscall (nr: RAX); jmp . */
	uint8_t bytes[16];
	unsigned n = c->len, off = c->split ? 4096 - c->split : 0;

	memcpy(bytes, c->code, n);
	memcpy(bytes + n, tail, sizeof(tail));
	n += sizeof(tail);
	memset(page, 0xcc, sizeof(page));
	memcpy(&page[0][off], bytes, n);
	ck_assert_int_eq(pkvm_map(t->vm, CODE2_GVA, page, c->next_unmapped ? 4096 : 8192,
				  c->next_unmapped ? 4096 : 8192, PKVM_PROT_EXEC, 0), 0);
	*entry = CODE2_GVA + off;
}

/* Run the bare `syscall` at @gva under @pkru once: its view is built on the way. */
static void warm_view(struct vmtest *t, uint32_t pkru)
{
	static const uint8_t code[] = { 0x0f, 0x05 };
	struct pkvm_regs regs = { .rip = VMTEST_DATA_GVA, .rsp = VMTEST_STACK_GVA + 4096 };

	ck_assert_int_eq(pkvm_map(t->vm, VMTEST_DATA_GVA, code, sizeof(code), 4096, PKVM_PROT_EXEC, 0), 0);
	ck_assert_int_eq(pkvm_set_pkru(t->vm, pkru), 0);
	ck_assert_int_eq(pkvm_set_regs(t->vm, &regs), 0);
	ck_assert_int_eq(vmtest_run(t)->reason, PKVM_EXIT_SYSCALL);
	ck_assert_int_eq(pkvm_unmap(t->vm, VMTEST_DATA_GVA, 4096), 0);
}

static struct edge_outcome run_edge(int backend_index, const struct edge *c)
{
	struct edge_outcome o = { 0 };
	struct pkvm_regs regs = { 0 };
	struct vmtest t;
	uint64_t entry;
	struct pkvm_exit *e;

	vmtest_create(&t, backend_index);
	for (int k = 1; k <= 3; k++)
		ck_assert_int_eq(pkvm_pkey_alloc(t.vm), k);
	if (c->warm)
		warm_view(&t, c->warm);
	put_code(&t, c, &entry);
	if (c->policy >= 0) {
		const uint32_t allowed[] = { 0, AD(1) };

		ck_assert_int_eq(pkvm_set_pkru_policy(t.vm, c->policy, allowed, 2), 0);
	}
	ck_assert_int_eq(pkvm_set_pkru(t.vm, 0), 0);
	regs.rip = entry;
	regs.rsp = VMTEST_STACK_GVA + VMTEST_STACK_SIZE - 8;
	regs.rax = c->rax;
	regs.rcx = c->rcx;
	regs.rdx = c->rdx;
	regs.rflags = c->single_step ? 0x100 : 0;
	ck_assert_int_eq(pkvm_set_regs(t.vm, &regs), 0);
	e = vmtest_run(&t);
	o.reason = e->reason;
	ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
	o.rip = regs.rip - entry;
	o.rax = regs.rax;
	o.rdx = regs.rdx;
	if (e->reason == PKVM_EXIT_FAULT) {
		o.vector = e->fault.vector;
		o.refused = e->fault.pkru_refused;
		o.rip = e->fault.rip - entry;
	} else {
		ck_assert_msg(e->reason == PKVM_EXIT_SYSCALL, "%s: %s", c->name, vmtest_describe(e));
	}
	ck_assert_int_eq(pkvm_get_pkru(t.vm, &o.pkru), 0);
	vmtest_destroy(&t);
	return o;
}

static bool same_edge(const struct edge_outcome *a, const struct edge_outcome *b)
{
	return a->reason == b->reason && a->vector == b->vector && a->rip == b->rip &&
	       a->rax == b->rax && a->rdx == b->rdx && a->pkru == b->pkru && a->refused == b->refused;
}

static void describe_edge(char *buf, size_t n, const struct edge_outcome *o)
{
	snprintf(buf, n, "%s%s%s at +%llu, rax %#llx rdx %#llx pkru %#x",
		 pkvm_exit_reason_name(o->reason),
		 o->reason == PKVM_EXIT_FAULT ? " " : "",
		 o->reason == PKVM_EXIT_FAULT ? pkvm_vector_name(o->vector) : "",
		 (unsigned long long)o->rip, (unsigned long long)o->rax,
		 (unsigned long long)o->rdx, o->pkru);
	if (o->refused)
		strncat(buf, " (refused)", n - strlen(buf) - 1);
}

static int find(enum pkvm_pkeys_backend backend, uint64_t flags)
{
	for (int i = 0; i < vmtest_nbackends; i++)
		if (vmtest_backends[i] == backend && vmtest_flags[i] == flags)
			return i;
	return -1;
}

START_TEST(test_edge_cases_agree)
{
	int ihw = find(PKVM_PKEYS_HW, 0), isoft = find(PKVM_PKEYS_SOFT, 0);
	int iexits = find(PKVM_PKEYS_SOFT, PKVM_CONFIG_SOFT_PKRU_EXITS);
	int differ = 0;

	if (isoft < 0 || iexits < 0) {
		printf("edge cases: soft is not under test\n");
		return;
	}
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		const struct edge *c = &edges[i];
		struct edge_outcome stub = run_edge(isoft, c), host = run_edge(iexits, c), cpu;
		char a[128], b[128], h[128] = "-";
		bool bad = !same_edge(&stub, &host);

		if (ihw >= 0 && c->cpu_oracle) {
			cpu = run_edge(ihw, c);
			describe_edge(h, sizeof(h), &cpu);
			bad |= !same_edge(&cpu, &stub);
		}
		describe_edge(a, sizeof(a), &stub);
		describe_edge(b, sizeof(b), &host);
		printf("%-30s stub: %s\n%-30s host: %s\n%-30s cpu:  %s%s\n", c->name, a, "", b, "", h,
		       bad ? "  DIFFERENT" : "");
		differ += bad;
	}
	ck_assert_int_eq(differ, 0);
}
END_TEST

/* ---- an interrupt storm ---------------------------------------------------- */

/*
 * L: mov $A,%eax; wrpkru; mov $B,%eax; wrpkru; rdpkru; cmp $B,%eax; jne bad;
 *    inc %r12; jmp L;  bad: syscall
 * Where the guest stands says exactly what PKRU must be.
 */
enum { OFF_W1 = 5, OFF_W2 = 13, OFF_RD = 16, OFF_CMP = 19, OFF_JNE = 24, OFF_INC = 26,
       OFF_JMP = 29, OFF_BAD = 31, STORM_LEN = 33 };

static void storm_code(uint8_t *p, uint32_t a, uint32_t b)
{
	uint8_t code[STORM_LEN] = {
		0xb8, 0, 0, 0, 0, WRPKRU, 0xb8, 0, 0, 0, 0, WRPKRU, RDPKRU,
		0x3d, 0, 0, 0, 0, 0x75, OFF_BAD - OFF_INC, 0x49, 0xff, 0xc4,
		0xeb, (uint8_t)(0 - OFF_BAD), 0x0f, 0x05,
	};

	memcpy(code + 1, &a, 4);
	memcpy(code + 9, &b, 4);
	memcpy(code + OFF_CMP + 1, &b, 4);
	memcpy(p, code, sizeof(code));
}

/* Map @code (at most a page) at CODE2_GVA, enter the guest there, and start kicking it. */
static void start_code2_under_kicks(struct vmtest *t, const uint8_t *code, size_t len,
				    struct vmtest_kicker *kicker, unsigned seed, long spread_ns)
{
	struct pkvm_regs regs = { .rip = CODE2_GVA, .rsp = VMTEST_STACK_GVA + VMTEST_STACK_SIZE - 8 };

	ck_assert_int_eq(pkvm_map(t->vm, CODE2_GVA, code, len, 4096, PKVM_PROT_EXEC, 0), 0);
	ck_assert_int_eq(pkvm_set_regs(t->vm, &regs), 0);
	vmtest_kicker_start(kicker, t->vm, seed, 20000, spread_ns);
}

static bool storm_boundary(uint64_t off)
{
	static const uint64_t at[] = { 0, OFF_W1, 8, OFF_W2, OFF_RD, OFF_CMP, OFF_JNE, OFF_INC,
				       OFF_JMP, OFF_BAD };

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (off == at[i])
			return true;
	return false;
}

START_TEST(test_interrupt_storm_keeps_pkru_exact)
{
	const uint32_t a = AD(1), b = WD(2);
	struct vmtest_kicker kicker;
	struct pkvm_regs regs = { 0 };
	unsigned interrupted = 0;
	uint64_t last_r12 = 0;
	struct pkvm_stats st;
	static uint8_t page[4096];
	struct vmtest t;

	if (!vmtest_backend_enforces(vmtest_backends[_i]))
		return;
	vmtest_create(&t, _i);
	for (int k = 1; k <= 2; k++)
		ck_assert_int_eq(pkvm_pkey_alloc(t.vm), k);
	memset(page, 0xcc, sizeof(page));
	storm_code(page, a, b);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, b), 0);
	start_code2_under_kicks(&t, page, sizeof(page), &kicker, 1234 + _i, 400000);
	while (interrupted < 1500) {
		struct pkvm_exit *e = vmtest_run(&t);
		uint64_t off;
		uint32_t pkru;

		ck_assert_msg(e->reason == PKVM_EXIT_INTERRUPTED, "%s: %s", vmtest_label(_i),
			      vmtest_describe(e));
		interrupted++;
		ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
		ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
		off = regs.rip - CODE2_GVA;
		ck_assert_msg(storm_boundary(off), "%s: stopped at +%llu, not an instruction",
			      vmtest_label(_i), (unsigned long long)off);
		ck_assert_msg(pkru == (off > OFF_W1 && off <= OFF_W2 ? a : b),
			      "%s: PKRU %#x at +%llu", vmtest_label(_i), pkru, (unsigned long long)off);
		if (off == OFF_CMP)
			ck_assert_msg(regs.rax == b && regs.rdx == 0, "%s: RDPKRU gave %#llx/%#llx",
				      vmtest_label(_i), (unsigned long long)regs.rax,
				      (unsigned long long)regs.rdx);
		ck_assert_uint_eq(regs.rcx, 0);
		ck_assert_uint_ge(regs.r12, last_r12);
		last_r12 = regs.r12;
	}
	printf("%s: %u interrupts, %llu loops\n", vmtest_label(_i),
	       (unsigned)vmtest_kicker_stop(&kicker), (unsigned long long)last_r12);
	ck_assert_uint_gt(last_r12, 0);
	ck_assert_int_eq(pkvm_get_stats(t.vm, &st), 0);
	if (vmtest_backends[_i] == PKVM_PKEYS_SOFT)
		ck_assert_uint_ge(st.pkru_emulations, 3 * last_r12);
	vmtest_destroy(&t);
}
END_TEST

/*
 * The #UD gate is the stub's PKRU path's too: on every backend (with or
 * without a PKRU table) a kick that lands in it must neither lose the #UD
 * nor run the guest twice.  1: inc %r12; ud2; jmp 1b -- each #UD must come
 * with R12 one more than the last.
 */
START_TEST(test_interrupted_ud_reported_once)
{
	static const uint8_t code[] = { 0x49, 0xff, 0xc4, 0x0f, 0x0b, 0xeb, 0xf9 };
	struct vmtest_kicker kicker;
	struct pkvm_regs regs = { 0 };
	unsigned faults = 0, interrupted = 0;
	struct vmtest t;

	vmtest_create(&t, _i);
	start_code2_under_kicks(&t, code, sizeof(code), &kicker, 99 + _i, 200000);
	while (faults < 1500) {
		struct pkvm_exit *e = vmtest_run(&t);

		ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
		if (e->reason == PKVM_EXIT_INTERRUPTED) {
			interrupted++;
			continue;
		}
		ck_assert_msg(e->reason == PKVM_EXIT_FAULT && e->fault.vector == PKVM_VEC_UD &&
			      e->fault.rip == CODE2_GVA + 3, "%s: %s", vmtest_label(_i), vmtest_describe(e));
		ck_assert_msg(regs.r12 == faults + 1, "%s: #UD number %u with R12 %llu",
			      vmtest_label(_i), faults + 1, (unsigned long long)regs.r12);
		faults++;
		regs.rip += 2;
		ck_assert_int_eq(pkvm_set_regs(t.vm, &regs), 0);
	}
	vmtest_kicker_stop(&kicker);
	printf("%s: %u #UD, %u interrupts\n", vmtest_label(_i), faults, interrupted);
	vmtest_destroy(&t);
}
END_TEST

/* ---- a stress run ----------------------------------------------------------- */

#define STRESS_VALUES	24	/* three times the soft backend's view cache */
#define STRESS_PAGES	4
#define STRESS_BATCH	32	/* steps between the guest's reports to the host */
#define STRESS_SWITCHES	3	/* WRPKRUs a step */

/* The PKRU of value @j: keys 1-3 only, so code and stack (key 0) stay reachable. */
static inline __attribute__((always_inline)) uint32_t stress_pkru(uint64_t j)
{
	return (uint32_t)((j * 7 + 3) % 64) << 2;
}

static inline __attribute__((always_inline)) uint64_t stress_next(uint64_t x)
{
	return x * 6364136223846793005ULL + 1442695040888963407ULL;
}

/* A byte access the host skips when it faults, setting R9 (both forms are 2 bytes). */
static inline __attribute__((always_inline)) uint64_t guest_probe(volatile uint8_t *p, int write)
{
	register uint64_t faulted __asm__("r9") = 0;

	if (write)
		__asm__ volatile("movb %%al, (%%rdi)" : "+r"(faulted) : "D"(p), "a"(0x5a) : "memory");
	else
		__asm__ volatile("movb (%%rdi), %%al" : "+r"(faulted) : "D"(p) : "rax", "memory");
	return faulted;
}

/*
 * The value of a step: mostly one of a hot few (which the view cache keeps),
 * one step in five any of them (which keeps evicting).
 */
static inline __attribute__((always_inline)) uint64_t stress_value(uint64_t seed)
{
	return (seed >> 20) % 5 ? (seed >> 33) % 6 : (seed >> 33) % STRESS_VALUES;
}

/*
 * Each step: STRESS_SWITCHES WRPKRUs, each read back with RDPKRU, then one
 * probe (page, write) under the last value.  The record of step s goes to
 * ring[s % STRESS_BATCH]: the value's index, the probe, and what happened.
 * GUEST_SYNC after each batch.
 */
GUEST_CODE static void guest_stress(uint64_t seed, volatile uint64_t *ring, uint64_t pages)
{
	for (uint64_t s = 0;; s++) {
		uint64_t j = 0, probe, rec = 0;

		for (int w = 0; w < STRESS_SWITCHES; w++) {
			seed = stress_next(seed);
			j = stress_value(seed);
			guest_wrpkru(stress_pkru(j));
			if (guest_rdpkru() != stress_pkru(j))
				rec |= 1ULL << 24;
		}
		probe = (seed >> 40) % (2 * STRESS_PAGES);
		rec |= j | probe << 8;
		rec |= guest_probe((volatile uint8_t *)(pages + (probe >> 1) * 4096 + 64), probe & 1) << 25;
		ring[s % STRESS_BATCH] = rec | 1ULL << 63;
		if (s % STRESS_BATCH == STRESS_BATCH - 1)
			GUEST_SYNC(s + 1);
	}
}

struct stress_page {
	int key;
	bool writable;
};

/* docs/protection-keys.md for a user access to a user page: denied? and is it PK's doing? */
static bool stress_denied(const struct stress_page *pg, uint32_t pkru, bool write, bool *pk)
{
	bool ad = pkru >> (2 * pg->key) & 1, wd = pkru >> (2 * pg->key) & 2;

	*pk = ad || (write && wd);
	return *pk || (write && !pg->writable);
}

static void stress_check_fault(const struct pkvm_exit *e, const struct stress_page *pg,
			       uint64_t page_gva, uint32_t pkru, const char *label)
{
	bool write = e->fault.pfec & PKVM_PFEC_W, pk;

	ck_assert_msg(e->fault.vector == PKVM_VEC_PF, "%s: %s", label, vmtest_describe(e));
	ck_assert_msg(stress_denied(pg, pkru, write, &pk), "%s: %s under PKRU %#x, key %d: allowed",
		      label, vmtest_describe(e), pkru, pg->key);
	ck_assert_msg(e->fault.pfec == (PKVM_PFEC_P | PKVM_PFEC_U | (write ? PKVM_PFEC_W : 0) |
					(pk ? PKVM_PFEC_PK : 0)),
		      "%s: PFEC %#x under PKRU %#x, key %d, %s page", label, e->fault.pfec, pkru,
		      pg->key, pg->writable ? "rw" : "ro");
	ck_assert_int_eq(e->fault.pkey, pg->key);
	ck_assert_uint_eq(e->fault.pkru, pkru);
	ck_assert_uint_eq(e->fault.addr & ~4095ULL, page_gva);
}

START_TEST(test_stress_switches_while_host_edits)
{
	const char *env = getenv("PKVM_STRESS_SWITCHES");
	uint64_t switches = env ? strtoull(env, NULL, 0) : 300000, steps, done = 0, edits = 0, faults = 0;
	const uint64_t pages = VMTEST_DATA_GVA, ring = VMTEST_DATA_GVA + STRESS_PAGES * 4096;
	struct stress_page pg[STRESS_PAGES] = { { 1, true }, { 2, true }, { 3, true }, { 0, true } };
	const char *label = vmtest_label(_i);
	uint64_t seed = 0x5eed + _i;
	struct pkvm_stats st;
	struct vmtest t;

	if (!vmtest_backend_enforces(vmtest_backends[_i]))
		return;
	if (vmtest_flags[_i] & PKVM_CONFIG_SOFT_PKRU_EXITS)
		switches /= 10;	/* an exit per switch: the comparison, not the load */
	steps = switches / STRESS_SWITCHES;
	vmtest_create(&t, _i);
	for (int k = 1; k <= 3; k++)
		ck_assert_int_eq(pkvm_pkey_alloc(t.vm), k);
	for (int i = 0; i < STRESS_PAGES; i++)
		vmtest_map(&t, pages + i * 4096ULL, 4096, PKVM_PROT_READ | PKVM_PROT_WRITE, pg[i].key);
	vmtest_map(&t, ring, 4096, PKVM_PROT_READ | PKVM_PROT_WRITE, 0);
	vmtest_start(&t, guest_stress, seed, ring, pages);

	while (done < steps) {
		struct pkvm_exit *e = vmtest_run(&t);
		uint64_t rec[STRESS_BATCH];

		if (e->reason == PKVM_EXIT_FAULT) {
			struct pkvm_regs regs;
			uint64_t page = (e->fault.addr - pages) / 4096;
			uint32_t pkru;

			ck_assert_msg(e->fault.addr >= pages && page < STRESS_PAGES, "%s: %s", label,
				      vmtest_describe(e));
			ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
			stress_check_fault(e, &pg[page], pages + page * 4096, pkru, label);
			ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
			regs.rip += 2;
			regs.r9 = 1;
			ck_assert_int_eq(pkvm_set_regs(t.vm, &regs), 0);
			faults++;
			continue;
		}
		ck_assert_msg(e->reason == PKVM_EXIT_SYSCALL && e->syscall.nr == VMTEST_NR_SYNC &&
			      e->syscall.args[0] == done + STRESS_BATCH, "%s: %s after %llu steps",
			      label, vmtest_describe(e), (unsigned long long)done);
		/* The batch's records, each replayed against the rules. */
		ck_assert_int_eq(pkvm_read_guest(t.vm, rec, ring, sizeof(rec)), 0);
		for (unsigned s = 0; s < STRESS_BATCH; s++) {
			uint64_t j = 0, probe;
			bool pk, denied;

			for (int w = 0; w < STRESS_SWITCHES; w++) {
				seed = stress_next(seed);
				j = stress_value(seed);
			}
			probe = (seed >> 40) % (2 * STRESS_PAGES);
			denied = stress_denied(&pg[probe >> 1], stress_pkru(j), probe & 1, &pk);
			ck_assert_msg(rec[s] >> 63 && (rec[s] & 0xff) == j && (rec[s] >> 8 & 0xff) == probe,
				      "%s: step %llu: record %#llx", label,
				      (unsigned long long)(done + s), (unsigned long long)rec[s]);
			ck_assert_msg(!(rec[s] >> 24 & 1), "%s: step %llu: RDPKRU did not read a value back",
				      label, (unsigned long long)(done + s));
			ck_assert_msg((rec[s] >> 25 & 1) == denied,
				      "%s: step %llu: %s of page %llu (key %d, %s) under PKRU %#x %s",
				      label, (unsigned long long)(done + s), probe & 1 ? "write" : "read",
				      (unsigned long long)(probe >> 1), pg[probe >> 1].key,
				      pg[probe >> 1].writable ? "rw" : "ro", stress_pkru(j),
				      denied ? "allowed" : "denied");
		}
		done += STRESS_BATCH;
		/* Between runs the host edits: a page's key, or its rights, in turn. */
		{
			unsigned i = edits % STRESS_PAGES;

			if (edits % 2 == 0) {
				pg[i].key = (pg[i].key + 1) % 4;
				ck_assert_int_eq(pkvm_set_pkey(t.vm, pages + i * 4096ULL, 4096, pg[i].key), 0);
			} else {
				pg[i].writable = !pg[i].writable;
				ck_assert_int_eq(pkvm_protect(t.vm, pages + i * 4096ULL, 4096,
							      PKVM_PROT_READ |
							      (pg[i].writable ? PKVM_PROT_WRITE : 0)), 0);
			}
			edits++;
		}
	}
	ck_assert_int_eq(pkvm_get_stats(t.vm, &st), 0);
	printf("%s: %llu switches in %llu steps, %llu faults, %llu host edits, %llu KVM exits, %llu views built\n",
	       label, (unsigned long long)done * STRESS_SWITCHES, (unsigned long long)done,
	       (unsigned long long)faults,
	       (unsigned long long)edits, (unsigned long long)st.kvm_exits,
	       (unsigned long long)st.view_builds);
	/* Served by the host, every RDPKRU would exit: the stub serves them all. */
	if (vmtest_backends[_i] == PKVM_PKEYS_SOFT && !(vmtest_flags[_i] & PKVM_CONFIG_SOFT_PKRU_EXITS))
		ck_assert_msg(st.kvm_exits <= (STRESS_SWITCHES + 1) * done + faults,
			      "%s: the stub served too little", label);
	vmtest_destroy(&t);
}
END_TEST

/*
 * soft: the views run on PCIDs exactly where KVM offers them (and the
 * caller did not ask for flushes), and switching among them, by the stub
 * and by the host, works either way.  The stress test above checks every
 * access after such switches while the host edits the tables.
 */
GUEST_CODE static void guest_switch_views(void)
{
	for (;;) {
		guest_wrpkru(0);
		guest_wrpkru(PKVM_PKRU_AD(1));
		guest_wrpkru(PKVM_PKRU_WD(1));
		guest_wrpkru(0);
		guest_wrpkru(PKVM_PKRU_AD(1));
		GUEST_SYNC(0);
	}
}

START_TEST(test_views_on_pcids_where_offered)
{
	struct pkvm_caps caps;
	struct pkvm_stats st;
	struct vmtest t;
	bool want;

	ck_assert_int_eq(pkvm_caps(&caps, NULL), 0);
	want = vmtest_backends[_i] == PKVM_PKEYS_SOFT && caps.pcid &&
	       !(vmtest_flags[_i] & PKVM_CONFIG_SOFT_NO_PCID);
	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(vmtest_backends[_i]))
		goto out;	/* no keys, no PKRU to switch */
	ck_assert_int_eq(pkvm_pkey_alloc(t.vm), 1);
	vmtest_start(&t, guest_switch_views, 0, 0, 0);
	for (int round = 0; round < 3; round++) {
		uint32_t pkru;

		/* The host switches too: its entry loads the view of the PKRU it sets. */
		ck_assert_int_eq(pkvm_set_pkru(t.vm, round == 1 ? PKVM_PKRU_WD(1) : 0), 0);
		vmtest_expect_sync(&t, 0);
		ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
		ck_assert_uint_eq(pkru, PKVM_PKRU_AD(1));
	}
out:
	ck_assert_int_eq(pkvm_get_stats(t.vm, &st), 0);
	ck_assert_msg(st.view_pcids == (want ? 8 : 0), "%s: %llu PCIDs where %s", vmtest_label(_i),
		      (unsigned long long)st.view_pcids, caps.pcid ? "KVM offers them" : "KVM has none");
	printf("%s: views on %llu PCIDs (KVM %s them)\n", vmtest_label(_i),
	       (unsigned long long)st.view_pcids, caps.pcid ? "offers" : "does not offer");
	vmtest_destroy(&t);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("pkru-stub");

	vmtest_probe_backends();
	vmtest_add_soft_exits();
	vmtest_add_soft_no_pcid();
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_edge_cases_agree);
	tcase_add_loop_test(tc, test_interrupt_storm_keeps_pkru_exact, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_interrupted_ud_reported_once, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_stress_switches_while_host_edits, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_views_on_pcids_where_offered, 0, vmtest_nbackends);
	return vmtest_run_tcase("pkru-stub", tc, CK_NORMAL);
}
