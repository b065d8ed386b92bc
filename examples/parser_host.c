/*
 * parser_host.c: a host that runs an untrusted parser in a libpkvm sandbox
 * and calls it on buffers, lending each buffer only for the duration of a
 * call and only for reading, with a protection key and a per-call PKRU.
 *
 *   usage: parser_host [GUEST_ELF]      (default: ./guest_parser)
 *
 * The parser is guest_parser.c, compiled into a freestanding static ELF.  The
 * host loads it with pkvm_load_elf(), finds its functions by name with
 * pkvm_elf_symbol(), and calls them with pkvm_call().  The input buffer lives in
 * guest memory tagged with its own protection key; between calls the guest's
 * PKRU denies that key, during a call it allows reading it.  The guest cannot
 * change its PKRU itself (the policy is LOCKED), so a parser that goes bad
 * can neither read inputs it was not handed nor write the one it was.
 *
 * Exit status: 0 when everything behaved as described, 1 otherwise, 77 when
 * this machine has no /dev/kvm.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpkvm.h>

/* Where the host puts the inputs, in guest virtual memory: 64 KiB, one key. */
#define INPUT_GVA	0x10000000ULL
#define INPUT_SIZE	0x10000ULL

/* ---- reading the guest file and finding its functions ---------------------- */

#define GUEST_FILE_MAX	(16 << 20)

static void *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	void *buf = NULL;
	long len = 0;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && len <= GUEST_FILE_MAX &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) &&
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*size = buf ? (size_t)len : 0;
	return buf;
}

/* Is [off, off + len) inside a file of @size bytes?  (Written so that it cannot overflow.) */
/* ---- the sandbox ------------------------------------------------------------- */

struct parser {
	struct pkvm_vm *vm;
	int input_key;		/* the key of the input region */
	uint32_t pkru_idle;	/* the guest's PKRU between calls: input denied */
	uint32_t pkru_call;	/* ... and during a call: input readable, not writable */
};

static void fail(const char *what, int err)
{
	fprintf(stderr, "parser_host: %s: %s\n", what, pkvm_strerror(err));
	exit(1);
}

/*
 * Run guest function @fn on @text: copy it into the input region, open the
 * read window (if @grant), call, close the window.  Returns the exit the call
 * ended with; a call that did not return is abandoned, so that the sandbox
 * can take the next one.
 */
static struct pkvm_exit parse(struct parser *p, uint64_t fn, const char *text, bool grant)
{
	size_t len = strlen(text);
	struct pkvm_exit exit;
	int err;

	if (len > INPUT_SIZE)
		fail("input", -E2BIG);
	/*
	 * The host writes the input as itself: pkvm_host_write_guest() ignores
	 * the guest's rights and keys (pkvm_write_guest() would honour them, as
	 * it does for copies made on the guest's behalf).
	 */
	if ((err = pkvm_host_write_guest(p->vm, INPUT_GVA, text, len)))
		fail("copying the input in", err);

	/* The window: for this call only, the parser may read its input. */
	if ((err = pkvm_set_pkru(p->vm, grant ? p->pkru_call : p->pkru_idle)))
		fail("pkvm_set_pkru", err);
	/* An untrusted parser may also just spin: give each call 2 s (wall clock). */
	pkvm_set_time_limit(p->vm, 2000000000ULL);
	err = pkvm_call(p->vm, fn, (uint64_t[]){ INPUT_GVA, len }, 2, &exit);
	if (err)
		fail("pkvm_call", err);
	pkvm_set_time_limit(p->vm, 0);
	if ((err = pkvm_set_pkru(p->vm, p->pkru_idle)))
		fail("pkvm_set_pkru", err);
	if (exit.reason != PKVM_EXIT_RETURN)
		pkvm_call_abort(p->vm);	/* back to the state from before the call */
	return exit;
}

