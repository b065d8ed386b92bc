#!/usr/bin/env bash
# build.sh: build the Bochs the Intel lane boots, once, into a cache keyed by what it is made of.
#
# Usage: tests/bochs/build.sh CACHE_DIR | --check
# Prints the path of the bochs binary on stdout; --check only says whether it could be built. Bochs 2.7's source and the patch that fixes its
# PKU CPUID come from shared/bochs beside the checkout (or $PKVM_BOCHS_SRC): they are never
# copied into this repository. This directory's own patches go on top (see README.md here).
# The binary lands in CACHE_DIR/bochs-KEY/bin/bochs, KEY being the first 16 hex digits of the
# SHA-256 of the tarball, every patch and the configure flags: it is rebuilt only when one of
# them changes.
#
# Exit status: 0; 77 when the source or a build tool is missing (the caller's skip); 248 when
# the build failed (with the tail of its log on stderr).

set -euo pipefail

readonly EX_SKIP=77 EX_BUILD=248
here=$(cd "$(dirname "$0")" && pwd)
# shared/ sits beside the checkout; make check-sanitize's copy of the tree is one level deeper.
src=${PKVM_BOCHS_SRC:-}
if [ -z "$src" ]; then
	for up in ../../.. ../../../..; do
		src=$here/$up/shared/bochs
		[ ! -d "$src" ] || break
	done
fi
[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR | --check" >&2; exit 2; }
cache=$1

skip() { echo "lane: SKIP: $*" >&2; exit "$EX_SKIP"; }
tarball=$src/bochs-2.7-src.tar.xz
[ -f "$tarball" ] && [ -f "$src/skylake-x-pku.patch" ] ||
	skip "no Bochs 2.7 source in $src (the shared/ directory beside the checkout, or \$PKVM_BOCHS_SRC)"
for tool in g++ make patch tar xz sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || skip "'$tool' not found (install g++ and make)"
done
[ "$cache" != --check ] || exit 0

# The flags of the measured recipe (shared/bochs/README.md). No debugger: it makes Bochs about
# four times slower and stops at a prompt. No IPS display: Bochs logs it from a SIGALRM
# handler with the stdio that its main loop uses, and a lane that made Bochs log a lot (kvm-intel
# reads an MSR Bochs does not know at every VM entry) deadlocked on the log's lock.
flags="--enable-x86-64 --enable-vmx=2 --enable-cpu-level=6 --enable-avx --enable-evex
	--enable-protection-keys --enable-all-optimizations --enable-pci --enable-cdrom
	--enable-a20-pin --enable-repeat-speedups --enable-fpu --enable-memtype --with-nogui
	--with-term --disable-show-ips"
patches=("$src/skylake-x-pku.patch" "$here"/*.patch)
key=$({ cat "$tarball" "${patches[@]}"; echo "$flags"; } | sha256sum | cut -c1-16)
dest=$cache/bochs-$key
if [ -x "$dest/bin/bochs" ]; then
	echo "$dest/bin/bochs"
	exit 0
fi

mkdir -p "$cache"
# Two lanes starting together build once.
exec 9>"$cache/.bochs.lock"
flock 9
if [ ! -x "$dest/bin/bochs" ]; then
	work=$(mktemp -d "$cache/.bochs-build.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "bochs: building Bochs 2.7 into $dest (once; about 2 minutes on two cores)" >&2
	fail() {
		tail -n 20 "$1" | sed 's/^/bochs: build: /' >&2
		echo "lane: error: the Bochs build failed ($2)" >&2
		exit "$EX_BUILD"
	}
	tar -C "$work" -xJf "$tarball" || fail /dev/null "cannot unpack $tarball"
	for p in "${patches[@]}"; do
		(cd "$work/bochs" && patch -p1 --quiet) <"$p" >"$work/patch.log" 2>&1 ||
			fail "$work/patch.log" "$(basename "$p") does not apply"
	done
	# Not the caller's make (make check's jobserver, command-line variables) nor its
	# compiler flags: the key names everything the binary is made of.
	clean_env=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CC -u CXX -u CFLAGS -u CXXFLAGS
		   -u CPPFLAGS -u LDFLAGS)
	# shellcheck disable=SC2086 # the flags are words
	(cd "$work/bochs" && "${clean_env[@]}" ./configure $flags) >"$work/build.log" 2>&1 ||
		fail "$work/build.log" configure
	"${clean_env[@]}" make -C "$work/bochs" -j"$(nproc)" >>"$work/build.log" 2>&1 ||
		fail "$work/build.log" make
	mkdir -p "$work/out/bin"
	cp "$work/bochs/bochs" "$work/out/bin/bochs"
	strip "$work/out/bin/bochs" 2>/dev/null || true
	rm -rf "$dest"
	mv "$work/out" "$dest"
fi
echo "$dest/bin/bochs"
