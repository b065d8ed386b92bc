/*
 * pkeys_selftest.c: the kernel's own pkeys selftest,
 * tools/testing/selftests/{vm,mm}/protection_keys.c, built unchanged from
 * Debian's linux-source around this file (the build extracts it; nothing of
 * it is kept in this tree).  It is the reference for what real pkeys
 * programs do: every subtest runs, 22 times over, except the ones that need
 * what the personality does not serve, which are replaced by a no-op:
 *   test_ptrace_of_child, test_ptrace_modifies_pkru  ptrace()
 *   test_pkey_alloc_exhaust  its parent exits and its child goes on with the
 *                            test: the sandbox ends with its first process
 * It opens /etc/passwd (give it with --ro) and prints "done (all tests OK)".
 */
#define main protection_keys_main
#include "protection_keys.c"
#undef main

static void not_yet(int *ptr, u16 pkey)
{
	(void)ptr, (void)pkey;
}

int main(void)
{
	for (unsigned i = 0; i < ARRAY_SIZE(pkey_tests); i++)
		if (pkey_tests[i] == test_ptrace_of_child ||
		    pkey_tests[i] == test_ptrace_modifies_pkru ||
		    pkey_tests[i] == test_pkey_alloc_exhaust)
			pkey_tests[i] = not_yet;
	return protection_keys_main();
}
