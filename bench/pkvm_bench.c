/*
 * pkvm_bench.c: what protection-key switches, views and demand-backed pages
 * cost, as ratios to a bare guest exit measured in the same run.  Run it on a host with /dev/kvm
 * (or in the QEMU lane: tests/qemu/lane.sh DIR ./pkvm_bench).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpkvm.h"
#include "nofile.h"
#include "rawkvm.h"

#define CODE_GVA	0x400000ULL
#define STACK_GVA	0x7ff00000ULL
#define TOUCH_GVA	0x10000000ULL	/* pages of key 0 the loop reads after each switch */
#define TOUCH_MAX	32
#define RUNS		15

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "pkvm_bench: %s: %s\n", what, pkvm_strerror(err));
	exit(1);
}

/*
 * Guest code: @reps rounds of WRPKRU to each of @values in turn, each followed
 * by a read of @touch pages at TOUCH_GVA (RSI), then SYSCALL, in a loop: one
 * pkvm_run() returns per iteration.
 *   1: xor ecx,ecx; xor edx,edx;
 *      [[mov eax,v; wrpkru; [mov r8,[rsi+k*4096]] x touch] for v in values] x reps;
 *      syscall; jmp 1b
 * (SYSCALL clobbers RCX, and WRPKRU needs ECX = 0.)
 */
static size_t emit_loop(uint8_t *code, unsigned reps, const uint32_t *values, unsigned n,
			unsigned touch)
{
	size_t len = 0, loop = 0;
	int32_t rel;

	code[len++] = 0x31; code[len++] = 0xc9;
	code[len++] = 0x31; code[len++] = 0xd2;
	for (unsigned r = 0; r < reps; r++)
		for (unsigned i = 0; i < n; i++) {
			code[len++] = 0xb8; memcpy(code + len, &values[i], 4); len += 4;
			code[len++] = 0x0f; code[len++] = 0x01; code[len++] = 0xef;
			for (unsigned k = 0; k < touch; k++) {
				int32_t disp = k * 4096;

				code[len++] = 0x4c; code[len++] = 0x8b; code[len++] = 0x86;
				memcpy(code + len, &disp, 4);
				len += 4;
			}
		}
	code[len++] = 0x0f; code[len++] = 0x05;
	code[len++] = 0xe9;	/* jmp rel32: the loop is too long for rel8 */
	rel = (int32_t)loop - (int32_t)(len + 4);
	memcpy(code + len, &rel, 4);
	return len + 4;
}

/*
 * A VM whose loop switches among @nvalues PKRU values @reps times: the first
 * two are "key K access-disabled" and "all allowed", the others deny keys
 * 1-3 in turn (more values than the soft view cache holds, when asked).
 */
static struct pkvm_vm *make_vm_touch(enum pkvm_pkeys_backend backend, uint64_t flags,
				     unsigned reps, unsigned nvalues, unsigned touch)
{
	static uint8_t code[16384];
	struct pkvm_regs regs = { .rip = CODE_GVA, .rsp = STACK_GVA + 4096, .rsi = TOUCH_GVA };
	struct pkvm_config cfg = { .mem_size = 256 << 20, .pkeys = backend, .flags = flags };
	uint32_t values[32];
	struct pkvm_vm *vm;
	int err = pkvm_vm_create(&vm, &cfg), key = 0;

	if (err)
		die("pkvm_vm_create", err);
	if (backend != PKVM_PKEYS_NONE)
		for (int k = 1; k <= 3; k++)
			key = pkvm_pkey_alloc(vm);
	for (unsigned i = 0; i < nvalues; i++)
		values[i] = i == 0 && key ? PKVM_PKRU_AD(1) : i == 1 ? 0 : ((i * 7 + 3) % 64) << 2;
	/* emit_loop()'s bytes: the two XORs, each switch and its reads, SYSCALL and JMP. */
	if (touch > TOUCH_MAX || 4 + (size_t)reps * nvalues * (8 + 7 * touch) + 7 > sizeof(code)) {
		fprintf(stderr, "pkvm_bench: the loop does not fit its buffer\n");
		exit(1);
	}
	memset(code, 0xcc, sizeof(code));
	emit_loop(code, reps, values, nvalues, touch);
	if ((err = pkvm_map(vm, CODE_GVA, code, sizeof(code), sizeof(code), PKVM_PROT_EXEC, 0)) ||
	    (err = pkvm_map(vm, STACK_GVA, NULL, 0, 4096, PKVM_PROT_READ | PKVM_PROT_WRITE, 0)) ||
	    (err = pkvm_map(vm, TOUCH_GVA, NULL, 0, TOUCH_MAX * 4096, PKVM_PROT_READ, 0)) ||
	    (err = pkvm_set_regs(vm, &regs)))
		die("guest set-up", err);
	return vm;
}

