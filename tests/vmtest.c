/* vmtest.c: the host side of the VM test helpers: VMs, guest code, runs and expectations. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

/* Weak: a suite with no guest code in C (it loads ELF programs) has no such section. */
extern const uint8_t __start_pkvm_guest_text[] __attribute__((weak));
extern const uint8_t __stop_pkvm_guest_text[] __attribute__((weak));

enum pkvm_pkeys_backend vmtest_backends[VMTEST_MAX_VARIANTS];
uint64_t vmtest_flags[VMTEST_MAX_VARIANTS];
int vmtest_nbackends;

static bool want(const char *only, const char *name, bool available)
{
	if (!only || !*only)
		return available;
	if (!strstr(only, name))
		return false;
	if (!available) {
		fprintf(stderr, "FAIL: backend %s requested but not available here\n", name);
		exit(1);
	}
	return true;
}

void vmtest_probe_backends(void)
{
	const char *only;
	struct pkvm_caps caps;
	int err;

	if (access("/dev/kvm", F_OK) != 0) {
		printf("SKIP: /dev/kvm is absent on this host\n");
		exit(77);
	}
	err = pkvm_caps(&caps, NULL);
	if (err) {
		fprintf(stderr, "FAIL: /dev/kvm exists but cannot be used: %s\n", pkvm_strerror(err));
		exit(1);
	}
	if (!caps.runs_guests) {
		/* A paravirtual KVM (PVM): the QEMU lane runs these tests instead. */
		printf("SKIP: /dev/kvm does not run native x86 guests: %s\n", pkvm_strerror(-ENODEV));
		exit(77);
	}
	vmtest_nbackends = 0;
	/* PKVM_TEST_BACKENDS="hw none" narrows the run; a named one that is missing fails. */
	only = getenv("PKVM_TEST_BACKENDS");
	if (want(only, "hw", caps.pku))
		vmtest_backends[vmtest_nbackends++] = PKVM_PKEYS_HW;
	if (want(only, "soft", true))
		vmtest_backends[vmtest_nbackends++] = PKVM_PKEYS_SOFT;
	if (want(only, "none", true))
		vmtest_backends[vmtest_nbackends++] = PKVM_PKEYS_NONE;
	printf("backends under test:");
	for (int i = 0; i < vmtest_nbackends; i++)
		printf(" %s", pkvm_pkeys_backend_name(vmtest_backends[i]));
	printf("\n");
	if (vmtest_nbackends == 0) {
		fprintf(stderr, "FAIL: none of the backends in PKVM_TEST_BACKENDS='%s' is available\n",
			only ? only : "");
		exit(1);
	}
}

/* Soft once more with @flags, if soft is under test. */
static bool add_soft_variant(uint64_t flags)
{
	if (vmtest_nbackends == VMTEST_MAX_VARIANTS)
		return false;
	for (int i = 0; i < vmtest_nbackends; i++)
		if (vmtest_backends[i] == PKVM_PKEYS_SOFT && vmtest_flags[i] == 0) {
			vmtest_backends[vmtest_nbackends] = PKVM_PKEYS_SOFT;
			vmtest_flags[vmtest_nbackends++] = flags;
			return true;
		}
	return false;
}

void vmtest_add_soft_exits(void)
{
	if (add_soft_variant(PKVM_CONFIG_SOFT_PKRU_EXITS))
		printf("and soft with every RDPKRU/WRPKRU served by the host (soft-exits)\n");
}

void vmtest_add_soft_no_pcid(void)
{
	struct pkvm_caps caps;

	if (pkvm_caps(&caps, NULL) == 0 && caps.pcid && add_soft_variant(PKVM_CONFIG_SOFT_NO_PCID))
		printf("and soft with its views off PCIDs (soft-nopcid)\n");
}

const char *vmtest_label(int backend_index)
{
	if (vmtest_flags[backend_index] & PKVM_CONFIG_SOFT_PKRU_EXITS)
		return "soft-exits";
	if (vmtest_flags[backend_index] & PKVM_CONFIG_SOFT_NO_PCID)
		return "soft-nopcid";
	return pkvm_pkeys_backend_name(vmtest_backends[backend_index]);
}

