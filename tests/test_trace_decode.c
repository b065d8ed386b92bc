/* test_trace_decode.c: --trace's names for system calls, flags and constants, without a VM. */
/*
 * The expected strings are written out as strace prints them, not derived
 * from lib/linux/decode.c's tables; numbers are the x86-64 kernel's.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux/decode.h"

/* decode KIND VALUE: the text lx_decode_value() writes. */
static const char *decode(char kind, uint64_t value)
{
	static char buf[256];

	memset(buf, 'X', sizeof(buf));
	ck_assert_msg(lx_decode_value(buf, sizeof(buf), kind, value),
		      "kind '%c' not decoded", kind);
	return buf;
}

#define CHECK(kind, value, want) ck_assert_str_eq(decode(kind, value), want)

START_TEST(test_syscall_names)
{
	ck_assert_str_eq(lx_syscall_name(0), "read");
	ck_assert_str_eq(lx_syscall_name(9), "mmap");
	ck_assert_str_eq(lx_syscall_name(105), "setuid");
	ck_assert_str_eq(lx_syscall_name(41), "socket");
	ck_assert_str_eq(lx_syscall_name(231), "exit_group");
	ck_assert_str_eq(lx_syscall_name(425), "io_uring_setup");
	ck_assert_str_eq(lx_syscall_name(435), "clone3");
	ck_assert_ptr_null(lx_syscall_name(999));
	ck_assert_ptr_null(lx_syscall_name(UINT64_MAX));
	/* 335..423 were never used on x86-64: no name, no crash. */
	ck_assert_ptr_null(lx_syscall_name(400));
}
END_TEST

/* Every number below the first unused one has a name: the table is the kernel's whole list. */
START_TEST(test_syscall_names_dense)
{
	for (uint64_t nr = 0; nr <= 334; nr++)
		ck_assert_msg(lx_syscall_name(nr), "no name for %llu", (unsigned long long)nr);
	ck_assert_uint_ge(lx_nsysnames, 436);
}
END_TEST

START_TEST(test_plain_kinds)
{
	CHECK('d', (uint64_t)-1, "-1");
	CHECK('d', 0xffffffff, "-1");		/* an int, upper half ignored */
	CHECK('d', 42, "42");
	CHECK('l', (uint64_t)-1, "-1");
	CHECK('l', 0xffffffff, "4294967295");
	CHECK('f', 0xffffffff, "-1");
	CHECK('u', UINT64_MAX, "18446744073709551615");
	CHECK('x', 0, "0");
	CHECK('x', 0x1000, "0x1000");
	CHECK('p', 0, "NULL");
	CHECK('p', 0x7ffd0000, "0x7ffd0000");
	CHECK('f', 3, "3");
	CHECK('o', 0644, "0644");
	CHECK('o', 0, "0");
	CHECK('a', (uint64_t)-100, "AT_FDCWD");
	CHECK('a', (uint32_t)-100, "AT_FDCWD");	/* an int: the upper half is not the guest's */
	CHECK('a', 5, "5");
	/* Letters for guest memory are trace.c's. */
	for (const char *k = "stigkq"; *k; k++) {
		char buf[8];

		ck_assert(!lx_decode_value(buf, sizeof(buf), *k, 0));
	}
}
END_TEST

START_TEST(test_prot)
{
	CHECK('P', 0, "PROT_NONE");
	CHECK('P', 1, "PROT_READ");
	CHECK('P', 3, "PROT_READ|PROT_WRITE");
	CHECK('P', 5, "PROT_READ|PROT_EXEC");
	CHECK('P', 7, "PROT_READ|PROT_WRITE|PROT_EXEC");
	CHECK('P', 0x1000003, "PROT_READ|PROT_WRITE|PROT_GROWSDOWN");
	CHECK('P', 0x10, "0x10");
	CHECK('P', 0x80000001, "PROT_READ|0x80000000");
}
END_TEST

