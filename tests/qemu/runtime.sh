#!/bin/sh
# runtime.sh: copy what dynamically linked executables need to run into a sysroot
# for the QEMU lane (lane.sh --sysroot), whose bare initramfs has no libc.
#
# Usage: tests/qemu/runtime.sh SYSROOT FILE...
#
# For each dynamically linked FILE: its program interpreter (PT_INTERP) and every
# library `ldd FILE` resolves, dereferenced, at the same absolute path under
# SYSROOT, so that the guest's loader finds them where the host's did (its default
# search path; the lane has no ld.so.cache).  A static FILE needs nothing.
# Exit status 1, with a line on stderr, when a FILE is not an ELF executable (a
# libtool wrapper script, say: copy the real program) or a library is not found.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 SYSROOT FILE..." >&2; exit 2; }
sysroot=$1
shift

carry() { # carry PATH: PATH's file, symlinks followed, to the same path under $sysroot
	[ -e "$sysroot$1" ] && return 0
	mkdir -p "$sysroot$(dirname "$1")"
	cp -L "$1" "$sysroot$1"
}

for f in "$@"; do
	if ! LC_ALL=C readelf -h "$f" >/dev/null 2>&1; then
		echo "runtime: $f is not an ELF executable (a libtool wrapper script?)" >&2
		exit 1
	fi
	interp=$(LC_ALL=C readelf -l "$f" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]$/\1/p')
	[ -n "$interp" ] || continue # static
	carry "$interp"
	libs=$(LC_ALL=C ldd "$f") || { echo "runtime: ldd $f failed" >&2; exit 1; }
	if echo "$libs" | grep -q '=> not found'; then
		echo "runtime: $f needs libraries this host lacks:" >&2
		echo "$libs" | grep '=> not found' >&2
		exit 1
	fi
	# "name => /path (addr)" and "/path (addr)"; the vDSO ("linux-vdso.so.1 (addr)") has no path.
	for lib in $(echo "$libs" | sed -n 's/^[[:space:]]*\(.* => \)\{0,1\}\(\/[^ ]*\) (0x[0-9a-f]*)$/\2/p'); do
		carry "$lib"
	done
done
