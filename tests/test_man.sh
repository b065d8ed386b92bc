#!/bin/sh
# test_man.sh: the manual keeps up with the library.  Every function
# include/libpkvm.h declares is exported by lib/libpkvm.sym (or is a static
# inline), and every one of them has a page in
# man/man3 (its own, or a one-line .so link to the page that documents it,
# which must exist); every page, man/pksandbox.1 included, renders without a
# warning from groff (-ww) and mandoc's linter (WARNING and above: the
# linter's STYLE remarks are advice).  Whether make install installs them is
# checked by tests/test_examples.sh, which installs the library.
# Needs PKVM_SRCDIR (set by `make check`).
set -u

: "${PKVM_SRCDIR:?run me through make check}"
man="$PKVM_SRCDIR/man"
pass=0
fail=0

bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
}

# The exported names: the "global:" part of the version script.
names=$(sed -n '/global:/,/local:/{s/^[[:space:]]*\([a-z_0-9]*\);.*/\1/p;}' "$PKVM_SRCDIR/lib/libpkvm.sym")
[ -n "$names" ] || { echo "FAIL: no names found in lib/libpkvm.sym"; exit 1; }
# The header's functions: each is exported, or a static inline that has a page too.
declared=$(grep -oE '^[a-z][a-z_0-9 ]*[ *]pkvm_[a-z_0-9]+\(' "$PKVM_SRCDIR/include/libpkvm.h" |
	sed -E 's/.*[ *](pkvm_[a-z_0-9]+)\($/\1/' | sort -u)
inline=$(grep -oE '^static inline [a-z_0-9 ]*[ *]pkvm_[a-z_0-9]+\(' "$PKVM_SRCDIR/include/libpkvm.h" |
	sed -E 's/.*[ *](pkvm_[a-z_0-9]+)\($/\1/')
for name in $declared; do
	case " $(echo $names $inline) " in
	*" $name "*) ;;
	*) bad "include/libpkvm.h declares $name, which lib/libpkvm.sym does not export" ;;
	esac
done
names="$names $inline"
for name in $names; do
	page="$man/man3/$name.3"
	if [ ! -f "$page" ]; then
		bad "$name is exported but has no page man/man3/$name.3"
		continue
	fi
	target=$(sed -n '1s/^\.so[[:space:]]\{1,\}//p' "$page")
	if [ -n "$target" ] && [ ! -f "$man/$target" ]; then
		bad "man/man3/$name.3 links to $target, which does not exist"
		continue
	fi
	# The page that documents it must name it in NAME or SYNOPSIS.
	doc=${target:+$man/$target}
	if ! grep -Eq "(^|[^a-z0-9_])$name([^a-z0-9_]|$)" "${doc:-$page}"; then
		bad "${doc:-$page} does not mention $name"
		continue
	fi
	pass=$((pass + 1))
done

# Render every page that is not a link, with every warning on.
lint=
command -v groff >/dev/null 2>&1 && lint="$lint groff"
command -v mandoc >/dev/null 2>&1 && lint="$lint mandoc"
if [ -z "$lint" ]; then
	echo "$pass passed, $fail failed (rendering not checked: neither groff nor mandoc is installed)"
	[ "$fail" -eq 0 ] || exit 1
	exit 77
fi
# A .so page is rendered by groff as man(1) renders it, through the page it
# names (relative to the manual's top); mandoc's linter would only call .so
# itself fragile, so it reads the pages with content.
for page in "$man"/*.1 "$man"/man3/*.3; do
	[ -f "$page" ] || continue
	link=
	head -n 1 "$page" | grep -q '^\.so ' && link=yes
	for tool in $lint; do
		case $tool in
		groff) out=$(cd "$man" && groff -ww -z -man -Tutf8 "$page" 2>&1) ;;
		mandoc) [ -z "$link" ] || continue
			out=$(cd "$man" && mandoc -T lint -W warning "$page" 2>&1) ;;
		esac
		if [ -n "$out" ]; then
			bad "$tool warns about ${page#"$PKVM_SRCDIR"/}:"
			printf '%s\n' "$out" | sed 's/^/  /'
		else
			pass=$((pass + 1))
		fi
	done
done
echo "$pass passed, $fail failed (rendered with:$lint)"
[ "$fail" -eq 0 ]
