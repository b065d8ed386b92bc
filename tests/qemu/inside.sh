#!/bin/sh
# inside.sh: what check-hw.sh runs inside the QEMU lane (busybox sh, /payload).
# The VM suites run on the hw, soft and none backends, pksandbox's and the Linux
# personality's with --pkeys=hw and soft (and auto); a failing suite fails the lane.
# In sanitizer builds (PKVM_SANITIZE set) any sanitizer report fails its suite.
pass=0
fail=0

suite() {
	name=$1
	shift
	echo "=== $name"
	start=$(date +%s)
	if "$@"; then
		echo "PASS: $name ($(($(date +%s) - start)) s)"
		pass=$((pass + 1))
	else
		echo "FAIL: $name (exit status $?, $(($(date +%s) - start)) s)"
		fail=$((fail + 1))
	fi
}

# The kernel's pkeys selftest (test_linux.sh) reads /etc/passwd: this throw-away guest has none.
[ -e /etc/passwd ] || { mkdir -p /etc && echo "root:x:0:0:root:/:/bin/sh" >/etc/passwd; }
./pksandbox-static --caps
suite "test_vm (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_vm
suite "test_embed (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_embed
suite "test_reentry (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_reentry
suite "test_demand (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_demand
suite "test_conformance (hw vs soft)" env PKVM_TEST_BACKENDS="hw soft" \
	PKVM_CONFORMANCE_TABLE=1 ./test_conformance
suite "test_pksandbox (--pkeys=hw)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
	PKSANDBOX_ARGS=--pkeys=hw sh ./test_pksandbox.sh
suite "test_pksandbox (--pkeys=auto)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
	sh ./test_pksandbox.sh
suite "test_pksandbox (--pkeys=soft)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
	PKSANDBOX_ARGS=--pkeys=soft sh ./test_pksandbox.sh
suite "test_linux_seccomp" env CK_VERBOSITY=normal ./test_linux_seccomp
suite "test_linux_guard (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" \
	CK_VERBOSITY=normal ./test_linux_guard
suite "test_linux_fuzz (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" PROGS=./progs \
	CK_VERBOSITY=normal ./test_linux_fuzz
for pkeys in hw soft; do
	suite "test_linux (--pkeys=$pkeys)" env PKSANDBOX=./pksandbox-static LINUX_PROGS=./linux \
		PKSANDBOX_ARGS=--pkeys=$pkeys sh ./test_linux.sh
	suite "test_busybox (--pkeys=$pkeys)" env PKSANDBOX=./pksandbox-static \
		PKSANDBOX_ARGS=--pkeys=$pkeys sh ./test_busybox.sh
	suite "native_diff (--pkeys=$pkeys)" env PKSANDBOX=./pksandbox-static LINUX_PROGS=./linux \
		PKSANDBOX_ARGS=--pkeys=$pkeys sh ./native_diff.sh ./native_diff.list
	suite "shell_diff (--pkeys=$pkeys)" env PKSANDBOX=/payload/pksandbox-static \
		SHELLS_DIR=/payload/shells PKSANDBOX_ARGS=--pkeys=$pkeys sh ./shell_diff.sh
done
# Sanitizer builds: a locked-down pksandbox checks for leaks at its lockdown, not at
# exit (lib/seccomp.c), so its runs and the Linux personality are leak-checked here.
if [ -n "${PKVM_SANITIZE:-}" ]; then
	suite "test_pksandbox (--no-seccomp, leaks checked at exit)" env PKSANDBOX=./pksandbox-static \
		PROGS=./progs PKSANDBOX_ARGS=--no-seccomp sh ./test_pksandbox.sh
	suite "test_linux (--no-seccomp, leaks checked at exit)" env PKSANDBOX=./pksandbox-static \
		LINUX_PROGS=./linux PKSANDBOX_ARGS=--no-seccomp sh ./test_linux.sh
fi
suite "example parser_host" ./parser_host ./guest_parser
suite "example hostcall_host" ./hostcall_host ./guest_services
suite "test_linux_block (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal \
	./test_linux_block

echo "lane: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