static struct pkvm_vm *make_vm_flags(enum pkvm_pkeys_backend backend, uint64_t flags,
				     unsigned reps, unsigned nvalues)
{
	return make_vm_touch(backend, flags, reps, nvalues, 0);
}

static struct pkvm_vm *make_vm(enum pkvm_pkeys_backend backend, unsigned switches, int *key)
{
	*key = backend == PKVM_PKEYS_NONE ? 0 : 1;
	return make_vm_flags(backend, 0, switches, switches ? 2 : 0);
}

/* Median nanoseconds per loop iteration (one pkvm_run() round trip each). */
static double per_iteration(struct pkvm_vm *vm, unsigned iterations)
{
	uint64_t t[RUNS];
	struct pkvm_exit e;

	for (int r = 0; r < RUNS; r++) {
		uint64_t start = now_ns();

		for (unsigned i = 0; i < iterations; i++) {
			int err = pkvm_run(vm, &e);

			if (err)
				die("pkvm_run", err);
			if (e.reason != PKVM_EXIT_SYSCALL) {
				fprintf(stderr, "pkvm_bench: unexpected %s exit (%s at %#llx, error %#x)\n",
					pkvm_exit_reason_name(e.reason),
					pkvm_vector_name(e.fault.vector),
					(unsigned long long)e.fault.rip, e.fault.error_code);
				exit(1);
			}
		}
		t[r] = now_ns() - start;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_u64);
	if (getenv("PKVM_BENCH_VERBOSE")) {
		struct pkvm_stats st;

		pkvm_get_stats(vm, &st);
		fprintf(stderr, "  (%llu runs, %llu KVM exits, %llu PKRU emulations; min %.0f max %.0f ns)\n",
			(unsigned long long)st.runs, (unsigned long long)st.kvm_exits,
			(unsigned long long)st.pkru_emulations, (double)t[0] / iterations,
			(double)t[RUNS - 1] / iterations);
	}
	return (double)t[RUNS / 2] / iterations;
}

/* Pool memory of one view over @mib MiB of keyed memory beside as much of key 0. */
static void view_memory(unsigned mib)
{
	struct pkvm_stats stats;
	struct pkvm_exit exit;
	struct pkvm_vm *vm;
	int key, err;

	vm = make_vm(PKVM_PKEYS_SOFT, 1, &key);
	if ((err = pkvm_map(vm, 0x40000000ULL, NULL, 0, (uint64_t)mib << 20,
			    PKVM_PROT_READ | PKVM_PROT_WRITE, key)) ||
	    (err = pkvm_map(vm, 0x80000000ULL, NULL, 0, (uint64_t)mib << 20,
			    PKVM_PROT_READ | PKVM_PROT_WRITE, 0)))
		die("pkvm_map", err);
	/* Large pages would hide the cost: split them by keying every other 4 KiB page. */
	for (uint64_t off = 0; off < ((uint64_t)mib << 20); off += 8192)
		pkvm_set_pkey(vm, 0x40000000ULL + off, 4096, 0);
	if ((err = pkvm_run(vm, &exit)))
		die("pkvm_run", err);
	pkvm_get_stats(vm, &stats);
	/* Key 0's region shares the master's tables: only the keyed part is copied. */
	printf("soft: one view over %u MiB of keyed 4 KiB pages beside %u MiB of key 0: "
	       "%llu KiB of tables = %.2f%% of the keyed memory\n", mib, mib,
	       (unsigned long long)stats.view_pages * 4,
	       stats.view_pages * 4096.0 * 100 / ((double)mib * (1 << 20)));
	pkvm_vm_destroy(vm);
}

