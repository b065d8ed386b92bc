/* test_embed.c: the embedding paths: host functions, guest functions, per-call PKRU windows. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmtest.h"

#define RW	(PKVM_PROT_READ | PKVM_PROT_WRITE)

/* ---- guest code ---------------------------------------------------------- */

GUEST_CODE static void guest_calls_host(uint64_t a, uint64_t b)
{
	uint64_t r = guest_syscall(PKVM_HOSTCALL_BASE + 7, a, b, 0);

	GUEST_SYNC(r);
	r = guest_syscall(PKVM_HOSTCALL_BASE + 8, 0, 0, 0);	/* unregistered */
	GUEST_SYNC(r);
	GUEST_DONE();
}

GUEST_CODE static uint64_t guest_sum8(uint64_t a, uint64_t b, uint64_t c, uint64_t d,
				      uint64_t e, uint64_t f, uint64_t g, uint64_t h)
{
	return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h;
}

/* An untrusted "parser": sums the bytes of a buffer it is handed. */
GUEST_CODE static uint64_t guest_parse(const uint8_t *buf, uint64_t len)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum += buf[i];
	return sum;
}

/* Asks the host to check a guest buffer through a host function. */
GUEST_CODE static uint64_t guest_ask_host(const uint8_t *buf, uint64_t len)
{
	return guest_syscall(PKVM_HOSTCALL_BASE + 1, (uint64_t)buf, len, 0) + 1;
}

GUEST_CODE static void guest_idle(void)
{
	GUEST_SYNC(1);
	GUEST_DONE();
}

/* Writes one word in each of @npages pages: the dirt a request leaves behind. */
GUEST_CODE static uint64_t guest_scribble(volatile uint64_t *base, uint64_t npages)
{
	for (uint64_t i = 0; i < npages; i++)
		base[i * 512] = 0xd00d0000 + i;
	return npages;
}

/* What the FS and GS bases point at: the first word behind each, packed. */
GUEST_CODE static uint64_t guest_read_fs_gs(void)
{
	uint64_t fs, gs;

	__asm__ volatile("movq %%fs:0, %0; movq %%gs:0, %1" : "=r"(fs), "=r"(gs));
	return (fs & 0xffffffff) | gs << 32;
}

/* The guest changes its own PKRU (hw: natively; soft: emulated), and says what it has. */
GUEST_CODE static uint64_t guest_set_pkru(uint64_t pkru)
{
	guest_wrpkru((uint32_t)pkru);
	return guest_rdpkru();
}

GUEST_CODE static uint64_t guest_get_pkru(void)
{
	return guest_rdpkru();
}

/* ---- host side ------------------------------------------------------------ */

static struct vmtest t;

static void teardown(void) { if (t.vm) vmtest_destroy(&t); }

static uint64_t host_mul(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	(void)vm;
	return args[0] * args[1] + *(uint64_t *)ctx;
}

/* Reads the guest's buffer as the guest could: its PKRU applies. */
static uint64_t host_read_buffer(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	uint8_t buf[64];
	int err;

	(void)ctx;
	if (args[1] > sizeof(buf))
		return (uint64_t)-EINVAL;
	err = pkvm_read_guest(vm, buf, args[0], args[1]);
	return err ? (uint64_t)(int64_t)err : buf[0];
}

START_TEST(test_host_function_one_exit_per_call)
{
	struct pkvm_stats before, after;
	uint64_t bias = 5;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_hostcall_register(t.vm, 7, host_mul, &bias), 0);
	ck_assert_int_eq(pkvm_hostcall_register(t.vm, PKVM_HOSTCALL_MAX, host_mul, NULL), -EINVAL);
	vmtest_start(&t, guest_calls_host, 6, 7, 0);
	pkvm_get_stats(t.vm, &before);
	vmtest_expect_sync(&t, 47);
	pkvm_get_stats(t.vm, &after);
	/* The host call and the SYNC: two exits, no more. */
	ck_assert_uint_eq(after.kvm_exits - before.kvm_exits, 2);
	/* An unregistered host call reaches pkvm_run()'s caller. */
	ck_assert_int_eq(vmtest_run(&t)->reason, PKVM_EXIT_SYSCALL);
	ck_assert_uint_eq(t.exit.syscall.nr, PKVM_HOSTCALL_BASE + 8);
	ck_assert_int_eq(pkvm_syscall_return(t.vm, 99), 0);
	vmtest_expect_sync(&t, 99);
}
END_TEST

