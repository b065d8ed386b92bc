#!/bin/sh
# inside.sh: what check-hw.sh runs inside the QEMU lane (busybox sh, /payload).
# The VM suite runs on the hw, soft and none backends, pksandbox's with --pkeys=hw
# and auto; a failing suite fails the lane.
pass=0
fail=0

suite() {
	name=$1
	shift
	echo "=== $name"
	if "$@"; then
		echo "PASS: $name"
		pass=$((pass + 1))
	else
		echo "FAIL: $name (exit status $?)"
		fail=$((fail + 1))
	fi
}

./pksandbox-static --caps
suite "test_vm (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_vm
suite "test_embed (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_embed
suite "test_conformance (hw vs soft)" env PKVM_TEST_BACKENDS="hw soft" \
	PKVM_CONFORMANCE_TABLE=1 ./test_conformance
suite "test_pksandbox (--pkeys=hw)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
	PKSANDBOX_ARGS=--pkeys=hw sh ./test_pksandbox.sh
suite "test_pksandbox (--pkeys=auto)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
	sh ./test_pksandbox.sh

echo "lane: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
