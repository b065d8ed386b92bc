/* linux_syscall.c: libFuzzer harness for the Linux personality's system calls, on a fake KVM. */
/*
 * Each input is a short program of system calls, served as the run loop
 * serves a guest's: offered to the VM's exit servers (host functions, then
 * the personality) by pkvm_exit_servers_serve(), on a VM whose KVM is the
 * in-memory double of fuzz/fake_kvm.c.  Everything the personality does runs for real:
 * argument checks, copies from and to guest memory through the page tables,
 * mmap and friends editing those tables, keys, files under an --ro root.
 *
 * Input: one byte of setup (backend), two bytes of data length, that many
 * bytes copied into the guest's data area, then calls of 2 + 6 * 9 bytes:
 * the number (little endian, below 512), and per argument a kind byte and 8
 * value bytes.  The kind makes the value an address inside the data area,
 * the host's buffer or the mmap area, a small number, or itself.
 *
 * LINUX_SYSCALL_TRACE=1 in the environment prints each call as pksandbox's
 * --trace would.  Beyond crashes, ASan and UBSan reports, the harness checks the promise the
 * sandbox rests on: the host's own keyed buffer, which the guest knows the
 * address of, keeps its contents, its key and its place whatever the guest
 * calls (abort() otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"
#include "x86.h"

#define DATA_GVA	0x400000ULL		/* the "image": guest data, where pointers point */
#define DATA_LEN	0x4000ULL
#define HOST_GVA	0x10000000ULL		/* the host's keyed buffer */
#define HOST_LEN	0x2000ULL
#define CALL_LEN	(2 + 6 * 9)
#define MAX_CALLS	64
#define RO_ROOT		"/tmp/pkvm-fuzz-ro"	/* fixed, so that seeds can name it */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int devnull = -1;
static uint8_t host_pattern[HOST_LEN];

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

/* The --ro tree: a directory, a file in it, a file below; and the sinks for fds 0-2. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	mkdir(RO_ROOT, 0755);
	mkdir(RO_ROOT "/sub", 0755);
	put_file(RO_ROOT "/data", "0123456789abcdef line one\nline two\n");
	put_file(RO_ROOT "/sub/inner", "inner\n");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		abort();
	for (size_t i = 0; i < sizeof(host_pattern); i++)
		host_pattern[i] = (uint8_t)(i * 13 + 7);
	return 0;
}

/* LINUX_SYSCALL_TRACE=1: each call as --trace shows it, to read a crash's input with. */
static void print_trace(void *ctx, const struct pkvm_linux_trace *call)
{
	(void)ctx;
	fprintf(stderr, "%s\n", call->line);
}

/* The harness's own set-up cannot fail: if it does, say where, and stop. */
static void must(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "linux_syscall: %s: %s\n", what, pkvm_strerror(err));
		abort();
	}
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* One argument from its kind byte and value. */
static uint64_t argument(uint8_t kind, uint64_t v)
{
	static const uint64_t odd[] = {
		0, PKVM_TRAMPOLINE_GVA, PKVM_USER_TOP - 1, PKVM_USER_TOP, 0xffff800000000000ULL,
		PKVM_STACK_TOP - 0x1000000, PKVM_USER_BOTTOM - 0x1000, ~0ULL,
	};

	switch (kind % 6) {
	case 0: return v;
	case 1: return DATA_GVA + v % DATA_LEN;
	case 2: return HOST_GVA + v % (HOST_LEN + 0x1000) - 0x1000;	/* around it too */
	case 3: return (uint64_t)(int64_t)(int8_t)v;			/* -128..127: fds, flags */
	case 4: return v & 0xfffff000;					/* lengths in pages */
	default: return odd[v % (sizeof(odd) / sizeof(odd[0]))];
	}
}