/* Resident memory of this process, in KiB (/proc/self/statm), or 0. */
static unsigned long rss_kib(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * 4;
}

/*
 * Demand-backed memory: 64 GiB reserved, 1 MiB of it touched, one page per
 * exit (mov byte [rdi], 1; add rdi, 4096; syscall; jmp back).  What the
 * first touch of a page costs (its fill, beyond the exit itself), and what
 * the reservation costs in guest frames and host memory.
 */
static void demand_memory(enum pkvm_pkeys_backend backend, double bare)
{
	static const uint8_t touch[] = { 0xc6, 0x07, 0x01, 0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00,
					 0x0f, 0x05, 0xeb, 0xf2 };
	const uint64_t base = 1ULL << 40, pages = 256;
	struct pkvm_stats before, after;
	struct pkvm_regs regs;
	struct pkvm_exit e;
	struct pkvm_vm *vm;
	uint64_t t[2];
	unsigned long rss;
	int key, err;

	vm = make_vm(backend, 0, &key);
	if ((err = pkvm_map_demand(vm, base, 64ULL << 30, PKVM_PROT_READ | PKVM_PROT_WRITE, 0)))
		die("pkvm_map_demand", err);
	if ((err = pkvm_unmap(vm, CODE_GVA, 4096)) ||
	    (err = pkvm_map(vm, CODE_GVA, touch, sizeof(touch), 4096, PKVM_PROT_EXEC, 0)))
		die("guest set-up", err);
	pkvm_get_stats(vm, &before);
	rss = rss_kib();
	for (int pass = 0; pass < 2; pass++) {
		uint64_t start = now_ns();

		pkvm_get_regs(vm, &regs);
		regs.rip = CODE_GVA;
		regs.rdi = base;
		pkvm_set_regs(vm, &regs);
		for (uint64_t i = 0; i < pages; i++)
			if ((err = pkvm_run(vm, &e)) || e.reason != PKVM_EXIT_SYSCALL)
				die("pkvm_run (demand)", err ? err : -EIO);
		t[pass] = now_ns() - start;
	}
	pkvm_get_stats(vm, &after);
	printf("%s: a page's first touch: %.0f ns more than a touched one's = %.2f x a pkvm exit (none); "
	       "64 GiB reserved, 1 MiB touched: %llu KiB of guest memory, %lu KiB more host memory\n",
	       pkvm_pkeys_backend_name(backend), (double)(t[0] - t[1]) / pages,
	       (double)(t[0] - t[1]) / pages / bare,
	       (unsigned long long)(after.frames_in_use - before.frames_in_use) * 4,
	       rss_kib() - rss);
	pkvm_vm_destroy(vm);
}