START_TEST(test_guest_function_sysv_call)
{
	const uint64_t args[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct pkvm_regs before, after;
	struct pkvm_exit e;

	vmtest_create(&t, _i);
	vmtest_start(&t, guest_idle, 0, 0, 0);
	ck_assert_int_eq(pkvm_get_regs(t.vm, &before), 0);
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_sum8), args, 8, &e), 0);
		ck_assert_int_eq(e.reason, PKVM_EXIT_RETURN);
		ck_assert_uint_eq(e.ret.value, 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64);
	}
	/* The context from before the calls is back: the guest goes on as if nothing happened. */
	ck_assert_int_eq(pkvm_get_regs(t.vm, &after), 0);
	ck_assert_uint_eq(after.rip, before.rip);
	ck_assert_uint_eq(after.rsp, before.rsp);
	vmtest_expect_sync(&t, 1);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_sum8), args, 17, &e), -EINVAL);
	ck_assert_int_eq(pkvm_call_abort(t.vm), -ENOENT);
}
END_TEST

START_TEST(test_per_call_pkru_window)
{
	uint64_t input = VMTEST_DATA_GVA;
	uint8_t bytes[32];
	struct pkvm_exit e;
	int key;

	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(t.backend))
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, input, 4096, RW, key);
	for (int i = 0; i < 32; i++)
		bytes[i] = i;
	ck_assert_int_eq(pkvm_write_guest(t.vm, input, bytes, sizeof(bytes)), 0);
	vmtest_start(&t, guest_idle, 0, 0, 0);

	/* Outside a call the parser may not see the input... */
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_parse), (uint64_t[]){ input, 32 }, 2, &e), 0);
	ck_assert_int_eq(e.reason, PKVM_EXIT_FAULT);
	ck_assert_uint_eq(e.fault.pfec, PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK);
	ck_assert_int_eq(pkvm_call_abort(t.vm), 0);
	/* ...during one it may read it, and nothing more. */
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_WD(key)), 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_parse), (uint64_t[]){ input, 32 }, 2, &e), 0);
	ck_assert_int_eq(e.reason, PKVM_EXIT_RETURN);
	ck_assert_uint_eq(e.ret.value, 31 * 32 / 2);
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	vmtest_expect_sync(&t, 1);
}
END_TEST

START_TEST(test_host_function_sees_guest_pkru)
{
	uint64_t buf = VMTEST_DATA_GVA;
	struct pkvm_exit e;
	int key;

	vmtest_create(&t, _i);
	if (!vmtest_backend_enforces(t.backend))
		return;
	key = pkvm_pkey_alloc(t.vm);
	vmtest_map(&t, buf, 4096, RW, key);
	ck_assert_int_eq(pkvm_write_guest(t.vm, buf, "\x2a", 1), 0);
	ck_assert_int_eq(pkvm_hostcall_register(t.vm, 1, host_read_buffer, NULL), 0);
	vmtest_start(&t, guest_idle, 0, 0, 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_ask_host), (uint64_t[]){ buf, 8 }, 2, &e), 0);
	ck_assert_int_eq(e.reason, PKVM_EXIT_RETURN);
	ck_assert_uint_eq(e.ret.value, 0x2a + 1);
	/* A guest cannot make the host read what it could not read itself. */
	ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_ask_host), (uint64_t[]){ buf, 8 }, 2, &e), 0);
	ck_assert_int_eq(e.reason, PKVM_EXIT_RETURN);
	ck_assert_uint_eq(e.ret.value, (uint64_t)-EFAULT + 1);
}
END_TEST

static void expect_pattern(uint64_t base, uint64_t npages, uint64_t pattern)
{
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t v;

		ck_assert_int_eq(pkvm_read_guest(t.vm, &v, base + i * 4096, 8), 0);
		ck_assert_msg(v == pattern, "page %llu holds %#llx, expected %#llx",
			      (unsigned long long)i, (unsigned long long)v, (unsigned long long)pattern);
	}
}

