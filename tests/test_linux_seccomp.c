/* test_linux_seccomp.c: pkvm_seccomp_lockdown(): the VM still runs, anything else is refused. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "libpkvm.h"

#define CODE_GVA	0x400000ULL
#define STACK_GVA	0x800000ULL

/* mov eax, 60 (exit); mov edi, 7; syscall */
static const unsigned char exit7[] = { 0xb8, 0x3c, 0, 0, 0, 0xbf, 7, 0, 0, 0, 0x0f, 0x05 };

/* The kernel's Landlock ABI, 0 without it (lib/linux/landlock.c uses 1, 2 with a writable tree). */
static int landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* VERSION */);

	return abi < 0 ? 0 : (int)abi;
}

static struct pkvm_vm *make_vm(void)
{
	struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = 1, .stderr_fd = 2 };
	struct pkvm_regs regs;
	struct pkvm_vm *vm;

	ck_assert_int_eq(pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 16 << 20 }), 0);
	ck_assert_int_eq(pkvm_map(vm, CODE_GVA, exit7, sizeof(exit7), 4096,
				  PKVM_PROT_READ | PKVM_PROT_EXEC, 0), 0);
	ck_assert_int_eq(pkvm_map(vm, STACK_GVA, NULL, 0, 4096, PKVM_PROT_READ | PKVM_PROT_WRITE, 0), 0);
	pkvm_get_regs(vm, &regs);
	regs.rip = CODE_GVA;
	regs.rsp = STACK_GVA + 4096;
	ck_assert_int_eq(pkvm_set_regs(vm, &regs), 0);
	ck_assert_int_eq(pkvm_linux_attach(vm, &lx), 0);
	return vm;
}