START_TEST(test_map)
{
	CHECK('M', 0, "0");
	CHECK('M', 0x22, "MAP_PRIVATE|MAP_ANONYMOUS");
	CHECK('M', 0x01, "MAP_SHARED");
	CHECK('M', 0x03, "MAP_SHARED_VALIDATE");
	CHECK('M', 0x812, "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE");
	CHECK('M', 0x20022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK");
	CHECK('M', 0x4022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE");
	CHECK('M', 0x100022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE");
	CHECK('M', 0x20, "MAP_ANONYMOUS");		/* no type: invalid, shown as it is */
	CHECK('M', 0x0f, "0xf");			/* an unknown type in hex */
	CHECK('M', 0x80000002, "MAP_PRIVATE|0x80000000");
}
END_TEST

START_TEST(test_open)
{
	CHECK('O', 0, "O_RDONLY");
	CHECK('O', 01, "O_WRONLY");
	CHECK('O', 02, "O_RDWR");
	CHECK('O', 02000000, "O_RDONLY|O_CLOEXEC");
	CHECK('O', 0101 | 01000, "O_WRONLY|O_CREAT|O_TRUNC");
	CHECK('O', 0302 | 02000000, "O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC");
	CHECK('O', 02000000 | 0200000 | 04000, "O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC");
	CHECK('O', 04010001, "O_WRONLY|O_SYNC");	/* O_SYNC holds O_DSYNC's bit */
	CHECK('O', 010001, "O_WRONLY|O_DSYNC");
	CHECK('O', 020200002, "O_RDWR|O_TMPFILE");
	CHECK('O', 0100000, "O_RDONLY|O_LARGEFILE");	/* the kernel's value, not glibc's 0 */
	CHECK('O', 010000000, "O_RDONLY|O_PATH");
	CHECK('O', 0x80000000, "O_RDONLY|0x80000000");
	CHECK('O', 3, "0x3");				/* no such access mode */
	CHECK('O', 3 | 02000000, "O_CLOEXEC|0x3");
	CHECK('N', 0, "0");
	CHECK('N', 02000000, "O_CLOEXEC");
	CHECK('N', 02004000, "O_NONBLOCK|O_CLOEXEC");
	CHECK('N', 1, "0x1");
}
END_TEST

START_TEST(test_at_flags)
{
	CHECK('A', 0, "0");
	CHECK('A', 0x100, "AT_SYMLINK_NOFOLLOW");
	CHECK('A', 0x200, "AT_REMOVEDIR");
	CHECK('A', 0x1000, "AT_EMPTY_PATH");
	CHECK('A', 0x1100, "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
	CHECK('A', 0x400, "AT_SYMLINK_FOLLOW");
	CHECK('A', 0x1, "0x1");
	CHECK('A', 0x1001, "AT_EMPTY_PATH|0x1");
}
END_TEST

START_TEST(test_clone)
{
	CHECK('C', 0, "0");
	CHECK('C', 17, "SIGCHLD");
	CHECK('C', 0x01200000 | 17, "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD");
	CHECK('C', 0x003d0f00,
	      "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
	      "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID");
	CHECK('C', 0x4100 | 17, "CLONE_VM|CLONE_VFORK|SIGCHLD");
	CHECK('C', 0x100000000ULL | 0x100, "CLONE_VM|CLONE_CLEAR_SIGHAND");
	CHECK('C', 0x8000000000000000ULL | 17, "0x8000000000000000|SIGCHLD");
	CHECK('C', 0x100 | 0x7f, "CLONE_VM|127");	/* no signal has the number */
}
END_TEST

START_TEST(test_signals)
{
	char buf[64];

	CHECK('S', 9, "SIGKILL");
	CHECK('S', 1, "SIGHUP");
	CHECK('S', 15, "SIGTERM");
	CHECK('S', 17, "SIGCHLD");
	CHECK('S', 31, "SIGSYS");
	CHECK('S', 34, "SIGRT_2");
	CHECK('S', 0, "0");
	CHECK('S', 65, "65");
	CHECK('S', (uint64_t)-1, "-1");
	CHECK('H', 0, "SIG_BLOCK");
	CHECK('H', 1, "SIG_UNBLOCK");
	CHECK('H', 2, "SIG_SETMASK");
	CHECK('H', 7, "7");

	lx_decode_sigset(buf, sizeof(buf), 0);
	ck_assert_str_eq(buf, "[]");
	lx_decode_sigset(buf, sizeof(buf), (1ULL << 1) | (1ULL << 14));
	ck_assert_str_eq(buf, "[INT TERM]");
	lx_decode_sigset(buf, sizeof(buf), ~((1ULL << 8) | (1ULL << 18)));
	ck_assert_str_eq(buf, "~[KILL STOP]");
	lx_decode_sigset(buf, sizeof(buf), ~0ULL);
	ck_assert_str_eq(buf, "~[]");
	lx_decode_signal(buf, sizeof(buf), 11);
	ck_assert_str_eq(buf, "SIGSEGV");
}
END_TEST

START_TEST(test_other_constants)
{
	CHECK('F', 1, "F_GETFD");
	CHECK('F', 1030, "F_DUPFD_CLOEXEC");
	CHECK('F', 9999, "9999");
	CHECK('c', 0, "CLOCK_REALTIME");
	CHECK('c', 1, "CLOCK_MONOTONIC");
	CHECK('c', 7, "CLOCK_BOOTTIME");
	CHECK('c', 100, "100");
	CHECK('W', 0, "0");
	CHECK('W', 1, "WNOHANG");
	CHECK('W', 0x40000000 | 1, "WNOHANG|__WALL");
	CHECK('L', 0x1002, "ARCH_SET_FS");
	CHECK('L', 0x1234, "4660");
	CHECK('X', 0, "FUTEX_WAIT");
	CHECK('X', 128, "FUTEX_WAIT_PRIVATE");
	CHECK('X', 129, "FUTEX_WAKE_PRIVATE");
	CHECK('X', 9 | 128 | 256, "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME");
	CHECK('X', 99, "0x63");
	CHECK('w', 0, "SEEK_SET");
	CHECK('w', 2, "SEEK_END");
	CHECK('w', 9, "9");
	CHECK('R', 0, "F_OK");
	CHECK('R', 4 | 1, "R_OK|X_OK");
	CHECK('R', 8, "0x8");
	CHECK('K', 0, "0");
	CHECK('K', 1, "PKEY_DISABLE_ACCESS");
	CHECK('K', 3, "PKEY_DISABLE_ACCESS|PKEY_DISABLE_WRITE");
	CHECK('V', 4, "MADV_DONTNEED");
	CHECK('V', 8, "MADV_FREE");
	CHECK('E', 1, "EPOLL_CTL_ADD");
	CHECK('Y', 1, "MREMAP_MAYMOVE");
	CHECK('Y', 3, "MREMAP_MAYMOVE|MREMAP_FIXED");
	CHECK('G', 0, "0");
	CHECK('G', 1, "GRND_NONBLOCK");
	CHECK('G', 0x11, "GRND_NONBLOCK|0x10");
	CHECK('r', 3, "RLIMIT_STACK");
	CHECK('r', 7, "RLIMIT_NOFILE");
	CHECK('r', 99, "99");
}
END_TEST

START_TEST(test_structs)
{
	char buf[256];
	uint64_t args[11] = { 0 };

	lx_decode_timespec(buf, sizeof(buf), 1, 0);
	ck_assert_str_eq(buf, "{tv_sec=1, tv_nsec=0}");
	lx_decode_timespec(buf, sizeof(buf), -1, 999999999);
	ck_assert_str_eq(buf, "{tv_sec=-1, tv_nsec=999999999}");

	args[0] = 0x100 | 0x4000;	/* CLONE_VM|CLONE_VFORK */
	args[4] = 17;
	args[5] = 0x7f0000;
	args[6] = 0x10000;
	lx_decode_clone_args(buf, sizeof(buf), args, 8);
	ck_assert_str_eq(buf, "{flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, "
			 "stack=0x7f0000, stack_size=0x10000}");
	args[0] = 0;
	args[4] = 0;
	lx_decode_clone_args(buf, sizeof(buf), args, 8);
	ck_assert_str_eq(buf, "{flags=0, exit_signal=0, stack=0x7f0000, stack_size=0x10000}");
	lx_decode_clone_args(buf, sizeof(buf), args, 0);
	ck_assert_str_eq(buf, "{flags=?}");

	{
		uint64_t act[4] = { 1, 0x04000000, 0x401000, 0 };

		lx_decode_sigaction(buf, sizeof(buf), act);
		ck_assert_str_eq(buf, "{sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER, "
				 "sa_restorer=0x401000}");
		act[0] = 0;
		act[1] = 0;
		lx_decode_sigaction(buf, sizeof(buf), act);
		ck_assert_str_eq(buf, "{sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}");
		act[0] = 0x402000;
		act[1] = 0x14000004;	/* SA_RESTORER|SA_RESTART|SA_SIGINFO */
		act[3] = 1ULL << 16;	/* SIGCHLD */
		lx_decode_sigaction(buf, sizeof(buf), act);
		ck_assert_str_eq(buf, "{sa_handler=0x402000, sa_mask=[CHLD], sa_flags=SA_SIGINFO|"
				 "SA_RESTORER|SA_RESTART, sa_restorer=0x401000}");
	}
}
END_TEST

/* Too small a buffer cuts the text, terminated, and writes nothing beyond it. */
START_TEST(test_cut)
{
	char buf[12];

	memset(buf, 'X', sizeof(buf));
	ck_assert(lx_decode_value(buf, 8, 'O', 0302 | 02000000));
	ck_assert_str_eq(buf, "O_RDWR|");
	ck_assert_int_eq(buf[8], 'X');
	ck_assert(lx_decode_value(buf, 1, 'M', 0x22));
	ck_assert_str_eq(buf, "");
	ck_assert(lx_decode_value(buf, 0, 'M', 0x22));	/* no room: nothing written */
	ck_assert_int_eq(buf[0], '\0');
}
END_TEST

/* No value crashes or overruns: every kind, every single bit and a few patterns. */
START_TEST(test_any_value)
{
	static const uint64_t patterns[] = { 0, ~0ULL, 0x5555555555555555ULL,
					     0xaaaaaaaaaaaaaaaaULL, 0x8000000000000000ULL };
	const char *kinds = "dluxopfaPMONACSHFcWLXwRKVEYGr";
	char buf[512];

	for (const char *k = kinds; *k; k++) {
		for (int bit = 0; bit < 64 + 5; bit++) {
			uint64_t v = bit < 64 ? 1ULL << bit : patterns[bit - 64];

			ck_assert(lx_decode_value(buf, sizeof(buf), *k, v));
			ck_assert_uint_lt(strlen(buf), sizeof(buf));
			ck_assert_uint_gt(strlen(buf), 0);
		}
	}
}
END_TEST

static Suite *decode_suite(void)
{
	Suite *s = suite_create("trace_decode");
	TCase *tc = tcase_create("names");

	tcase_add_test(tc, test_syscall_names);
	tcase_add_test(tc, test_syscall_names_dense);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_plain_kinds);
	tcase_add_test(tc, test_prot);
	tcase_add_test(tc, test_map);
	tcase_add_test(tc, test_open);
	tcase_add_test(tc, test_at_flags);
	tcase_add_test(tc, test_clone);
	tcase_add_test(tc, test_signals);
	tcase_add_test(tc, test_other_constants);
	tcase_add_test(tc, test_structs);
	tcase_add_test(tc, test_cut);
	tcase_add_test(tc, test_any_value);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(decode_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