START_TEST(test_snapshot_restore)
{
	const uint64_t base = VMTEST_DATA_GVA, pattern = 0x1111111111111111ULL;
	struct pkvm_regs before, after;
	static uint64_t fill[256 * 512];
	struct pkvm_exit e;
	uint64_t v;
	int key;

	vmtest_create(&t, _i);
	for (size_t i = 0; i < 256 * 512; i++)
		fill[i] = pattern;
	ck_assert_int_eq(pkvm_map(t.vm, base, fill, sizeof(fill), sizeof(fill), RW, 0), 0);
	vmtest_start(&t, guest_idle, 0, 0, 0);
	ck_assert_int_eq(pkvm_restore(t.vm), -ENOENT);
	ck_assert_int_eq(pkvm_snapshot(t.vm), 0);
	ck_assert_int_eq(pkvm_get_regs(t.vm, &before), 0);

	for (uint64_t dirty = 1; dirty <= 256; dirty *= 16) {
		ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_scribble),
					   (uint64_t[]){ base, dirty }, 2, &e), 0);
		ck_assert_int_eq(e.reason, PKVM_EXIT_RETURN);
		ck_assert_int_eq(pkvm_read_guest(t.vm, &v, base, 8), 0);
		ck_assert_uint_eq(v, 0xd00d0000);
		/* Host-side changes too: a new mapping, a host write, the PKRU, a key. */
		vmtest_map(&t, 0x20000000, 8192, RW, 0);
		v = 42;
		ck_assert_int_eq(pkvm_write_guest(t.vm, base + 8, &v, 8), 0);
		if (vmtest_backend_enforces(t.backend)) {
			key = pkvm_pkey_alloc(t.vm);
			ck_assert_int_eq(pkvm_set_pkey(t.vm, base, 4096, key), 0);
			ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_AD(key)), 0);
		}
		ck_assert_int_eq(pkvm_restore(t.vm), 0);
		expect_pattern(base, 256, pattern);
		ck_assert_int_eq(pkvm_read_guest(t.vm, &v, base + 8, 8), 0);
		ck_assert_uint_eq(v, pattern);
		ck_assert_int_eq(pkvm_read_guest(t.vm, &v, 0x20000000, 8), -EFAULT);
		ck_assert_int_eq(pkvm_get_regs(t.vm, &after), 0);
		ck_assert_uint_eq(after.rip, before.rip);
		ck_assert_uint_eq(after.rsp, before.rsp);
		if (vmtest_backend_enforces(t.backend)) {
			uint32_t pkru;

			ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
			ck_assert_uint_eq(pkru, 0);
			ck_assert_int_eq(pkvm_pkey_alloc(t.vm), 1);	/* the key is free again */
			ck_assert_int_eq(pkvm_pkey_free(t.vm, 1), 0);
		}
	}
	/* And the restored guest runs on from where it was. */
	vmtest_expect_sync(&t, 1);
	pkvm_snapshot_drop(t.vm);
	ck_assert_int_eq(pkvm_restore(t.vm), -ENOENT);
}
END_TEST

/*
 * ioctls made beside the KVM_RUNs of the exits taken in between: what an
 * operation costs in trips to KVM besides entering the guest.  Without
 * KVM_CAP_SYNC_REGS each exit also costs a KVM_GET_REGS and a KVM_SET_REGS.
 */
struct cost_mark {
	struct pkvm_stats stats;
};

static void cost_begin(struct cost_mark *m)
{
	ck_assert_int_eq(pkvm_get_stats(t.vm, &m->stats), 0);
}

static uint64_t cost_end(const struct cost_mark *m, uint64_t *exits)
{
	static int sync_regs = -1;
	struct pkvm_stats now;
	uint64_t per_exit;

	if (sync_regs < 0) {
		struct pkvm_caps caps;

		ck_assert_int_eq(pkvm_caps(&caps, NULL), 0);
		sync_regs = caps.sync_regs;
	}
	per_exit = sync_regs ? 1 : 3;
	ck_assert_int_eq(pkvm_get_stats(t.vm, &now), 0);
	*exits = now.kvm_exits - m->stats.kvm_exits;
	ck_assert_uint_ge(now.ioctls - m->stats.ioctls, *exits * per_exit);
	return now.ioctls - m->stats.ioctls - *exits * per_exit;
}