/* Run the static program @path with @arg under the Linux personality: nanoseconds, or 0. */
static uint64_t run_linux(const char *path, const char *arg, enum pkvm_pkeys_backend backend)
{
	const char *const argv[] = { path, arg, NULL }, *const envp[] = { NULL };
	struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	struct pkvm_program prog;
	struct pkvm_exit e;
	struct pkvm_vm *vm;
	static char image[4 << 20];
	uint64_t start;
	ssize_t size;
	int fd = open(path, O_RDONLY), err;

	if (fd < 0)
		return 0;
	size = read(fd, image, sizeof(image));
	close(fd);
	if (size <= 0)
		return 0;
	if ((err = pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 128 << 20,
							      .pkeys = backend })))
		die("pkvm_vm_create", err);
	if ((err = pkvm_load_elf(vm, image, (size_t)size, argv, envp, 0, &prog)))
		die("pkvm_load_elf", err);
	lx.program = &prog;
	if ((err = pkvm_linux_attach(vm, &lx)))
		die("pkvm_linux_attach", err);
	start = now_ns();
	do {
		if ((err = pkvm_run(vm, &e)))
			die("pkvm_run (pingpong)", err);
	} while (e.reason == PKVM_EXIT_INTERRUPTED);
	start = now_ns() - start;
	if (e.reason != PKVM_EXIT_EXIT || e.exit.status != 0) {
		fprintf(stderr, "pkvm_bench: pingpong ended with %s, status %d\n",
			pkvm_exit_reason_name(e.reason), e.exit.status);
		exit(1);
	}
	pkvm_vm_destroy(vm);
	return start;
}

/*
 * A thread switch of the Linux personality: bench/pingpong (beside this
 * program) hands a futex turn between two threads, two switches a round;
 * its start-up, measured with no rounds, is taken off.
 */
static void thread_switch(const char *self, enum pkvm_pkeys_backend backend, double bare)
{
	char path[4096];
	uint64_t none, many;
	const unsigned rounds = 2000;

	snprintf(path, sizeof(path), "%s/pingpong", dirname((char *)self));
	none = run_linux(path, "0", backend);
	if (!none) {
		printf("(no %s: thread switch not measured)\n", path);
		return;
	}
	many = run_linux(path, "2000", backend);
	printf("%s: a thread switch (futex ping-pong, M:1): %.0f ns = %.2f x a pkvm exit (none)\n",
	       pkvm_pkeys_backend_name(backend), (double)(many - none) / (2.0 * rounds),
	       (double)(many - none) / (2.0 * rounds) / bare);
}

/*
 * soft: what the views' PCIDs save.  Each switch is followed by reads of 16
 * pages, which a switch that flushes the TLB makes miss again; with PCIDs
 * they hit.  Measured with and without (PKVM_CONFIG_SOFT_NO_PCID).
 */
static void pcid_switches(bool offered, double bare, double raw, unsigned iterations)
{
	const unsigned touch = 16, reps = 8;
	double per[2], plain;
	struct pkvm_vm *vm;

	if (!offered) {
		printf("soft: PCIDs: this KVM offers none, so every view switch flushes the guest TLB\n");
		return;
	}
	for (int no_pcid = 0; no_pcid < 2; no_pcid++) {
		vm = make_vm_touch(PKVM_PKEYS_SOFT, no_pcid ? PKVM_CONFIG_SOFT_NO_PCID : 0,
				   reps, 2, touch);
		per[no_pcid] = (per_iteration(vm, iterations / 4 + 1) - bare) / (2 * reps);
		pkvm_vm_destroy(vm);
	}
	printf("soft: guest WRPKRU, cached view, then %u page reads: %.0f ns = %.2f x a bare KVM "
	       "exit on PCIDs; %.0f ns = %.2f x without (PKVM_CONFIG_SOFT_NO_PCID): PCIDs save %.0f ns\n",
	       touch, per[0], per[0] / raw, per[1], per[1] / raw, per[1] - per[0]);
	vm = make_vm_flags(PKVM_PKEYS_SOFT, PKVM_CONFIG_SOFT_NO_PCID, 16, 2);
	plain = (per_iteration(vm, iterations / 4 + 1) - bare) / 32;
	pkvm_vm_destroy(vm);
	printf("soft: guest WRPKRU, cached view, without PCIDs: %.0f ns = %.2f x a bare KVM exit\n",
	       plain, plain / raw);
}