/* The host's buffer as it was made: mapped, its contents, its key, read-only for the guest. */
static void check_host_buffer(struct pkvm_vm *vm, int pkey)
{
	uint8_t now[HOST_LEN];

	if (pkvm_host_read_guest(vm, now, HOST_GVA, HOST_LEN) ||
	    memcmp(now, host_pattern, HOST_LEN)) {
		fprintf(stderr, "linux_syscall: the guest changed or moved the host's buffer\n");
		abort();
	}
	for (uint64_t gva = HOST_GVA; gva < HOST_GVA + HOST_LEN; gva += PAGE_SIZE) {
		uint64_t leaf;
		unsigned level;

		if (pkvm_pt_lookup(&vm->pt, gva, &leaf, &level) ||
		    (leaf & PTE_PKEY_MASK) >> PTE_PKEY_SHIFT != (uint64_t)pkey || (leaf & PTE_W) ||
		    !(leaf & PTE_U)) {
			fprintf(stderr, "linux_syscall: the host's buffer lost its key or rights\n");
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int backends[] = { PKVM_PKEYS_HW, PKVM_PKEYS_SOFT, PKVM_PKEYS_NONE };
	struct pkvm_config cfg = { .mem_size = 32 << 20 };
	const char *roots[] = { RO_ROOT, NULL };
	struct pkvm_program program = {
		.load_start = DATA_GVA, .load_end = DATA_GVA + DATA_LEN,
		.brk = DATA_GVA + DATA_LEN, .stack_top = PKVM_STACK_TOP,
	};
	struct pkvm_linux_config lx = {
		.stdin_fd = devnull, .stdout_fd = devnull, .stderr_fd = devnull,
		.ro_paths = roots, .program = &program,
	};
	struct pkvm_vm *vm;
	size_t data_len;

	if (getenv("LINUX_SYSCALL_TRACE"))
		lx.trace = print_trace;
	int pkey = 0;

	if (size < 3)
		return 0;
	cfg.pkeys = backends[data[0] % 3];
	data_len = (data[1] | data[2] << 8) % (DATA_LEN + 1);
	data += 3;
	size -= 3;
	if (data_len > size)
		data_len = size;
	must(pkvm_vm_create(&vm, &cfg), "pkvm_vm_create");
	/* The host keys its buffer before attaching: the guest's pool leaves that key out. */
	if (cfg.pkeys != PKVM_PKEYS_NONE) {
		pkey = pkvm_pkey_alloc(vm);
		must(pkey < 0 ? pkey : 0, "pkvm_pkey_alloc");
	}
	must(pkvm_map(vm, DATA_GVA, data, data_len, DATA_LEN, PKVM_PROT_READ | PKVM_PROT_WRITE, 0),
	     "pkvm_map data");
	must(pkvm_map(vm, HOST_GVA, host_pattern, HOST_LEN, HOST_LEN, PKVM_PROT_READ, pkey),
	     "pkvm_map host buffer");
	must(pkvm_linux_attach(vm, &lx), "pkvm_linux_attach");
	/* Sleeps and waits end here: the fuzzer must not sleep for the guest. */
	pkvm_set_time_limit(vm, 1000000);
	/*
	 * The stack in the middle of the data area: signal frames are written
	 * there, and rt_sigreturn reads whatever the input put there.
	 */
	{
		struct pkvm_regs regs;

		pkvm_get_regs(vm, &regs);
		regs.rsp = DATA_GVA + DATA_LEN / 2;
		must(pkvm_set_regs(vm, &regs), "pkvm_set_regs");
	}
	data += data_len;
	size -= data_len;
	for (unsigned n = 0; n < MAX_CALLS && size >= CALL_LEN; n++, data += CALL_LEN,
	     size -= CALL_LEN) {
		struct pkvm_exit exit = { .reason = PKVM_EXIT_SYSCALL };

		exit.syscall.nr = (data[0] | data[1] << 8) % 512;
		for (int i = 0; i < 6; i++)
			exit.syscall.args[i] = argument(data[2 + 9 * i], le64(data + 3 + 9 * i));
		if (pkvm_exit_servers_serve(vm, &exit) != 1)
			break;		/* the program ended */
		check_host_buffer(vm, pkey);
	}
	pkvm_vm_destroy(vm);
	return 0;
}