/*
 * Issue 13: a host call, a guest call and a small restore cost about one
 * bare exit.  The counts here are what they take now: a regression check
 * of trips into KVM, not of time (embed_bench measures that).
 */
START_TEST(test_ioctls_per_operation)
{
	const uint64_t args[6] = { 1, 2, 3, 4, 5, 6 };
	bool shadow, shadow_soft;
	struct cost_mark m;
	struct pkvm_caps caps;
	struct pkvm_exit e;
	uint64_t bias = 5, exits, extra;

	vmtest_create(&t, _i);
	ck_assert_int_eq(pkvm_caps(&caps, NULL), 0);
	/*
	 * Shadow paging: the first entry after table edits (the set-up's, the
	 * soft backend's views) refreshes the pool's slot, 2 ioctls.
	 */
	shadow = caps.paging != PKVM_PAGING_EPT && caps.paging != PKVM_PAGING_NPT;
	shadow_soft = shadow && t.backend == PKVM_PKEYS_SOFT;
	ck_assert_int_eq(pkvm_hostcall_register(t.vm, 7, host_mul, &bias), 0);
	vmtest_start(&t, guest_calls_host, 6, 7, 0);
	vmtest_map(&t, VMTEST_DATA_GVA, 4096, RW, 0);

	/* A host call: its exit's KVM_RUN and nothing else, on every backend. */
	cost_begin(&m);
	vmtest_expect_sync(&t, 47);
	ck_assert_uint_eq(cost_end(&m, &exits), 2 * shadow);
	ck_assert_uint_eq(exits, 2);	/* the host call, the SYNC */

	/* A guest call, once the trampoline is there (the first call maps it). */
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_sum8), args, 6, &e), 0);
	for (int round = 0; round < 2; round++) {
		cost_begin(&m);
		ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_sum8), args, 6, &e), 0);
		ck_assert_int_eq(e.reason, PKVM_EXIT_RETURN);
		extra = cost_end(&m, &exits);
		if (t.backend != PKVM_PKEYS_SOFT)
			ck_assert_uint_eq(exits, 1);
		/*
		 * hw: the return address is written under the guest's PKRU, which
		 * the stub recorded on its way out at the last exit: no KVM_GET_XSAVE.
		 */
		ck_assert_uint_le(extra, 2 * shadow_soft);
	}

	/*
	 * A restore of one dirty page: the dirty log and the FPU state; the
	 * sregs ride on the next KVM_RUN (KVM_SYNC_X86_SREGS, which KVMs with
	 * sync regs have), or cost a third.
	 */
	ck_assert_int_eq(pkvm_snapshot(t.vm), 0);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_scribble),
				   (uint64_t[]){ VMTEST_DATA_GVA, 1 }, 2, &e), 0);
	cost_begin(&m);
	ck_assert_int_eq(pkvm_restore(t.vm), 0);
	ck_assert_uint_le(cost_end(&m, &exits), caps.sync_regs ? 2 : 3);
	ck_assert_uint_eq(exits, 0);
	/* And the call after it pays nothing for it: no segment reload, no table flush. */
	cost_begin(&m);
	ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_sum8), args, 6, &e), 0);
	ck_assert_uint_le(cost_end(&m, &exits), 2 * shadow);
}
END_TEST

