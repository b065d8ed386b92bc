/*
 * embed_bench.c: what embedding libpkvm costs, as ratios to the bare KVM
 * sequence (bench/rawkvm.c) measured in the same run: cold start, host-call
 * and guest-function round trips, snapshot restore, memory per idle sandbox.
 * Run it on a host with /dev/kvm (`make bench`) or in the QEMU lane
 * (`make bench-hw`).  Every time is the median of many runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "libpkvm.h"
#include "rawkvm.h"
#include "nofile.h"

#define CODE_GVA	0x400000ULL
#define STACK_GVA	0x7ff00000ULL
#define DATA_GVA	0x10000000ULL	/* 1 MiB for the snapshot guest to dirty */
#define DATA_PAGES	256

/*
 * The libpkvm guests, one code page, each at its own offset:
 *  COLD:      mov $42, %edi; mov $60, %eax; syscall            (exit(42): the result)
 *  HOSTCALLS: 1: mov $PKVM_HOSTCALL_BASE, %eax; syscall; dec %r12d; jnz 1b; exit(0)
 *  EXITS:     1: mov $39, %eax; syscall; jmp 1b                 (a syscall to the caller)
 *  INC:       lea 1(%rdi), %rax; ret                            (the guest function)
 *  SCRIBBLE:  for (i = 0; i < rsi; i++) ((u64 *)rdi)[i * 512] = i; return rsi;
 */
enum { COLD = 0x00, HOSTCALLS = 0x20, EXITS = 0x40, INC = 0x60, SCRIBBLE = 0x80 };
static const struct { unsigned off; uint8_t bytes[32]; unsigned len; } guest[] = {
	{ COLD, { 0xbf, 0x2a, 0, 0, 0, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b }, 14 },
	{ HOSTCALLS, { 0xb8, 0, 0, 0, 0x10, 0x0f, 0x05, 0x41, 0xff, 0xcc, 0x75, 0xf4,
		       0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05, 0x0f, 0x0b }, 23 },
	{ EXITS, { 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7 }, 9 },
	{ INC, { 0x48, 0x8d, 0x47, 0x01, 0xc3 }, 5 },
	{ SCRIBBLE, { 0x31, 0xc9, 0x48, 0x39, 0xf1, 0x73, 0x10, 0x48, 0x89, 0xc8, 0x48, 0xc1,
		      0xe0, 0x0c, 0x48, 0x89, 0x0c, 0x07, 0x48, 0xff, 0xc1, 0xeb, 0xeb, 0x48,
		      0x89, 0xf0, 0xc3 }, 27 },
};

/* How many runs each median is taken over, and loop lengths; scaled by argv[1]. */
static unsigned runs = 31, loop = 200, idle_vms = 1000;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *t, unsigned n)
{
	qsort(t, n, sizeof(t[0]), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "embed_bench: %s: %s\n", what, pkvm_strerror(err));
	exit(1);
}

static void check_exit(const struct pkvm_exit *e, enum pkvm_exit_reason reason, uint64_t nr)
{
	if (e->reason == reason && (reason != PKVM_EXIT_SYSCALL || e->syscall.nr == nr))
		return;
	fprintf(stderr, "embed_bench: unexpected %s exit (nr %llu; %s at %#llx)\n",
		pkvm_exit_reason_name(e->reason), (unsigned long long)e->syscall.nr,
		pkvm_vector_name(e->fault.vector), (unsigned long long)e->fault.rip);
	exit(1);
}

/*
 * A sandbox as an embedder makes one: the default configuration (64 MiB, the
 * auto backend) or @backend, a code page, a stack page, RIP at @entry.
 */
static struct pkvm_vm *sandbox_on(unsigned entry, enum pkvm_pkeys_backend backend)
{
	static uint8_t code[4096];
	struct pkvm_regs regs = { .rip = CODE_GVA + entry, .rsp = STACK_GVA + 4096 };
	struct pkvm_vm *vm;
	int err;

