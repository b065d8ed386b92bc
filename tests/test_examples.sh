#!/bin/sh
# test_examples.sh: examples/ must keep building and working as a user builds
# it: install the library (make install DESTDIR=...), copy examples/ out of
# the tree, and build it with its own Makefile through pkg-config (static, so
# that the same binaries also run where there is no libc); then run both
# examples where there is a /dev/kvm.  A build failure fails; only running
# is skipped (exit 77) without /dev/kvm.  Needs PKVM_BUILDDIR and
# PKVM_SRCDIR (set by `make check`).
set -u

: "${PKVM_BUILDDIR:?run me through make check}" "${PKVM_SRCDIR:?}"
# Sanitizer builds (configure --enable-asan/--enable-ubsan) cannot link statically.
if [ -z "${PKVM_STATIC_TESTS:-}" ]; then
	echo "SKIP: the examples are built statically, which sanitizer builds cannot do"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $1"
	[ -f "$2" ] && sed 's/^/  /' "$2"
	exit 1
}

# Install into a private root, with the make that runs us, but not its jobs.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" -C "$PKVM_BUILDDIR" install \
	DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1; then
	fail "make install DESTDIR=$tmp/root" "$tmp/install.log"
fi
# The manual goes with it: a page for every exported function (tests/test_man.sh
# checks the pages themselves), and pksandbox's.
man3=$(find "$tmp/root" -type d -path '*/man/man3' | head -n 1)
[ -n "$man3" ] || fail "make install put no man3 directory under $tmp/root" /dev/null
[ -f "$man3/../man1/pksandbox.1" ] || fail "make install did not install pksandbox.1" /dev/null
for name in $(sed -n '/global:/,/local:/{s/^[[:space:]]*\([a-z_0-9]*\);.*/\1/p;}' "$PKVM_SRCDIR/lib/libpkvm.sym") libpkvm; do
	[ -f "$man3/$name.3" ] || fail "make install did not install the page $name(3)" /dev/null
done
echo "make install installed $(ls "$man3" | wc -l) pages in section 3"
pc=$(find "$tmp/root" -name libpkvm.pc | head -n 1)
[ -n "$pc" ] || fail "make install put no libpkvm.pc under $tmp/root" /dev/null
# Point the installed libpkvm.pc at DESTDIR.  (Not pkg-config --define-prefix: it
# would relocate libseccomp.pc too, giving a bogus -L.)
sed -i "s#^\(prefix\|exec_prefix\|libdir\|includedir\)=/#\1=$tmp/root/#" "$pc" || fail "relocating $pc" /dev/null
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH

# The static link line must name libseccomp (Requires.private), or lockdown's symbols go missing.
libs=$(pkg-config --static --libs libpkvm) ||
	fail "pkg-config --static --libs libpkvm" /dev/null
case " $libs " in
*" -lseccomp "*) ;;
*) fail "pkg-config --static --libs libpkvm lacks -lseccomp: $libs" /dev/null ;;
esac

mkdir "$tmp/examples"
cp "$PKVM_SRCDIR"/examples/Makefile "$PKVM_SRCDIR"/examples/*.c "$tmp/examples/" ||
	fail "copying examples/" /dev/null
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" -C "$tmp/examples" STATIC=1 \
	CFLAGS="-O2 -Wall -Wextra -Werror" \
	>"$tmp/build.log" 2>&1; then
	fail "building examples/ against the installed library" "$tmp/build.log"
fi
echo "built examples/ against $(dirname "$pc") ($libs)"

. "$PKVM_SRCDIR/tests/kvm.sh"
if ! kvm_runs_guests "$PKVM_BUILDDIR/tools/pksandbox"; then
	echo "SKIP: examples built but not run: $kvm_skip_reason"
	exit 77
fi
cd "$tmp/examples" || exit 1
status=0
./parser_host ./guest_parser || { echo "FAIL: parser_host (exit status $?)"; status=1; }
./hostcall_host ./guest_services || { echo "FAIL: hostcall_host (exit status $?)"; status=1; }
exit $status