/* A restore brings back what the vCPU holds, not only memory: registers, FS/GS, PKRU. */
START_TEST(test_restore_brings_back_vcpu_state)
{
	const uint64_t base = VMTEST_DATA_GVA, fs_word = 0x1111, gs_word = 0x2222;
	static uint64_t words[1024];
	struct pkvm_regs regs, snap_regs, after;
	uint32_t pkru, snap_pkru;
	struct pkvm_exit e;
	bool keys;

	vmtest_create(&t, _i);
	keys = vmtest_backend_enforces(t.backend);
	words[0] = fs_word;
	words[512] = gs_word;
	ck_assert_int_eq(pkvm_map(t.vm, base, words, sizeof(words), sizeof(words), RW, 0), 0);
	vmtest_start(&t, guest_idle, 0, 0, 0);
	/* Bases set by the host and not yet in the vCPU when the snapshot is taken. */
	ck_assert_int_eq(pkvm_get_regs(t.vm, &regs), 0);
	regs.fs_base = base;
	regs.gs_base = base + 4096;
	regs.r12 = 0x1212;
	regs.r15 = 0x1515;
	ck_assert_int_eq(pkvm_set_regs(t.vm, &regs), 0);
	if (keys)
		ck_assert_int_eq(pkvm_set_pkru(t.vm, PKVM_PKRU_WD(3)), 0);
	ck_assert_int_eq(pkvm_snapshot(t.vm), 0);
	ck_assert_int_eq(pkvm_get_regs(t.vm, &snap_regs), 0);
	ck_assert_int_eq(pkvm_get_pkru(t.vm, &snap_pkru), 0);

	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_read_fs_gs), NULL, 0, &e), 0);
		ck_assert_uint_eq(e.ret.value, fs_word | gs_word << 32);
		/* Everything changed: the bases swapped, registers, PKRU by the guest itself. */
		regs = snap_regs;
		regs.fs_base = base + 4096;
		regs.gs_base = base;
		regs.r12 = regs.r15 = 0;
		ck_assert_int_eq(pkvm_set_regs(t.vm, &regs), 0);
		ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_read_fs_gs), NULL, 0, &e), 0);
		ck_assert_uint_eq(e.ret.value, gs_word | fs_word << 32);
		if (keys) {
			ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_set_pkru),
						   (uint64_t[]){ PKVM_PKRU_AD(4) }, 1, &e), 0);
			ck_assert_uint_eq(e.ret.value, PKVM_PKRU_AD(4));
			ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
			ck_assert_uint_eq(pkru, PKVM_PKRU_AD(4));
		}

		ck_assert_int_eq(pkvm_restore(t.vm), 0);
		ck_assert_int_eq(pkvm_get_regs(t.vm, &after), 0);
		ck_assert_mem_eq(&after, &snap_regs, sizeof(after));
		ck_assert_int_eq(pkvm_get_pkru(t.vm, &pkru), 0);
		ck_assert_uint_eq(pkru, snap_pkru);
		/* What the guest sees, not only what the host says. */
		ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_read_fs_gs), NULL, 0, &e), 0);
		ck_assert_uint_eq(e.ret.value, fs_word | gs_word << 32);
		if (keys) {
			ck_assert_int_eq(pkvm_call(t.vm, vmtest_guest_addr(guest_get_pkru), NULL, 0, &e),
					 0);
			ck_assert_uint_eq(e.ret.value, snap_pkru);
		}
		ck_assert_int_eq(pkvm_restore(t.vm), 0);
		/* A snapshot before the next run sees the restored vCPU, sregs still deferred. */
		if (round == 0)
			ck_assert_int_eq(pkvm_snapshot(t.vm), 0);
	}
	vmtest_expect_sync(&t, 1);
}
END_TEST

/* ---- many sandboxes ------------------------------------------------------- */

GUEST_CODE static void guest_count(volatile uint64_t *acc, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++)
		*acc += i;
	GUEST_SYNC(*acc);
	GUEST_DONE();
}

#ifdef __SANITIZE_ADDRESS__
/* Bytes the ASan allocator has mapped (LLVM's sanitizer/allocator_interface.h; GCC ships no header). */
size_t __sanitizer_get_heap_size(void);
/*
 * ASan's quarantine keeps freed blocks (up to 256 MiB) to catch use after free,
 * so its heap grows by design; LeakSanitizer judges heap leaks at exit.  What
 * this test still must see is memory outside the heap (guest memory, tables).
 */
static long heap_kib(void)
{
	return (long)(__sanitizer_get_heap_size() / 1024);
}
#else
static long heap_kib(void)
{
	return 0;
}
#endif

/* Resident memory outside a sanitizer's heap (all of it in normal builds). */
static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	if (f)
		fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024) - heap_kib();
}

#define MANY	200

START_TEST(test_hundreds_of_vms_at_once)
{
	static struct vmtest vms[MANY];
	int fds = vmtest_open_fds();

	for (int i = 0; i < MANY; i++) {
		vmtest_create(&vms[i], _i);
		vmtest_map(&vms[i], VMTEST_DATA_GVA, 4096, RW, 0);
		vmtest_start(&vms[i], guest_count, VMTEST_DATA_GVA, i, 0);
	}
	/* Each has its own memory: run them all, in an order unlike creation. */
	for (int i = MANY - 1; i >= 0; i--)
		vmtest_expect_sync(&vms[i], (uint64_t)i * (i + 1) / 2);
	for (int i = 0; i < MANY; i++)
		vmtest_destroy(&vms[i]);
	ck_assert_int_eq(vmtest_open_fds(), fds);
}
END_TEST