	if (!code[0]) {
		memset(code, 0xcc, sizeof(code));
		for (size_t i = 0; i < sizeof(guest) / sizeof(guest[0]); i++)
			memcpy(code + guest[i].off, guest[i].bytes, guest[i].len);
	}
	if ((err = pkvm_vm_create(&vm, &(struct pkvm_config){ .pkeys = backend })))
		die("pkvm_vm_create", err);
	if ((err = pkvm_map(vm, CODE_GVA, code, sizeof(code), sizeof(code), PKVM_PROT_EXEC, 0)) ||
	    (err = pkvm_map(vm, STACK_GVA, NULL, 0, 4096, PKVM_PROT_READ | PKVM_PROT_WRITE, 0)) ||
	    (err = pkvm_set_regs(vm, &regs)))
		die("guest set-up", err);
	return vm;
}

static struct pkvm_vm *sandbox(unsigned entry)
{
	return sandbox_on(entry, PKVM_PKEYS_AUTO);
}

/* A time and the ioctls to KVM each operation made (from pkvm_stats): what it costs. */
struct cost {
	double ns;
	double ioctls;
};

static uint64_t ioctls_of(struct pkvm_vm *vm)
{
	struct pkvm_stats stats;

	pkvm_get_stats(vm, &stats);
	return stats.ioctls;
}

static void report(const char *what, double ns, double base, const char *base_name)
{
	printf("%-44s %12.0f ns  %8.2f x %s\n", what, ns, ns / base, base_name);
}

/* A round trip against the bare exit, its ioctls, and issue 13's target for it (0: none). */
static void report_cost(const char *what, struct cost c, double raw_rt, double target)
{
	double ratio = c.ns / raw_rt;

	printf("%-44s %12.0f ns  %8.2f x bare exit  %5.2f ioctls", what, c.ns, ratio, c.ioctls);
	if (target > 0)
		printf("  target <= %.2fx: %s", target, ratio <= target ? "met" : "missed");
	printf("\n");
}

/* ---- the bare KVM sequence ------------------------------------------------- */

static double raw_cold_start(void)
{
	double t[runs];

	for (unsigned r = 0; r < runs; r++) {
		uint64_t start = now_ns();
		int err = rawkvm_cold_start();

		if (err)
			die("bare KVM cold start", err);
		t[r] = now_ns() - start;
	}
	return median(t, runs);
}

/* ---- libpkvm ------------------------------------------------------------------- */

/* pkvm_vm_create() → first guest instruction → its result → pkvm_vm_destroy(). */
static double pkvm_cold_start(void)
{
	double t[runs];

	for (unsigned r = 0; r < runs; r++) {
		uint64_t start = now_ns();
		struct pkvm_vm *vm = sandbox(COLD);
		struct pkvm_exit e;
		int err;

		if ((err = pkvm_run(vm, &e)))
			die("pkvm_run", err);
		check_exit(&e, PKVM_EXIT_SYSCALL, 60);
		if (e.syscall.args[0] != 42)
			die("cold start result", -EIO);
		pkvm_vm_destroy(vm);
		t[r] = now_ns() - start;
	}
	return median(t, runs);
}

static uint64_t host_nop(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	(void)vm;
	(*(uint64_t *)ctx)++;
	return args[0];
}

/*
 * One host function call: guest `syscall` → host function → back in the
 * guest.  Each run ends with one exit more, to the caller: counted apart.
 */
static struct cost pkvm_hostcall(enum pkvm_pkeys_backend backend)
{
	struct pkvm_vm *vm = sandbox_on(HOSTCALLS, backend);
	struct pkvm_regs regs;
	uint64_t served = 0, ioctls = 0;
	double t[runs];
	int err;

	pkvm_hostcall_register(vm, 0, host_nop, &served);
	pkvm_get_regs(vm, &regs);
	for (unsigned r = 0; r < runs; r++) {
		struct pkvm_exit e;
		uint64_t start;

		regs.rip = CODE_GVA + HOSTCALLS;
		regs.r12 = loop;
		pkvm_set_regs(vm, &regs);
		ioctls -= ioctls_of(vm);
		start = now_ns();
		if ((err = pkvm_run(vm, &e)))
			die("pkvm_run", err);
		t[r] = (double)(now_ns() - start) / loop;
		ioctls += ioctls_of(vm) - 1;	/* the KVM_RUN of the exit to the caller */
		check_exit(&e, PKVM_EXIT_SYSCALL, 60);
	}
	pkvm_vm_destroy(vm);
	if (served != (uint64_t)runs * loop)
		die("host calls served", -EIO);
	return (struct cost){ median(t, runs), (double)ioctls / served };
}

