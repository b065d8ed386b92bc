#!/bin/sh
# test_abi.sh: the library's binary interface is the one recorded in
# abi/libpkvm.abi (abidw's description of the public types and functions).
# abidiff compares it with the library just built, looking only at what
# include/libpkvm.h defines: a removed function, a changed signature, or a
# public struct whose size or members changed fails, with abidiff's report.
# An intended change updates the baseline with `make abi-baseline` in the
# same commit, and the version by the rules of docs/abi.md.
# Skips (77) where Debian's abigail-tools is not installed, or the library
# was built without debug information (CFLAGS without -g).
# Needs PKVM_BUILDDIR and PKVM_SRCDIR (set by `make check`).
set -u

: "${PKVM_BUILDDIR:?run me through make check}" "${PKVM_SRCDIR:?}"
lib="$PKVM_BUILDDIR/lib/.libs/libpkvm.so"
if ! command -v abidiff >/dev/null 2>&1; then
	echo "SKIP: abidiff not found (install abigail-tools)"
	exit 77
fi
if [ ! -f "$lib" ]; then
	echo "FAIL: $lib not built"
	exit 1
fi
if ! readelf -S "$lib" | grep -q '\.debug_info'; then
	echo "SKIP: $lib has no debug information to compare (configure with CFLAGS containing -g)"
	exit 77
fi
abidiff --headers-dir2 "$PKVM_SRCDIR/include" --drop-private-types \
	"$PKVM_SRCDIR/abi/libpkvm.abi" "$lib"
status=$?
if [ "$status" -ne 0 ]; then
	echo "FAIL: the ABI differs from abi/libpkvm.abi (abidiff status $status);"
	echo "      if that is intended, run 'make abi-baseline' and follow docs/abi.md"
	exit 1
fi
echo "PASS: the ABI of $lib is abi/libpkvm.abi's"