START_TEST(test_create_destroy_leaks_nothing)
{
	int fds = 0;
	long rss = 0;

	for (int cycle = 0; cycle < 1000; cycle++) {
		vmtest_create(&t, _i);
		/* Every tenth VM runs and keeps a snapshot: those paths must not leak either. */
		if (cycle % 10 == 0) {
			vmtest_map(&t, VMTEST_DATA_GVA, 4096, RW, 0);
			vmtest_start(&t, guest_count, VMTEST_DATA_GVA, 10, 0);
			vmtest_expect_sync(&t, 55);
			ck_assert_int_eq(pkvm_snapshot(t.vm), 0);
		}
		vmtest_destroy(&t);
		if (cycle == 50) {	/* after the allocator and KVM have warmed up */
			fds = vmtest_open_fds();
			rss = rss_kib();
		}
	}
	ck_assert_int_eq(vmtest_open_fds(), fds);
	ck_assert_msg(rss_kib() - rss < 4096, "RSS grew by %ld KiB over 950 cycles",
		      rss_kib() - rss);
}
END_TEST

struct worker {
	int backend_index;
	int id;
	int failures;
};

/* Each thread owns its VMs; they run on all threads at the same time. */
static void *run_worker(void *arg)
{
	struct worker *w = arg;
	struct pkvm_config cfg = { .mem_size = 16 << 20, .pkeys = vmtest_backends[w->backend_index] };
	const uint8_t code[] = {
		0x48, 0x31, 0xc0,		/* xor %rax,%rax */
		0x48, 0x01, 0xf8,		/* 1: add %rdi,%rax */
		0x48, 0xff, 0xcf,		/* dec %rdi */
		0x75, 0xf8,			/* jnz 1b */
		0x48, 0x89, 0xc7,		/* mov %rax,%rdi */
		0xb8, 0x00, 0x10, 0, 0,		/* mov $VMTEST_NR_SYNC,%eax */
		0x0f, 0x05,			/* syscall */
		0x0f, 0x0b,			/* ud2 */
	};

	for (int round = 0; round < 3; round++) {
		struct pkvm_regs regs = { .rip = 0x400000, .rdi = 20000 + w->id };
		struct pkvm_exit e;
		struct pkvm_vm *vm;
		uint64_t n = regs.rdi;

		if (pkvm_vm_create(&vm, &cfg) ||
		    pkvm_map(vm, 0x400000, code, sizeof(code), 4096, PKVM_PROT_EXEC, 0) ||
		    pkvm_set_regs(vm, &regs) || pkvm_run(vm, &e) ||
		    e.reason != PKVM_EXIT_SYSCALL || e.syscall.args[0] != n * (n + 1) / 2)
			w->failures++;
		pkvm_vm_destroy(vm);
	}
	return NULL;
}

START_TEST(test_vms_on_many_threads)
{
	struct worker workers[6];
	pthread_t threads[6];

	for (int i = 0; i < 6; i++) {
		workers[i] = (struct worker){ .backend_index = _i, .id = i };
		ck_assert_int_eq(pthread_create(&threads[i], NULL, run_worker, &workers[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(threads[i], NULL);
		ck_assert_int_eq(workers[i].failures, 0);
	}
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("embedding");

	vmtest_probe_backends();
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_host_function_one_exit_per_call, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_guest_function_sysv_call, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_per_call_pkru_window, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_host_function_sees_guest_pkru, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_snapshot_restore, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_ioctls_per_operation, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_restore_brings_back_vcpu_state, 0, vmtest_nbackends);
	tcase_add_loop_test(tc, test_hundreds_of_vms_at_once, 0, 1);
	tcase_add_loop_test(tc, test_create_destroy_leaks_nothing, 0, 1);
	tcase_add_loop_test(tc, test_vms_on_many_threads, 0, vmtest_nbackends);
	return vmtest_run_tcase("embed", tc, CK_VERBOSE);
}