int main(int argc, char **argv)
{
	unsigned iterations = argc > 1 ? (unsigned)atoi(argv[1]) : 2000;
	struct pkvm_caps caps;
	struct pkvm_vm *vm;
	double bare, raw, soft16, hw16 = 0, v, miss, miss_host;
	int key, err;

	bench_raise_nofile();
	if ((err = pkvm_caps(&caps, NULL)))
		die("/dev/kvm", err);
	if (iterations == 0)
		iterations = 2000;
	printf("libpkvm %s, medians of %d runs of %u iterations\n", pkvm_version(), RUNS, iterations);

	vm = make_vm(PKVM_PKEYS_NONE, 0, &key);
	bare = per_iteration(vm, iterations);
	pkvm_vm_destroy(vm);
	printf("pkvm exit, none backend (syscall round trip): %.0f ns\n", bare);

	raw = rawkvm_exit_ns(RUNS, iterations);
	if (raw < 0)
		die("bare KVM exit", (int)raw);
	printf("bare KVM exit (KVM_RUN round trip, no library): %.0f ns\n", raw);

	/* Two values, both views cached: each WRPKRU is a view switch. */
	vm = make_vm(PKVM_PKEYS_SOFT, 16, &key);
	soft16 = per_iteration(vm, iterations / 4 + 1);
	pkvm_vm_destroy(vm);
	v = (soft16 - bare) / 32;
	printf("soft: guest WRPKRU, cached view (in the stub): %.0f ns = %.2f x a bare KVM exit  "
	       "[target <= 0.30: %s]\n", v, v / raw, v / raw <= 0.30 ? "met" : "missed");
	vm = make_vm_flags(PKVM_PKEYS_SOFT, PKVM_CONFIG_SOFT_PKRU_EXITS, 16, 2);
	soft16 = per_iteration(vm, iterations / 4 + 1);
	pkvm_vm_destroy(vm);
	printf("soft: the same served by the host (PKVM_CONFIG_SOFT_PKRU_EXITS): %.0f ns = "
	       "%.2f x a bare KVM exit\n", (soft16 - bare) / 32, (soft16 - bare) / 32 / raw);

	pcid_switches(caps.pcid, bare, raw, iterations);

	/* 24 values round robin, three times the view cache: every WRPKRU builds a view. */
	vm = make_vm_flags(PKVM_PKEYS_SOFT, 0, 1, 24);
	miss = (per_iteration(vm, iterations / 8 + 1) - bare) / 24;
	pkvm_vm_destroy(vm);
	vm = make_vm_flags(PKVM_PKEYS_SOFT, PKVM_CONFIG_SOFT_PKRU_EXITS, 1, 24);
	miss_host = (per_iteration(vm, iterations / 8 + 1) - bare) / 24;
	pkvm_vm_destroy(vm);
	printf("soft: guest WRPKRU to a value with no view: %.0f ns = %.2f x a bare KVM exit; "
	       "%.2f x the host-only path  [target <= 1.20: %s]\n", miss, miss / raw,
	       miss / miss_host, miss / miss_host <= 1.20 ? "met" : "missed");
	if (caps.pku) {
		vm = make_vm(PKVM_PKEYS_HW, 16, &key);
		hw16 = per_iteration(vm, iterations);
		pkvm_vm_destroy(vm);
		printf("hw:   guest WRPKRU (native): %.0f ns = %.3f x a bare KVM exit\n",
		       (hw16 - bare) / 32 > 0 ? (hw16 - bare) / 32 : 0, ((hw16 - bare) / 32) / raw);
	}
	view_memory(16);
	{
		char self[4096];

		snprintf(self, sizeof(self), "%s", argv[0]);
		thread_switch(self, PKVM_PKEYS_SOFT, bare);
		if (caps.pku) {
			snprintf(self, sizeof(self), "%s", argv[0]);
			thread_switch(self, PKVM_PKEYS_HW, bare);
		}
	}
	demand_memory(PKVM_PKEYS_NONE, bare);
	demand_memory(PKVM_PKEYS_SOFT, bare);
	if (caps.pku)
		demand_memory(PKVM_PKEYS_HW, bare);
	return 0;
}