bool vmtest_backend_enforces(enum pkvm_pkeys_backend backend)
{
	return backend == PKVM_PKEYS_HW || backend == PKVM_PKEYS_SOFT;
}

uint64_t vmtest_guest_addr(const void *fn)
{
	const uint8_t *p = fn;

	ck_assert_msg(p >= __start_pkvm_guest_text && p < __stop_pkvm_guest_text,
		      "not GUEST_CODE");
	return VMTEST_CODE_GVA + (uint64_t)(p - __start_pkvm_guest_text);
}

void vmtest_create(struct vmtest *t, int backend_index)
{
	struct pkvm_config cfg = { .mem_size = 32 << 20, .pkeys = vmtest_backends[backend_index],
				   .flags = vmtest_flags[backend_index] };
	size_t code_len = __stop_pkvm_guest_text - __start_pkvm_guest_text;
	uint64_t code_size = (code_len + 4095) & ~4095ULL;
	int err = pkvm_vm_create(&t->vm, &cfg);

	ck_assert_msg(err == 0, "pkvm_vm_create: %s", pkvm_strerror(err));
	t->backend = pkvm_vm_pkeys_backend(t->vm);
	t->code_size = code_size;
	err = pkvm_map(t->vm, VMTEST_CODE_GVA, __start_pkvm_guest_text, code_len, code_size,
		       PKVM_PROT_READ | PKVM_PROT_EXEC, 0);
	ck_assert_msg(err == 0, "mapping guest code: %s", pkvm_strerror(err));
	vmtest_map(t, VMTEST_STACK_GVA, VMTEST_STACK_SIZE, PKVM_PROT_READ | PKVM_PROT_WRITE, 0);
}

void vmtest_destroy(struct vmtest *t)
{
	pkvm_vm_destroy(t->vm);
	t->vm = NULL;
}

uint64_t vmtest_map(struct vmtest *t, uint64_t gva, uint64_t len, int prot, int pkey)
{
	int err = pkvm_map(t->vm, gva, NULL, 0, len, prot, pkey);

	ck_assert_msg(err == 0, "pkvm_map(%#llx, %#llx): %s", (unsigned long long)gva,
		      (unsigned long long)len, pkvm_strerror(err));
	return gva;
}

void vmtest_start(struct vmtest *t, void *fn, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct pkvm_regs regs = { 0 };

	regs.rip = vmtest_guest_addr(fn);
	/* As after a CALL: RSP + 8 is 16-byte aligned (System V ABI §3.2.2). */
	regs.rsp = VMTEST_STACK_GVA + VMTEST_STACK_SIZE - 8;
	regs.rdi = a0;
	regs.rsi = a1;
	regs.rdx = a2;
	ck_assert_int_eq(pkvm_set_regs(t->vm, &regs), 0);
}

const char *vmtest_describe(const struct pkvm_exit *e)
{
	static char buf[256];

	switch (e->reason) {
	case PKVM_EXIT_SYSCALL:
		snprintf(buf, sizeof(buf), "syscall %#llx(%#llx)", (unsigned long long)e->syscall.nr,
			 (unsigned long long)e->syscall.args[0]);
		break;
	case PKVM_EXIT_FAULT:
		snprintf(buf, sizeof(buf), "fault %s error %#x addr %#llx rip %#llx",
			 pkvm_vector_name(e->fault.vector), e->fault.error_code,
			 (unsigned long long)e->fault.addr, (unsigned long long)e->fault.rip);
		break;
	case PKVM_EXIT_INTERNAL:
		snprintf(buf, sizeof(buf), "internal: %s (kvm exit %u, detail %#llx)", e->internal.what,
			 e->internal.kvm_exit_reason, (unsigned long long)e->internal.detail);
		break;
	default:
		snprintf(buf, sizeof(buf), "%s", pkvm_exit_reason_name(e->reason));
	}
	return buf;
}

