#!/bin/bash
# check-hw.sh: run the VM tests and pksandbox's tests inside the QEMU lane, on
# a real KVM with guest PKU, and fail if any of them fails there.  Run by
# `make check` (when qemu-system-x86 is installed) and `make check-hw`.
set -euo pipefail

builddir=${PKVM_BUILDDIR:?run me through make check or make check-hw}
srcdir=${PKVM_SRCDIR:?}
if [[ -n "${PKVM_QEMU_LANE_OFF:-}" ]]; then
	echo "SKIP: the QEMU lane (the hw backend on a real KVM) does not run: $PKVM_QEMU_LANE_OFF"
	exit 77
fi
payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT

# The test programs are static (see Makefile.am): the lane's initramfs has no libc.
for f in tests/test_vm tests/test_conformance tests/test_embed tests/test_reentry \
	 tests/test_linux_guard tests/test_linux_fuzz tests/test_linux_block tests/test_linux_seccomp \
	 tests/pksandbox-static examples/parser_host examples/hostcall_host; do
	if [[ ! -x "$builddir/$f" ]] || LC_ALL=C readelf -l "$builddir/$f" | grep -q INTERP; then
		echo "check-hw: $builddir/$f is missing or not a static executable" >&2
		exit 1
	fi
	cp "$builddir/$f" "$payload/"
done
cp -r "$builddir/tests/progs" "$payload/progs"
cp -r "$builddir/tests/linux" "$payload/linux"
cp "$builddir/examples/guest_parser" "$builddir/examples/guest_services" "$payload/"
cp "$srcdir/tests/test_pksandbox.sh" "$srcdir/tests/test_linux.sh" "$srcdir/tests/test_busybox.sh" \
   "$srcdir/tests/kvm.sh" "$srcdir/tests/qemu/inside.sh" "$payload/"

echo "check-hw: booting Debian's kernel under QEMU TCG for a KVM with guest PKU"
start=$(date +%s)
status=0
"$srcdir/tests/qemu/lane.sh" --timeout "${PKVM_LANE_TIMEOUT:-600}" "$payload" ./inside.sh || status=$?
echo "check-hw: lane finished in $(($(date +%s) - start)) s with status $status"
exit "$status"
