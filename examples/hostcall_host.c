/*
 * hostcall_host.c: a host that gives an untrusted program two services, as
 * host functions it calls from inside a libpkvm sandbox: "log" (print a
 * message) and "lookup" (read a setting from the host's table).
 *
 *   usage: hostcall_host [GUEST_ELF]    (default: ./guest_services)
 *
 * The program is guest_services.c, a freestanding static ELF with no
 * operating system under it: the only way out of the sandbox is `syscall`.
 * A number at or above PKVM_HOSTCALL_BASE reaches the host function the host
 * registered under it, on the host thread inside pkvm_run(), at the cost of
 * one VM exit; any other number (here: exit(2)) comes back to the host as a
 * PKVM_EXIT_SYSCALL.  Host functions see only guest addresses: they copy
 * through pkvm_read_guest() and friends, which check every page exactly as
 * the guest's own access would be checked, so a guest cannot make the host
 * read or write what it could not touch itself.
 *
 * Exit status: 0 when the guest ran as expected, 1 otherwise, 77 when this
 * machine has no /dev/kvm.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpkvm.h>

/* The service numbers: the ABI shared with guest_services.c. */
#define SVC_LOG		0
#define SVC_LOOKUP	1

#define LINUX_EXIT	60	/* the guest ends with Linux exit(2) */

/* What the host functions share: their context pointer. */
struct services {
	const char *const (*settings)[2];	/* { name, value } pairs, NULL-terminated */
	unsigned logged, lookups, faults;
};

/*
 * log(msg, len): print @len bytes of guest memory at @msg.  Guest data is
 * untrusted: the length is bounded, unprintable bytes are not passed on.
 */
static uint64_t svc_log(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	struct services *s = ctx;
	char msg[256];
	size_t len = args[1];
	int err;

	if (len > sizeof(msg))
		len = sizeof(msg);
	err = pkvm_read_guest(vm, msg, args[0], len);
	if (err) {
		s->faults++;
		return (uint64_t)(int64_t)err;	/* the guest sees -EFAULT in RAX */
	}
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)msg[i]))
			msg[i] = '?';
	printf("  [guest log] %.*s\n", (int)len, msg);
	s->logged++;
	return 0;
}

/*
 * lookup(name, value, size): copy the setting @name (a string in the guest)
 * into the guest's buffer @value of @size bytes; returns its length, -ENOENT,
 * -ERANGE when it does not fit, -EFAULT for a bad pointer.
 */
static uint64_t svc_lookup(struct pkvm_vm *vm, void *ctx, const uint64_t args[6])
{
	struct services *s = ctx;
	char name[64];
	long n = pkvm_read_guest_string(vm, name, args[0], sizeof(name));

	s->lookups++;
	if (n < 0)
		return (uint64_t)(int64_t)n;
	for (unsigned i = 0; s->settings[i][0]; i++) {
		const char *value = s->settings[i][1];
		size_t len = strlen(value) + 1;
		int err;

		if (strcmp(name, s->settings[i][0]) != 0)
			continue;
		if (len > args[2])
			return (uint64_t)-ERANGE;
		err = pkvm_write_guest(vm, args[1], value, len);
		return err ? (uint64_t)(int64_t)err : len - 1;
	}
	return (uint64_t)-ENOENT;
}

static void *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	void *buf = NULL;
	long len = 0;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && len <= (16 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) &&
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*size = buf ? (size_t)len : 0;
	return buf;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "hostcall_host: %s: %s\n", what, pkvm_strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "./guest_services";
	static const char *const settings[][2] = {
		{ "colour", "teal" }, { "size", "42" }, { NULL, NULL },
	};
	struct services s = { .settings = settings };
	struct pkvm_caps caps;
	struct pkvm_vm *vm;
	struct pkvm_exit e;
	int status = -1, err;
	size_t size;
	void *image;

	/* 1. Is there a KVM at all?  (Examples, like tests, skip only when there is none.) */
	err = pkvm_caps(&caps, NULL);
	if (err == -ENOENT) {
		printf("hostcall_host: SKIP: no /dev/kvm on this machine\n");
		return 77;
	}
	if (err)
		fail("/dev/kvm", err);

	/* 2. A sandbox with the program loaded: RIP at its entry, RSP on its stack. */
	image = read_file(path, &size);
	if (!image)
		fail(path, -errno);
	if ((err = pkvm_vm_create(&vm, NULL)))
		fail("pkvm_vm_create", err);
	if ((err = pkvm_load_elf(vm, image, size, (const char *const[]){ "guest_services", NULL },
				 NULL, 0, NULL)))
		fail("pkvm_load_elf", err);
	free(image);
	printf("hostcall_host: libpkvm %s, pkeys backend %s\n", pkvm_version(),
	       pkvm_pkeys_backend_name(pkvm_vm_pkeys_backend(vm)));

	/* 3. The services, as host functions 0 and 1: the guest's syscall 0x10000000 and 0x10000001. */
	if ((err = pkvm_hostcall_register(vm, SVC_LOG, svc_log, &s)) ||
	    (err = pkvm_hostcall_register(vm, SVC_LOOKUP, svc_lookup, &s)))
		fail("pkvm_hostcall_register", err);

	/*
	 * 4. Run it.  Host calls are served inside pkvm_run(); it returns only for
	 * what the host functions do not cover: here the guest's exit(2), or a
	 * fault, or the time limit.
	 */
	pkvm_set_time_limit(vm, 5000000000ULL);
	while (status < 0) {
		if ((err = pkvm_run(vm, &e)))
			fail("pkvm_run", err);
		if (e.reason == PKVM_EXIT_SYSCALL && e.syscall.nr == LINUX_EXIT) {
			status = (int)(e.syscall.args[0] & 0xff);
		} else if (e.reason == PKVM_EXIT_SYSCALL) {
			/* No operating system here: any other system call fails, as unknown ones do on Linux. */
			pkvm_syscall_return(vm, (uint64_t)-ENOSYS);
		} else {
			fprintf(stderr, "hostcall_host: the guest stopped: %s (%s at %#llx)\n",
				pkvm_exit_reason_name(e.reason), pkvm_vector_name(e.fault.vector),
				(unsigned long long)e.fault.rip);
			pkvm_vm_destroy(vm);
			return 1;
		}
	}
	pkvm_vm_destroy(vm);

	/* 5. What happened: 2 of the 3 settings exist, and the kernel-address log was refused. */
	printf("hostcall_host: guest exited with %d; %u messages logged, %u lookups, %u bad pointers refused\n",
	       status, s.logged, s.lookups, s.faults);
	if (status != 2 || s.logged != 5 || s.lookups != 3 || s.faults != 1) {
		printf("hostcall_host: FAILED\n");
		return 1;
	}
	printf("hostcall_host: OK\n");
	return 0;
}
