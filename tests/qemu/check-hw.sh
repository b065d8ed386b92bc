#!/bin/bash
# check-hw.sh: run the VM tests and pksandbox's tests inside a lane (lane.sh),
# on a real KVM, and fail if any of them fails there.
#
# Usage: check-hw.sh [--machine=qemu-amd|bochs-intel] [--paging=nested|shadow] [--plan=PLAN]
# By default: the QEMU lane (kvm-amd with NPT and guest PKU) and the plan "amd", all the suites
# on hw, soft and none.  tests/bochs/check-intel.sh runs the Intel lane (kvm-intel with EPT),
# tests/qemu/check-shadow.sh the QEMU lane on shadow paging; tests/qemu/inside.sh lists what
# each plan runs.  Run by `make check` (when the emulator is installed), `make check-hw` and
# `make check-intel`.
set -euo pipefail

builddir=${PKVM_BUILDDIR:?run me through make check or make check-hw}
srcdir=${PKVM_SRCDIR:?}
machine=qemu-amd paging=nested plan=amd
for arg; do
	case $arg in
	--machine=*) machine=${arg#*=} ;;
	--paging=*) paging=${arg#*=} ;;
	--plan=*) plan=${arg#*=} ;;
	*) echo "check-hw: unknown argument '$arg'" >&2; exit 2 ;;
	esac
done
case $plan in
amd | intel | intel-all | shadow) ;;
*) echo "check-hw: no plan '$plan' (tests/qemu/inside.sh lists them)" >&2; exit 2 ;;
esac
# configure's reason not to run the QEMU lanes; --disable-qemu-lane turns the Intel one off too.
if [[ -n "${PKVM_QEMU_LANE_OFF:-}" ]] &&
   [[ $machine == qemu-amd || $PKVM_QEMU_LANE_OFF == *--disable-qemu-lane* ]]; then
	echo "SKIP: the $machine lane does not run: $PKVM_QEMU_LANE_OFF"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
payload=$work/payload sysroot=$work/sysroot
mkdir "$payload" "$sysroot"

# The test programs are static (see configure.ac), except in sanitizer builds,
# whose runtimes cannot be: there the lane gets the loader and the libraries
# they need (libc, libasan, libubsan, libcheck, libseccomp...) in a sysroot.
for f in tests/test_vm tests/test_conformance tests/test_embed tests/test_reentry tests/test_demand \
	 tests/test_pkru_stub \
	 tests/test_linux_guard tests/test_linux_fuzz tests/test_linux_block tests/test_linux_seccomp \
	 tests/pksandbox-static examples/parser_host examples/hostcall_host; do
	if [[ ! -x "$builddir/$f" ]]; then
		echo "check-hw: $builddir/$f is missing" >&2
		exit 1
	fi
	"$srcdir/tests/qemu/runtime.sh" "$sysroot" "$builddir/$f"
	cp "$builddir/$f" "$payload/"
done
cp -r "$builddir/tests/progs" "$payload/progs"
cp -r "$builddir/tests/linux" "$payload/linux"
cp "$builddir/examples/guest_parser" "$builddir/examples/guest_services" "$payload/"
# The shells shell_diff.sh runs (Debian's static ones), where installed.
mkdir "$payload/shells"
for f in /bin/busybox /bin/bash-static /bin/zsh-static /bin/sash; do
	[[ -x $f ]] && cp "$f" "$payload/shells/"
done
cp -r "$srcdir/tests/shell" "$payload/shell"
cp "$srcdir/tests/test_pksandbox.sh" "$srcdir/tests/test_linux.sh" "$srcdir/tests/test_busybox.sh" \
   "$srcdir/tests/native_diff.sh" "$srcdir/tests/native_diff.list" "$srcdir/tests/shell_diff.sh" \
   "$srcdir/tests/kvm.sh" "$srcdir/tests/qemu/inside.sh" "$payload/"

# Only the amd plan runs the shells' diffs, and it and intel-all the personality's
# programs: the other plans leave them out of a guest that Bochs boots slowly.
[[ $plan == amd ]] || rm -rf "$payload/shells" "$payload/shell"
[[ $plan == amd || $plan == intel-all ]] || rm -rf "$payload/linux"

if [[ -n "$(ls -A "$sysroot")" ]]; then
	echo "check-hw: dynamically linked test programs: their runtime goes along ($(find "$sysroot" -type f | wc -l) files)"
fi
echo "check-hw: booting Debian's kernel on $machine ($paging paging) for a real KVM, plan $plan"
start=$(date +%s)
status=0
# About 9 minutes in a plain build on two cores (the shells' native diffs and
# the Linux personality's suites are most of it); ASan and UBSan make the same
# suites slower (about 16 minutes), and they run more of them (leak checks).
# The limits leave room for a machine busy with other work.
limit=${PKVM_LANE_TIMEOUT:-$(if [[ -z ${PKVM_STATIC_TESTS:-} ]]; then echo 1800; else echo 900; fi)}
# The sanitizer options make check gives every test (tests/qemu/Makefile.inc).
"$srcdir/tests/qemu/lane.sh" --machine="$machine" --paging="$paging" --timeout "$limit" \
	--sysroot "$sysroot" "$payload" \
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
	PKVM_SANITIZE="$(if [[ -z ${PKVM_STATIC_TESTS:-} ]]; then echo yes; fi)" ./inside.sh "$plan" ||
	status=$?
# The lane's own skip (its emulator or a build tool missing) is this test's skip.
[[ $status -ne 77 ]] || echo "SKIP: $machine lane: see the lane's SKIP line above"
echo "check-hw: lane finished in $(($(date +%s) - start)) s with status $status"
exit "$status"
