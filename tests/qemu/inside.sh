#!/bin/sh
# inside.sh: what check-hw.sh runs inside a lane (busybox sh, /payload), by plan:
#   amd (the default): the QEMU lane, kvm-amd with NPT: the VM suites on the hw,
#     soft and none backends, pksandbox's and the Linux personality's with
#     --pkeys=hw and soft (and auto), the native and shell diffs, the examples;
#   intel: the Intel lane in make check (Bochs, kvm-intel with EPT), a subset
#     that proves the Intel path: test_vm and the conformance table on hw and
#     soft, pksandbox's tests with --pkeys=hw;
#   intel-all: make check-intel: test_vm, test_embed and test_conformance on hw,
#     soft and none, pksandbox's tests on hw and soft, the native diffs;
#   shadow: the QEMU lane with NPT off (KVM's shadow paging, no guest PKU): the
#     soft and none suites, and what pksandbox --caps says of it.
# A failing suite fails the lane.  In sanitizer builds (PKVM_SANITIZE set) any
# sanitizer report fails its suite.
plan=${1:-amd}
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
./pksandbox-static --caps | tee caps.txt

# caps_say LINE: the KVM under test is the one the plan is for.
caps_say() {
	suite "--caps says '$1'" grep -qx "$1" caps.txt
}

finish() {
	echo "lane: $pass passed, $fail failed"
	[ "$fail" -eq 0 ] && exit 0
	exit 1
}

vm_suites() { # vm_suites BACKENDS...: the VM tests that need no Linux personality
	suite "test_vm ($*)" env PKVM_TEST_BACKENDS="$*" CK_VERBOSITY=normal ./test_vm
	suite "test_embed ($*)" env PKVM_TEST_BACKENDS="$*" CK_VERBOSITY=normal ./test_embed
}

case $plan in
amd)
	caps_say "vendor: AuthenticAMD"
	caps_say "paging: npt (AMD SVM)"
	caps_say "pkeys-backends: hw soft (auto: hw)" ;;
intel | intel-all)
	caps_say "vendor: GenuineIntel"
	caps_say "paging: ept (Intel VMX)"
	caps_say "pkeys-backends: hw soft (auto: hw)"
	# The lane where soft's views run on PCIDs (QEMU's TCG offers none).
	caps_say "pcid: yes"
	if [ "$plan" = intel ]; then
		suite "test_vm (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" \
			CK_VERBOSITY=normal ./test_vm
	else
		vm_suites hw soft none
	fi
	# The table, scenario by scenario (none enforces no keys: it has no column).
	suite "test_conformance (hw vs soft)" env PKVM_TEST_BACKENDS="hw soft none" \
		PKVM_CONFORMANCE_TABLE=1 ./test_conformance
	suite "test_pksandbox (--pkeys=hw)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
		PKSANDBOX_ARGS=--pkeys=hw sh ./test_pksandbox.sh
	if [ "$plan" = intel-all ]; then
		suite "test_pkru_stub (hw, soft, soft-exits, soft-nopcid, none)" \
			env PKVM_TEST_BACKENDS="hw soft none" PKVM_STRESS_SWITCHES=30000 ./test_pkru_stub
		suite "test_pksandbox (--pkeys=soft)" env PKSANDBOX=./pksandbox-static PROGS=./progs \
			PKSANDBOX_ARGS=--pkeys=soft sh ./test_pksandbox.sh
		for pkeys in hw soft; do
			suite "native_diff (--pkeys=$pkeys)" env PKSANDBOX=./pksandbox-static \
				LINUX_PROGS=./linux PKSANDBOX_ARGS=--pkeys=$pkeys \
				sh ./native_diff.sh ./native_diff.list
		done
	fi
	finish ;;
shadow)
	# KVM shadows the guest's tables: no PKU, so auto is soft, and libpkvm must
	# refresh KVM's shadow of its page-table pool after every edit (enter_user()).
	caps_say "paging: shadow"
	caps_say "pkeys-backends: soft (auto: soft)"
	vm_suites soft none
	suite "test_conformance (soft)" env PKVM_TEST_BACKENDS="soft" ./test_conformance
	suite "test_demand (soft, none)" env PKVM_TEST_BACKENDS="soft none" CK_VERBOSITY=normal \
		./test_demand
	suite "test_pkru_stub (soft, soft-exits, none)" env PKVM_TEST_BACKENDS="soft none" \
		PKVM_STRESS_SWITCHES=100000 ./test_pkru_stub
	suite "test_pksandbox (--pkeys=auto: soft)" env PKSANDBOX=./pksandbox-static \
		PROGS=./progs sh ./test_pksandbox.sh
	finish ;;
*)
	echo "inside.sh: no plan '$plan'"
	exit 2 ;;
esac
suite "test_vm (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_vm
suite "test_embed (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_embed
suite "test_reentry (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_reentry
suite "test_demand (hw, soft, none)" env PKVM_TEST_BACKENDS="hw soft none" CK_VERBOSITY=normal ./test_demand
suite "test_pkru_stub (hw, soft, soft-exits, none)" env PKVM_TEST_BACKENDS="hw soft none" ./test_pkru_stub
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
