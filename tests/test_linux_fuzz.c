/*
 * test_linux_fuzz.c: tests/progs/sysfuzz under the Linux personality of an
 * embedding host that owns a keyed buffer, while another thread interrupts
 * the run at random moments.  Whatever the guest throws, the run must end
 * by the guest's own exit or fault, and the host's buffer, key and
 * trampoline must come out as the host left them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmtest.h"

#define HOST_BUF	0x30000000ULL
#define HOST_BUF_LEN	(4 * 4096ULL)
#define SEEDS		3

static void *load_file(const char *path, size_t *size)
{
	struct stat st;
	void *data = NULL;
	int fd = open(path, O_RDONLY);

	ck_assert_msg(fd >= 0, "%s: cannot open (set PROGS to the tests/progs directory)", path);
	ck_assert_int_eq(fstat(fd, &st), 0);
	data = malloc(st.st_size);
	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(read(fd, data, st.st_size), st.st_size);
	close(fd);
	*size = st.st_size;
	return data;
}

/* After every system call: is the host's buffer still mapped, with its bytes? */
struct watch {
	struct pkvm_vm *vm;
	const uint8_t *pattern;
	size_t len;
	char first_bad[1200];		/* the call after which it was not */
	unsigned long calls;
};

static void check_after_call(void *ctx, const struct pkvm_linux_trace *call)
{
	struct watch *w = ctx;
	uint8_t back[64];

	w->calls++;
	if (w->first_bad[0])
		return;
	if (pkvm_host_read_guest(w->vm, back, HOST_BUF, w->len) != 0 ||
	    memcmp(back, w->pattern, w->len) != 0)
		snprintf(w->first_bad, sizeof(w->first_bad), "%s", call->line);
}

/* Run to the guest's end, continuing through interrupts; unserved host calls get ENOSYS. */
static void run_to_end(struct pkvm_vm *vm, const char *seed, unsigned long *interrupts)
{
	struct pkvm_exit e;

	for (;;) {
		ck_assert_int_eq(pkvm_run(vm, &e), 0);
		switch (e.reason) {
		case PKVM_EXIT_INTERRUPTED:
			(*interrupts)++;
			continue;
		case PKVM_EXIT_SYSCALL:
			pkvm_syscall_return(vm, (uint64_t)-ENOSYS);
			continue;
		case PKVM_EXIT_EXIT:
			return;
		case PKVM_EXIT_FAULT:	/* a death of its own doing */
			printf("seed %s: died of %s at %#llx (rip %#llx)\n", seed,
			       pkvm_vector_name(e.fault.vector), (unsigned long long)e.fault.addr,
			       (unsigned long long)e.fault.rip);
			return;
		default:
			ck_abort_msg("seed %s: the run ended with %s", seed,
				     pkvm_exit_reason_name(e.reason));
		}
	}
}

START_TEST(test_sysfuzz_cannot_reach_the_host)
{
	const char *progs = getenv("PROGS") ? getenv("PROGS") : "progs";
	char path[4096], seed[16], target1[32], target2[32];
	unsigned long interrupts = 0, calls = 0;
	size_t size;
	void *image;

	snprintf(path, sizeof(path), "%s/sysfuzz", progs);
	image = load_file(path, &size);
	snprintf(target1, sizeof(target1), "%#llx", HOST_BUF);
	snprintf(target2, sizeof(target2), "%#llx", PKVM_TRAMPOLINE_GVA);
	for (int s = 0; s < SEEDS; s++) {
		struct pkvm_config cfg = { .mem_size = 32 << 20, .pkeys = vmtest_backends[_i] };
		const char *argv[] = { "sysfuzz", seed, target1, target2, NULL };
		struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
		struct vmtest_kicker k;
		uint8_t pattern[64], back[64];
		struct watch w = { .pattern = pattern, .len = sizeof(pattern) };
		struct pkvm_program prog;
		struct pkvm_vm *vm;
		int key;

		snprintf(seed, sizeof(seed), "g%d", 100 + s + 10 * _i);
		ck_assert_int_eq(pkvm_vm_create(&vm, &cfg), 0);
		key = pkvm_pkey_alloc(vm);
		ck_assert_int_eq(pkvm_map(vm, HOST_BUF, NULL, 0, HOST_BUF_LEN,
					  PKVM_PROT_READ | PKVM_PROT_WRITE, key), 0);
		for (unsigned i = 0; i < sizeof(pattern); i++)
			pattern[i] = (uint8_t)(i * 7 + s);
		ck_assert_int_eq(pkvm_host_write_guest(vm, HOST_BUF, pattern, sizeof(pattern)), 0);
		ck_assert_int_eq(pkvm_load_elf(vm, image, size, argv, NULL, 0, &prog), 0);
		lx.program = &prog;
		w.vm = vm;
		lx.trace = check_after_call;
		lx.trace_ctx = &w;
		ck_assert_int_eq(pkvm_linux_attach(vm, &lx), 0);
		ck_assert_int_eq(pkvm_set_time_limit(vm, 120ULL * 1000 * 1000 * 1000), 0);

		vmtest_kicker_start(&k, vm, 99 + s, 20000, 500000);
		run_to_end(vm, seed, &interrupts);
		vmtest_kicker_stop(&k);

		ck_assert_msg(!w.first_bad[0], "seed %s: the host's buffer changed after %s", seed,
			      w.first_bad);
		calls += w.calls;
		/* The host's buffer: still mapped, same bytes, same key; its key and trampoline too. */
		ck_assert_int_eq(pkvm_host_read_guest(vm, back, HOST_BUF, sizeof(back)), 0);
		ck_assert_msg(memcmp(back, pattern, sizeof(back)) == 0, "seed %s: host buffer changed",
			      seed);
		ck_assert_int_eq(pkvm_map(vm, HOST_BUF, NULL, 0, 4096, PKVM_PROT_READ, 0), -EEXIST);
		ck_assert_int_eq(pkvm_map(vm, PKVM_TRAMPOLINE_GVA, NULL, 0, 4096, PKVM_PROT_READ, 0),
				 -EEXIST);
		if (vmtest_backend_enforces(pkvm_vm_pkeys_backend(vm))) {
			ck_assert_int_eq(pkvm_set_pkru(vm, PKVM_PKRU_AD(key)), 0);
			ck_assert_int_eq(pkvm_read_guest(vm, back, HOST_BUF, 8), -EFAULT);
		}
		ck_assert_int_eq(pkvm_pkey_free(vm, key), 0);	/* still the host's */
		pkvm_vm_destroy(vm);
	}
	free(image);
	printf("sysfuzz under %s: %d seeds, %lu system calls, %lu interrupted runs resumed\n",
	       pkvm_pkeys_backend_name(vmtest_backends[_i]), SEEDS, calls, interrupts);
	/* A program that died at once would prove nothing. */
	ck_assert_msg(calls > SEEDS * 2000, "only %lu system calls were made", calls);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("fuzz");

	vmtest_probe_backends();
	tcase_set_timeout(tc, 400);
	tcase_add_loop_test(tc, test_sysfuzz_cannot_reach_the_host, 0, vmtest_nbackends);
	return vmtest_run_tcase("linux_fuzz", tc, CK_VERBOSE);
}