/* Print one call's outcome; returns whether it is what was @expected. */
static bool show(const char *text, const struct pkvm_exit *e, bool expect_return, int64_t value,
		 uint32_t expect_pfec)
{
	printf("  %-22s -> ", text);
	if (e->reason == PKVM_EXIT_RETURN) {
		printf("returned %lld\n", (long long)(int64_t)e->ret.value);
		return expect_return && (int64_t)e->ret.value == value;
	}
	if (e->reason == PKVM_EXIT_FAULT && e->fault.vector == PKVM_VEC_PF) {
		printf("%s %s fault at %#llx: pfec %#x%s, key %d\n", pkvm_vector_name(e->fault.vector),
		       e->fault.pfec & PKVM_PFEC_W ? "write" : "read",
		       (unsigned long long)e->fault.addr, e->fault.pfec,
		       e->fault.pfec & PKVM_PFEC_PK ? " (PK)" : "", e->fault.pkey);
		return !expect_return && e->fault.pfec == expect_pfec;
	}
	printf("stopped: %s\n", pkvm_exit_reason_name(e->reason));
	return false;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "./guest_parser";
	const uint32_t PF_READ_PK = PKVM_PFEC_P | PKVM_PFEC_U | PKVM_PFEC_PK;
	static const struct { const char *text; int64_t sum; } inputs[] = {
		{ "1,2,3,4", 10 }, { "100,20,3", 123 }, { "12,abc", -1 },
	};
	struct pkvm_caps caps;
	struct parser p;
	struct pkvm_exit e;
	uint64_t parse_fn, scribble_fn;
	struct pkvm_program prog;
	size_t size;
	void *image;
	bool ok = true;
	int err;

	/* 1. Is there a KVM at all?  (Examples, like tests, skip only when there is none.) */
	err = pkvm_caps(&caps, NULL);
	if (err == -ENOENT) {
		printf("parser_host: SKIP: no /dev/kvm on this machine\n");
		return 77;
	}
	if (err)
		fail("/dev/kvm", err);

	/* 2. The untrusted code: a static ELF, and two of its functions by name. */
	image = read_file(path, &size);
	if (!image)
		fail(path, -errno);
	if ((err = pkvm_elf_symbol(image, size, "parse_csv_sum", &parse_fn)) ||
	    (err = pkvm_elf_symbol(image, size, "parse_in_place", &scribble_fn)))
		fail("finding parse_csv_sum and parse_in_place in the guest's symbol table", err);

	/* 3. A sandbox for it: default size, keys enforced by the CPU where KVM offers PKU. */
	if ((err = pkvm_vm_create(&p.vm, NULL)))
		fail("pkvm_vm_create", err);
	if ((err = pkvm_load_elf(p.vm, image, size, NULL, NULL, 0, &prog)))
		fail("pkvm_load_elf", err);
	free(image);
	parse_fn += prog.load_bias;	/* symbol values are file addresses */
	scribble_fn += prog.load_bias;
	printf("parser_host: libpkvm %s, pkeys backend %s; parse_csv_sum at %#llx\n", pkvm_version(),
	       pkvm_pkeys_backend_name(pkvm_vm_pkeys_backend(p.vm)), (unsigned long long)parse_fn);

	/* 4. The input region, with a key of its own; the PKRU values around it. */
	p.input_key = pkvm_pkey_alloc(p.vm);
	if (p.input_key < 0)
		fail("pkvm_pkey_alloc", p.input_key);
	if ((err = pkvm_map(p.vm, INPUT_GVA, NULL, 0, INPUT_SIZE, PKVM_PROT_READ | PKVM_PROT_WRITE,
			    p.input_key)))
		fail("pkvm_map", err);
	p.pkru_idle = PKVM_PKRU_DENY_ALL;	/* only key 0 (code, stack) */
	p.pkru_call = PKVM_PKRU_DENY_ALL & ~pkvm_pkru_allow(p.input_key, PKVM_PKEY_READ);
	/* Only the host may change the PKRU: the guest cannot open its own window. */
	if ((err = pkvm_set_pkru_policy(p.vm, PKVM_PKRU_LOCKED, NULL, 0)))
		fail("pkvm_set_pkru_policy", err);

	/* 5. Calls with the window open: the parser reads its input. */
	printf("calls with a read window on key %d:\n", p.input_key);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		e = parse(&p, parse_fn, inputs[i].text, true);
		ok &= show(inputs[i].text, &e, true, inputs[i].sum, 0);
	}

	/* 6. A call without the grant: the first read of the input is a PK fault. */
	printf("a call without the window:\n");
	e = parse(&p, parse_fn, "5,6,7", false);
	ok &= show("5,6,7", &e, false, 0, PF_READ_PK);

	/* 7. A parser that writes its input: the window is read-only, a PK write fault. */
	printf("a parser that writes to its input:\n");
	e = parse(&p, scribble_fn, "8,9", true);
	ok &= show("8,9", &e, false, 0, PF_READ_PK | PKVM_PFEC_W);

	/* 8. The sandbox is still good for the next input. */
	printf("and the next call:\n");
	e = parse(&p, parse_fn, "40,2", true);
	ok &= show("40,2", &e, true, 42, 0);

	pkvm_vm_destroy(p.vm);
	printf("parser_host: %s\n", ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}