/* One guest exit through pkvm_run() to its caller and back. */
static struct cost pkvm_exit_round_trip(enum pkvm_pkeys_backend backend)
{
	struct pkvm_vm *vm = sandbox_on(EXITS, backend);
	uint64_t ioctls = ioctls_of(vm);
	double t[runs];
	int err;

	for (unsigned r = 0; r < runs; r++) {
		uint64_t start = now_ns();
		struct pkvm_exit e;

		for (unsigned i = 0; i < loop; i++) {
			if ((err = pkvm_run(vm, &e)))
				die("pkvm_run", err);
			check_exit(&e, PKVM_EXIT_SYSCALL, 39);
		}
		t[r] = (double)(now_ns() - start) / loop;
	}
	ioctls = ioctls_of(vm) - ioctls;
	pkvm_vm_destroy(vm);
	return (struct cost){ median(t, runs), (double)ioctls / (runs * loop) };
}

/* One pkvm_call() of a guest function that returns its argument plus one. */
static struct cost pkvm_guest_call(enum pkvm_pkeys_backend backend)
{
	struct pkvm_vm *vm = sandbox_on(COLD, backend);
	struct pkvm_exit first;
	uint64_t ioctls;
	double t[runs];
	int err;

	/* The first call maps the trampoline: not what a call costs. */
	if ((err = pkvm_call(vm, CODE_GVA + INC, (uint64_t[]){ 0 }, 1, &first)))
		die("pkvm_call", err);
	ioctls = ioctls_of(vm);

	for (unsigned r = 0; r < runs; r++) {
		uint64_t start = now_ns();
		struct pkvm_exit e;

		for (unsigned i = 0; i < loop; i++) {
			if ((err = pkvm_call(vm, CODE_GVA + INC, (uint64_t[]){ i }, 1, &e)))
				die("pkvm_call", err);
			check_exit(&e, PKVM_EXIT_RETURN, 0);
			if (e.ret.value != i + 1)
				die("guest function result", -EIO);
		}
		t[r] = (double)(now_ns() - start) / loop;
	}
	ioctls = ioctls_of(vm) - ioctls;
	pkvm_vm_destroy(vm);
	return (struct cost){ median(t, runs), (double)ioctls / (runs * loop) };
}

/*
 * pkvm_restore() after a guest call wrote one word in each of @dirty pages
 * (the call also dirties its stack page).  Only the restore is timed.
 */
static struct cost pkvm_snapshot_restore(unsigned dirty)
{
	struct pkvm_vm *vm = sandbox(COLD);
	unsigned n = runs * 3;
	uint64_t ioctls = 0;
	struct pkvm_exit e;
	double t[n];
	int err;

	if ((err = pkvm_map(vm, DATA_GVA, NULL, 0, DATA_PAGES * 4096ULL,
			    PKVM_PROT_READ | PKVM_PROT_WRITE, 0)))
		die("pkvm_map", err);
	/* A first call maps the trampoline, so that the snapshot already holds it. */
	if ((err = pkvm_call(vm, CODE_GVA + INC, (uint64_t[]){ 0 }, 1, &e)) ||
	    (err = pkvm_snapshot(vm)))
		die("snapshot set-up", err);
	for (unsigned r = 0; r < n; r++) {
		uint64_t start, v;

		if ((err = pkvm_call(vm, CODE_GVA + SCRIBBLE, (uint64_t[]){ DATA_GVA, dirty }, 2, &e)))
			die("pkvm_call", err);
		check_exit(&e, PKVM_EXIT_RETURN, 0);
		ioctls -= ioctls_of(vm);
		start = now_ns();
		if ((err = pkvm_restore(vm)))
			die("pkvm_restore", err);
		t[r] = now_ns() - start;
		ioctls += ioctls_of(vm);
		if ((err = pkvm_read_guest(vm, &v, DATA_GVA + (dirty - 1) * 4096ULL, 8)) || v)
			die("restored memory", err ? err : -EIO);
	}
	pkvm_vm_destroy(vm);
	return (struct cost){ median(t, n), (double)ioctls / n };
}