struct pkvm_exit *vmtest_run(struct vmtest *t)
{
	int err = pkvm_run(t->vm, &t->exit);

	ck_assert_msg(err == 0, "pkvm_run: %s", pkvm_strerror(err));
	return &t->exit;
}

void vmtest_expect_sync(struct vmtest *t, uint64_t value)
{
	struct pkvm_exit *e = vmtest_run(t);

	ck_assert_msg(e->reason == PKVM_EXIT_SYSCALL && e->syscall.nr == VMTEST_NR_SYNC,
		      "expected GUEST_SYNC(%#llx), got %s", (unsigned long long)value, vmtest_describe(e));
	ck_assert_msg(e->syscall.args[0] == value, "GUEST_SYNC(%#llx), expected %#llx",
		      (unsigned long long)e->syscall.args[0], (unsigned long long)value);
}

void vmtest_expect_reason(struct vmtest *t, enum pkvm_exit_reason reason)
{
	struct pkvm_exit *e = vmtest_run(t);

	ck_assert_msg(e->reason == reason, "expected a %s exit, got %s",
		      pkvm_exit_reason_name(reason), vmtest_describe(e));
}

void vmtest_expect_done(struct vmtest *t)
{
	struct pkvm_exit *e = vmtest_run(t);

	ck_assert_msg(e->reason == PKVM_EXIT_SYSCALL && e->syscall.nr == VMTEST_NR_DONE,
		      "expected GUEST_DONE, got %s", vmtest_describe(e));
}

void vmtest_expect_fault(struct vmtest *t, unsigned vector)
{
	struct pkvm_exit *e = vmtest_run(t);

	ck_assert_msg(e->reason == PKVM_EXIT_FAULT && e->fault.vector == vector,
		      "expected %s, got %s", pkvm_vector_name(vector), vmtest_describe(e));
}

void vmtest_expect_pf(struct vmtest *t, uint64_t addr, uint32_t pfec, int pkey)
{
	struct pkvm_exit *e = vmtest_run(t);

	ck_assert_msg(e->reason == PKVM_EXIT_FAULT && e->fault.vector == PKVM_VEC_PF,
		      "expected #PF at %#llx, got %s", (unsigned long long)addr, vmtest_describe(e));
	ck_assert_msg(e->fault.addr == addr, "#PF at %#llx, expected %#llx",
		      (unsigned long long)e->fault.addr, (unsigned long long)addr);
	ck_assert_msg(e->fault.pfec == pfec, "#PF error code %#x, expected %#x", e->fault.pfec, pfec);
	ck_assert_msg(e->fault.error_code == pfec, "raw error code %#x, expected %#x",
		      e->fault.error_code, pfec);
	ck_assert_int_eq(e->fault.pkey, pkey);
}

int vmtest_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void *kick_randomly(void *arg)
{
	struct vmtest_kicker *k = arg;

	while (!atomic_load(&k->stop)) {
		struct timespec ts = { 0, k->min_ns + rand_r(&k->seed) % k->spread_ns };

		nanosleep(&ts, NULL);
		pkvm_interrupt(k->vm);
		k->kicks++;
	}
	return NULL;
}

void vmtest_kicker_start(struct vmtest_kicker *k, struct pkvm_vm *vm, unsigned seed,
			 long min_ns, long spread_ns)
{
	k->vm = vm;
	k->seed = seed;
	k->min_ns = min_ns;
	k->spread_ns = spread_ns;
	k->kicks = 0;
	atomic_init(&k->stop, false);
	ck_assert_int_eq(pthread_create(&k->thread, NULL, kick_randomly, k), 0);
}

unsigned long vmtest_kicker_stop(struct vmtest_kicker *k)
{
	atomic_store(&k->stop, true);
	pthread_join(k->thread, NULL);
	return k->kicks;
}

int vmtest_run_tcase(const char *name, TCase *tc, enum print_output mode)
{
	Suite *s = suite_create(name);
	SRunner *sr;
	int failed;

	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, mode);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
