#!/bin/sh
# test_doc_examples.sh: the example programs in the public header and in the
# README are compiled against the header and linked against the library just
# built, so that they cannot rot when the API changes.  Each is a whole
# program: the header's is the comment block after " * Example", the README's
# the ```c block after the "compiled and linked by" marker.  Where /dev/kvm
# runs guests, they run too and must report the key that denied the write.
# Needs PKVM_BUILDDIR and PKVM_SRCDIR (set by `make check`).
set -u

: "${PKVM_BUILDDIR:?run me through make check}" "${PKVM_SRCDIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The configured compiler and the libraries libpkvm needs (make check sets both).
cc=${PKVM_CC:-cc}
libs=${PKVM_LIBS:--lseccomp -lpthread}
status=0

fail() {
	echo "FAIL: $1"
	[ -f "$2" ] && sed 's/^/  /' "$2"
	status=1
}

# The header's example: " *<TAB>code" lines between " * Example" and " */".
awk '/^ \* Example/ { on = 1; next }
     on && /^ \*\// { exit }
     on && /^ \*\t/ { sub(/^ \*\t/, ""); print; next }
     on && /^ \*$/ { print "" }' \
	"$PKVM_SRCDIR/include/libpkvm.h" >"$tmp/header_example.c"
# The README's: the fenced block after the marker.
awk '/compiled and linked by tests\/test_doc_examples.sh/ { armed = 1; next }
     armed && /^```c$/ { on = 1; next }
     on && /^```$/ { exit }
     on { print }' \
	"$PKVM_SRCDIR/README.md" >"$tmp/readme_example.c"

# The library as a user links it: the static archive and its dependencies.
lib="$PKVM_BUILDDIR/lib/.libs/libpkvm.a"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
. "$PKVM_SRCDIR/tests/kvm.sh"
kvm_runs_guests "$PKVM_BUILDDIR/tools/pksandbox" && run=yes || run=

for ex in header_example readme_example; do
	src="$tmp/$ex.c"
	if ! grep -q 'int main' "$src"; then
		fail "$ex: no program found (were the markers moved?)" "$src"
		continue
	fi
	if ! $cc -std=c11 -Wall -Wextra -Werror -I"$PKVM_SRCDIR/include" -c -o "$tmp/$ex.o" "$src" \
		>"$tmp/$ex.log" 2>&1; then
		fail "$ex does not compile against include/libpkvm.h" "$tmp/$ex.log"
		sed 's/^/  | /' "$src"
		continue
	fi
	# A sanitizer build's archive needs its runtime: there, compiling is the check.
	if [ -z "${PKVM_STATIC_TESTS:-}" ]; then
		echo "PASS: $ex compiles (not linked: sanitizer build)"
		continue
	fi
	if ! $cc -o "$tmp/$ex" "$tmp/$ex.o" "$lib" $libs >"$tmp/$ex.log" 2>&1; then
		fail "$ex does not link against the library" "$tmp/$ex.log"
		continue
	fi
	echo "PASS: $ex compiles and links"
	[ -n "$run" ] || continue
	if "$tmp/$ex" >"$tmp/$ex.out" 2>&1 && grep -q '^key 1 denied the write at 0x800000$' "$tmp/$ex.out"; then
		echo "PASS: $ex runs: $(cat "$tmp/$ex.out")"
	else
		fail "$ex ran but did not report the denied write" "$tmp/$ex.out"
	fi
done
[ -n "$run" ] || echo "(not run: $kvm_skip_reason)"
exit $status
