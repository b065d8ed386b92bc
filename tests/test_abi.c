/*
 * test_abi.c: the binary interface of the public structs, and the rule that
 * keeps it: a struct that may grow ends with reserved space, which the
 * caller must leave zero.
 *
 * Sizes and offsets are pinned here so that a change which would break
 * programs built against an earlier header fails a fast test on every
 * machine, also where abidiff (tests/test_abi.sh) is not installed.  When a
 * member is added, it takes words from the reserved tail and the size stays;
 * when a size must change, that is an incompatible release (docs/abi.md).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "libpkvm.h"

#define RESERVED_AT_END(type) \
	(offsetof(type, reserved) + sizeof(((type *)0)->reserved) == sizeof(type))

START_TEST(test_struct_sizes)
{
	ck_assert_uint_eq(sizeof(struct pkvm_caps), 96);
	ck_assert_uint_eq(sizeof(struct pkvm_config), 104);
	ck_assert_uint_eq(sizeof(struct pkvm_exit), 168);
	ck_assert_uint_eq(sizeof(struct pkvm_stats), 136);
	ck_assert_uint_eq(sizeof(struct pkvm_program), 96);
	ck_assert_uint_eq(sizeof(struct pkvm_linux_config), 176);
	ck_assert_uint_eq(sizeof(struct pkvm_linux_stats), 12440);
	ck_assert_uint_eq(sizeof(struct pkvm_linux_trace), 152);
	/* Fixed for good: the CPL3 registers, and an array element. */
	ck_assert_uint_eq(sizeof(struct pkvm_regs), 160);
	ck_assert_uint_eq(sizeof(struct pkvm_linux_tmpfs), 16);
}
END_TEST

START_TEST(test_reserved_tails)
{
	ck_assert(RESERVED_AT_END(struct pkvm_caps));
	ck_assert(RESERVED_AT_END(struct pkvm_config));
	ck_assert(RESERVED_AT_END(struct pkvm_exit));
	ck_assert(RESERVED_AT_END(struct pkvm_stats));
	ck_assert(RESERVED_AT_END(struct pkvm_program));
	ck_assert(RESERVED_AT_END(struct pkvm_linux_config));
	ck_assert(RESERVED_AT_END(struct pkvm_linux_stats));
	ck_assert(RESERVED_AT_END(struct pkvm_linux_trace));
	/* Growth room the members may take, in 8-byte words. */
	ck_assert_uint_ge(sizeof(((struct pkvm_config *)0)->reserved), 56);
	ck_assert_uint_ge(sizeof(((struct pkvm_linux_config *)0)->reserved), 64);
	/* Members of 0.2.0 that took reserved words: the size stayed. */
	ck_assert_uint_eq(offsetof(struct pkvm_caps, reserved), 56);
	/* Later: pkvm_caps.pcid in the padding after paging, pkvm_stats.view_pcids a word. */
	ck_assert_uint_eq(offsetof(struct pkvm_caps, pcid), offsetof(struct pkvm_caps, paging) + 4);
	ck_assert_uint_eq(offsetof(struct pkvm_stats, view_pcids) + 8,
			  offsetof(struct pkvm_stats, reserved));
	/* pkvm_config.flags took a reserved word: the size stayed. */
	ck_assert_uint_eq(offsetof(struct pkvm_config, flags) + 8, offsetof(struct pkvm_config, reserved));
	/* The exit union keeps its size whatever variant grows. */
	ck_assert_uint_eq(offsetof(struct pkvm_exit, reserved), 8 + 128);
}
END_TEST

/* The header's version is the package's: one release, one number. */
START_TEST(test_version)
{
	ck_assert_str_eq(pkvm_version(), PACKAGE_VERSION);
}
END_TEST

/* Checked before anything is opened: no /dev/kvm is needed. */
START_TEST(test_nonzero_reserved_refused)
{
	struct pkvm_config cfg = { .kvm_path = "/nonexistent/kvm" };
	struct pkvm_vm *vm = (struct pkvm_vm *)&cfg;

	cfg.reserved[_i] = 1;
	ck_assert_int_eq(pkvm_vm_create(&vm, &cfg), -EINVAL);
	ck_assert_ptr_null(vm);
	/* And with it zero again, the next check is reached: the device. */
	cfg.reserved[_i] = 0;
	ck_assert_int_eq(pkvm_vm_create(&vm, &cfg), -ENOENT);
	/* pkvm_linux_attach()'s check needs a VM: test_vm's test_bad_arguments. */
}
END_TEST

/* Flags this version does not know are refused, as reserved words are. */
START_TEST(test_unknown_flags_refused)
{
	struct pkvm_config cfg = { .kvm_path = "/nonexistent/kvm" };
	struct pkvm_vm *vm;

	cfg.flags = PKVM_CONFIG_FLAGS + 1;
	ck_assert_int_eq(pkvm_vm_create(&vm, &cfg), -EINVAL);
	cfg.flags = PKVM_CONFIG_FLAGS;
	ck_assert_int_eq(pkvm_vm_create(&vm, &cfg), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("structs");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_struct_sizes);
	tcase_add_test(tc, test_reserved_tails);
	tcase_add_test(tc, test_version);
	tcase_add_loop_test(tc, test_nonzero_reserved_refused, 0,
			    sizeof(((struct pkvm_config *)0)->reserved) / 8);
	tcase_add_test(tc, test_unknown_flags_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