/* ---- memory per idle sandbox --------------------------------------------------- */

static long rss_kib(void)
{
	long size, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	if (f)
		fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* MemAvailable: what the machine lost, the kernel's share (KVM's structures, tables) included. */
static long available_kib(void)
{
	char line[128];
	long kib = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void idle_memory(void)
{
	static const uint8_t code[] = RAWKVM_GUEST_ONCE;
	struct rawkvm *raw = calloc(idle_vms, sizeof(*raw));
	struct pkvm_vm **vms = calloc(idle_vms, sizeof(*vms));
	long rss0, avail0, raw_rss, raw_avail, pk_rss, pk_avail, created = 0;
	double *create_ns = calloc(idle_vms, sizeof(*create_ns));
	unsigned ends = idle_vms < 20 ? 1 : 10;
	struct rlimit nofile;
	double first, last;
	char what[64];
	int v;

	if (!raw || !vms || !create_ns)
		die("calloc", -ENOMEM);
	/* A bare VM holds three descriptors (device, VM, vCPU): what fits under the limit. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
	    nofile.rlim_cur < 3ULL * idle_vms + 64) {
		idle_vms = nofile.rlim_cur > 64 + 3 * 20 ? (unsigned)(nofile.rlim_cur - 64) / 3 : 20;
		printf("(RLIMIT_NOFILE %llu: %u VMs at once)\n",
		       (unsigned long long)nofile.rlim_cur, idle_vms);
	}
	rss0 = rss_kib();
	avail0 = available_kib();
	for (unsigned i = 0; i < idle_vms; i++)
		if ((v = rawkvm_create(&raw[i], code, sizeof(code))) < 0 || (v = rawkvm_run(&raw[i])) != 42)
			die("bare KVM VM", v < 0 ? v : -EIO);
	raw_rss = rss_kib() - rss0;
	raw_avail = avail0 - available_kib();
	for (unsigned i = 0; i < idle_vms; i++)
		rawkvm_destroy(&raw[i]);

	rss0 = rss_kib();
	avail0 = available_kib();
	for (unsigned i = 0; i < idle_vms; i++) {
		struct pkvm_exit e;
		long before = rss_kib();
		uint64_t start = now_ns();
		int err;

		vms[i] = sandbox(COLD);
		create_ns[i] = now_ns() - start;
		created += rss_kib() - before;
		if ((err = pkvm_run(vms[i], &e)))
			die("pkvm_run", err);
		check_exit(&e, PKVM_EXIT_SYSCALL, 60);
	}
	pk_rss = rss_kib() - rss0;
	pk_avail = avail0 - available_kib();
	for (unsigned i = 0; i < idle_vms; i++)
		pkvm_vm_destroy(vms[i]);
	free(vms);
	free(raw);

	printf("memory per idle sandbox (%u VMs, each run to its first exit):\n", idle_vms);
	printf("  %-42s %8.1f KiB  %8.2f x bare KVM (%.1f KiB)\n", "host RSS (/proc/self/statm)",
	       (double)pk_rss / idle_vms, (double)pk_rss / (raw_rss ? raw_rss : 1),
	       (double)raw_rss / idle_vms);
	printf("  %-42s %8.1f KiB\n", "  of which by creation and set-up",
	       (double)created / idle_vms);
	printf("  %-42s %8.1f KiB  %8.2f x bare KVM (%.1f KiB)\n", "machine (MemAvailable, kernel incl.)",
	       (double)pk_avail / idle_vms, (double)pk_avail / (raw_avail ? raw_avail : 1),
	       (double)raw_avail / idle_vms);
	/* Does the process slow down as it fills?  Medians of the first and last few. */
	first = median(create_ns, ends);
	last = median(create_ns + idle_vms - ends, ends);
	printf("  %-42s %8.0f us\n", "creating one of the first sandboxes", first / 1e3);
	snprintf(what, sizeof(what), "creating one of the last, beside %u", idle_vms - 1);
	printf("  %-42s %8.0f us  %8.2f x the first\n", what, last / 1e3, last / first);
	free(create_ns);
}

/*
 * What taking a snapshot of an idle default sandbox costs: time, and host
 * memory (the snapshot holds a copy of the guest memory).  One VM at a time.
 */
static void snapshot_cost(double raw_cold)
{
	unsigned n = 5;
	double t[5], kib[5];

	for (unsigned i = 0; i < n; i++) {
		struct pkvm_vm *vm = sandbox(COLD);
		struct pkvm_exit e;
		uint64_t start;
		long before;
		int err;

		if ((err = pkvm_run(vm, &e)))
			die("pkvm_run", err);
		before = rss_kib();
		start = now_ns();
		if ((err = pkvm_snapshot(vm)))
			die("pkvm_snapshot", err);
		t[i] = now_ns() - start;
		kib[i] = rss_kib() - before;
		pkvm_vm_destroy(vm);
	}
	printf("%-44s %12.0f ns  %8.2f x bare cold start; +%.0f KiB RSS\n",
	       "pkvm_snapshot() of an idle 64 MiB sandbox", median(t, n), median(t, n) / raw_cold,
	       median(kib, n));
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	double raw_cold, raw_rt;
	struct pkvm_caps caps;
	struct pkvm_vm *vm;
	bool hw;
	int err;

	bench_raise_nofile();
	if ((err = pkvm_caps(&caps, NULL)))
		die("/dev/kvm", err);
	if (scale > 0 && scale != 1.0) {
		runs = (unsigned)(runs * scale) | 1;
		loop = (unsigned)(loop * scale) + 1;
	}
	/* The backend a default sandbox gets (auto): say which one the figures are for. */
	if ((err = pkvm_vm_create(&vm, NULL)))
		die("pkvm_vm_create", err);
	printf("libpkvm %s, pkeys backend %s; medians of %u runs (round trips: of %u-call loops)\n",
	       pkvm_version(), pkvm_pkeys_backend_name(pkvm_vm_pkeys_backend(vm)), runs, loop);
	hw = pkvm_vm_pkeys_backend(vm) == PKVM_PKEYS_HW;
	pkvm_vm_destroy(vm);

	raw_cold = raw_cold_start();
	raw_rt = rawkvm_exit_ns(runs, loop);
	if (raw_rt < 0)
		die("bare KVM exit", (int)raw_rt);
	report("bare KVM: create, run to OUT, destroy", raw_cold, raw_cold, "bare cold start");
	report("bare KVM: KVM_RUN exit round trip", raw_rt, raw_rt, "bare exit");
	report("cold start: create, first result, destroy", pkvm_cold_start(), raw_cold,
	       "bare cold start");
	/* Issue 13's targets: a host call, a guest call, a small restore near one bare exit. */
	report_cost("host-call round trip (guest->host fn->guest)", pkvm_hostcall(PKVM_PKEYS_AUTO),
		    raw_rt, hw ? 1.2 : 0);
	report_cost("  the same on the none backend (no PKRU)", pkvm_hostcall(PKVM_PKEYS_NONE), raw_rt,
		    1.1);
	report_cost("pkvm_run() exit round trip (to the caller)", pkvm_exit_round_trip(PKVM_PKEYS_AUTO),
		    raw_rt, 0);
	report_cost("  the same on the none backend (no PKRU)", pkvm_exit_round_trip(PKVM_PKEYS_NONE),
		    raw_rt, 0);
	report_cost("guest-function call (pkvm_call)", pkvm_guest_call(PKVM_PKEYS_AUTO), raw_rt, 1.3);
	report_cost("  the same on the none backend (no PKRU)", pkvm_guest_call(PKVM_PKEYS_NONE), raw_rt,
		    1.3);
	for (unsigned dirty = 1; dirty <= 256; dirty *= 16) {
		char what[64];
		struct cost c = pkvm_snapshot_restore(dirty);

		snprintf(what, sizeof(what), "snapshot restore, %u dirty page%s", dirty, dirty > 1 ? "s" : "");
		report_cost(what, c, raw_rt, dirty == 1 ? 1.5 : 0);
	}
	snapshot_cost(raw_cold);
	idle_memory();
	return 0;
}