/* Under the filter (EPERM mode) the guest runs to its exit, and foreign calls fail. */
START_TEST(test_lockdown_errno)
{
	struct pkvm_vm *vm = make_vm();
	struct pkvm_exit exit;

	ck_assert_int_eq(pkvm_set_time_limit(vm, 10ULL * 1000000000), 0);
	ck_assert_int_eq(pkvm_seccomp_lockdown(vm, PKVM_LOCKDOWN_ERRNO), 0);
	ck_assert_int_eq(pkvm_run(vm, &exit), 0);
	ck_assert_int_eq(exit.reason, PKVM_EXIT_EXIT);
	ck_assert_int_eq(exit.exit.status, 7);
	errno = 0;
	ck_assert_int_eq(socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(open("/etc/hostname", O_RDONLY), -1);	/* openat: not allowed */
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(fork(), -1);
	ck_assert_int_eq(errno, EPERM);
	/* ioctl is allowed only for the KVM requests on this VM's own descriptors. */
	errno = 0;
	ck_assert_int_eq(ioctl(0, FIONREAD, &(int){ 0 }), -1);
	ck_assert_int_eq(errno, EPERM);
	pkvm_vm_destroy(vm);
}
END_TEST

/*
 * The narrowed rules: opens only read-only, O_NOFOLLOW and relative to a
 * descriptor (openat2, whose flags seccomp cannot see, never); signals only
 * to this process; terminal queries only on the personality's streams.
 */
START_TEST(test_lockdown_narrowed)
{
	struct pkvm_vm *vm = make_vm();
	struct open_how how = { .flags = O_RDONLY };
	struct pkvm_exit exit;
	int dir, fd, alive[2], landlock;
	pid_t other;

	/* Another process, which lives until this test's process exits (its pipe's end). */
	ck_assert_int_eq(pipe(alive), 0);
	other = fork();
	ck_assert_int_ge(other, 0);
	if (other == 0) {
		close(alive[1]);
		read(alive[0], &fd, 1);
		_exit(0);
	}
	close(alive[0]);
	dir = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dir, 0);
	landlock = landlock_abi();	/* (the filter refuses to say, afterwards) */
	ck_assert_int_eq(pkvm_seccomp_lockdown(vm, PKVM_LOCKDOWN_ERRNO), 0);
	/* What the personality does still works. */
	fd = openat(dir, ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = openat(dir, ".", O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC);
	/* (Beneath no root of the personality's, which has none here: Landlock says no.) */
	if (landlock >= 1) {
		ck_assert_int_eq(fd, -1);
		ck_assert_int_eq(errno, EACCES);
	} else {
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	ck_assert_int_eq(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0), 0);
	ck_assert_int_eq(pkvm_run(vm, &exit), 0);
	ck_assert_int_eq(exit.reason, PKVM_EXIT_EXIT);
	/* Writing, creating, following links, absolute paths, openat2: refused. */
	errno = 0;
	ck_assert_int_eq(openat(dir, "pkvm-lockdown", O_WRONLY | O_CREAT | O_NOFOLLOW, 0600), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(openat(dir, "pkvm-lockdown", O_RDWR | O_NOFOLLOW), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(openat(dir, "pkvm-lockdown", O_RDONLY | O_APPEND | O_NOFOLLOW), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(openat(dir, ".", O_PATH), -1);	/* without O_NOFOLLOW */
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(openat(AT_FDCWD, ".", O_PATH | O_NOFOLLOW), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(syscall(SYS_openat2, dir, ".", &how, sizeof(how)), -1);
	ck_assert_int_eq(errno, EPERM);
	/* tgkill to another process: refused (it would have delivered signal 0 fine). */
	errno = 0;
	ck_assert_int_eq(syscall(SYS_tgkill, other, other, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	/* TCGETS on fd 0, which the personality does not use (stdin_fd -1). */
	errno = 0;
	ck_assert_int_eq(ioctl(0, TCGETS, &(char[64]){ 0 }), -1);
	ck_assert_int_eq(errno, EPERM);
	pkvm_vm_destroy(vm);
	close(dir);
	close(alive[1]);	/* the other process ends */
}
END_TEST


/*
 * The locked-down child's end, by the system call itself: a noreturn call
 * would have ASan look at the signal stack first (sigaltstack), which the
 * filter refuses.
 */
static void child_exit(int status)
{
	syscall(SYS_exit_group, status);
}

/* In a process that ends with it: exit with the line of the first check that fails. */
#define CHILD_CHECK(cond) do { \
	if (!(cond)) \
		child_exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1); \
} while (0)

/* The locked-down part of test_lockdown_landlock, in a child, so that its parent can clean up. */
static void landlock_child(const char *ro, const char *rw, const char *out)
{
	const char *ro_paths[] = { ro, NULL }, *rw_paths[] = { rw, NULL };
	struct pkvm_linux_config lx = { .stdin_fd = -1, .stdout_fd = 1, .stderr_fd = 2,
					.ro_paths = ro_paths, .rw_paths = rw_paths };
	struct pkvm_vm *vm;
	char path[128];
	int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	CHILD_CHECK(dir >= 0);
	CHILD_CHECK(pkvm_vm_create(&vm, &(struct pkvm_config){ .mem_size = 16 << 20 }) == 0);
	CHILD_CHECK(pkvm_linux_attach(vm, &lx) == 0);
	CHILD_CHECK(pkvm_seccomp_lockdown(vm, PKVM_LOCKDOWN_ERRNO) == 0);
	/* Beneath the roots: read, and write where writable. */
	snprintf(path, sizeof(path), "%s/data", ro);
	fd = openat(dir, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/new", rw);
	fd = openat(dir, path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	CHILD_CHECK(fd >= 0);
	close(fd);
	CHILD_CHECK(unlinkat(dir, path, 0) == 0);
	/* Elsewhere, by absolute path through any descriptor: the kernel says no. */
	snprintf(path, sizeof(path), "%s/victim", out);
	CHILD_CHECK(openat(dir, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) < 0 && errno == EACCES);
	snprintf(path, sizeof(path), "%s/new", ro);
	CHILD_CHECK(openat(dir, path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600) < 0 &&
		    errno == EACCES);
	snprintf(path, sizeof(path), "%s/victim", out);
	CHILD_CHECK(unlinkat(dir, path, 0) < 0 && errno == EACCES);
	child_exit(0);
}

/*
 * Absolute paths are what seccomp cannot judge: with the personality's roots
 * handed to Landlock, a locked-down process reads only beneath the roots and
 * changes only beneath the writable ones, whatever path it passes.
 */
START_TEST(test_lockdown_landlock)
{
	char ro[] = "/tmp/pkvm-ro-XXXXXX", rw[] = "/tmp/pkvm-rw-XXXXXX";
	char out[] = "/tmp/pkvm-out-XXXXXX", data[64], victim[64];
	int status;
	pid_t child;

	if (landlock_abi() < 2)
		return;		/* seccomp alone, as documented */
	ck_assert_ptr_nonnull(mkdtemp(ro));
	ck_assert_ptr_nonnull(mkdtemp(rw));
	ck_assert_ptr_nonnull(mkdtemp(out));
	snprintf(data, sizeof(data), "%s/data", ro);
	snprintf(victim, sizeof(victim), "%s/victim", out);
	close(open(data, O_WRONLY | O_CREAT, 0600));
	close(open(victim, O_WRONLY | O_CREAT, 0600));
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		landlock_child(ro, rw, out);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(access(victim, F_OK), 0);
	unlink(data);
	unlink(victim);
	rmdir(ro);
	rmdir(rw);
	rmdir(out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the locked-down child failed at the check on line %d (mod 256; status %#x)",
		      WIFEXITED(status) ? WEXITSTATUS(status) : 0, status);
}
END_TEST

/* A locked-down host can still snapshot, run a request, restore, and run again. */
START_TEST(test_lockdown_keeps_snapshots_working)
{
	struct pkvm_vm *vm = make_vm();
	struct pkvm_exit exit;

	ck_assert_int_eq(pkvm_seccomp_lockdown(vm, PKVM_LOCKDOWN_ERRNO), 0);
	ck_assert_int_eq(pkvm_snapshot(vm), 0);
	for (int request = 0; request < 3; request++) {
		ck_assert_int_eq(pkvm_run(vm, &exit), 0);
		ck_assert_int_eq(exit.reason, PKVM_EXIT_EXIT);
		ck_assert_int_eq(exit.exit.status, 7);
		ck_assert_int_eq(pkvm_restore(vm), 0);
	}
	pkvm_vm_destroy(vm);
}
END_TEST

/* The default: a forbidden call kills the process with SIGSYS. */
START_TEST(test_lockdown_kills)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pkvm_vm *vm = make_vm();

		if (pkvm_seccomp_lockdown(vm, 0))
			_exit(3);
		socket(AF_INET, SOCK_STREAM, 0);
		_exit(4);	/* not reached */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "child status %#x, expected death by SIGSYS", status);
}
END_TEST

START_TEST(test_lockdown_bad_flags)
{
	ck_assert_int_eq(pkvm_seccomp_lockdown(NULL, 0), -EINVAL);
}
END_TEST

/* Guests run where /dev/kvm is and runs native guests (not on a PVM host). */
static bool kvm_runs_guests(void)
{
	struct pkvm_caps caps;

	return access("/dev/kvm", R_OK | W_OK) == 0 && pkvm_caps(&caps, NULL) == 0 &&
	       caps.runs_guests;
}

int main(void)
{
	bool guests = kvm_runs_guests();
	Suite *s = suite_create("linux_seccomp");
	TCase *tc = tcase_create("lockdown");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_lockdown_bad_flags);
	if (guests) {
		tcase_add_test(tc, test_lockdown_errno);
		tcase_add_test(tc, test_lockdown_narrowed);
		tcase_add_test(tc, test_lockdown_landlock);
		tcase_add_test(tc, test_lockdown_keeps_snapshots_working);
		tcase_add_test(tc, test_lockdown_kills);
	} else {
		fprintf(stderr, "test_linux_seccomp: no /dev/kvm that runs native guests: "
			"VM tests skipped\n");
	}
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		return EXIT_FAILURE;
	return guests ? EXIT_SUCCESS : 77;
}
