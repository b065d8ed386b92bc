#!/bin/sh
# native_diff.sh: Linux is the oracle.  Each program of a list runs natively and
# under pksandbox, and both runs must print the same stdout and end with the
# same status.  Run in the QEMU lane, whose guest kernel is a PKU Linux, once
# per key backend (PKSANDBOX_ARGS=--pkeys=hw or soft); elsewhere it skips (77).
#
# Usage: native_diff.sh [LIST]   (default: native_diff.list beside this script)
# Each line of LIST: [pku:|hw:|go:] NAME [ARG...]; NAME-glibc and NAME-musl
# from LINUX_PROGS run with the ARGs (an empty file is a variant not built
# here: skipped); "pku:" lines run only where the CPU and kernel have
# protection keys, "hw:" lines only there and with --pkeys=hw; "go:" lines
# run NAME-go, a Go program.  Standard input is the same 256 KiB of text for
# both runs.  "#" starts a comment.
set -u
: "${PKSANDBOX:?}" "${LINUX_PROGS:=${PKVM_BUILDDIR:+$PKVM_BUILDDIR/tests/linux}}"
: "${LINUX_PROGS:?}"
here=$(dirname "$0")
list=${1:-$here/native_diff.list}
. "$here/kvm.sh"
kvm_runs_guests "$PKSANDBOX" || { echo "native_diff: skipped: $kvm_skip_reason"; exit 77; }
[ -r "$list" ] || { echo "native_diff: no list $list"; exit 99; }

pku=no
grep -qw ospke /proc/cpuinfo 2>/dev/null && pku=yes
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
skip=0
# Every program's standard input: 256 KiB that a program hashing it must read to the end.
i=0
while [ $i -lt 4096 ]; do echo "line $i of the standard input the programs may read, 64 bytes"; i=$((i + 1)); done |
	head -c 262144 >"$tmp/input"


while read -r first rest; do
	case $first in ''|'#'*) continue ;; esac
	variants="glibc musl"
	if [ "$first" = "go:" ]; then
		variants=go
		set -- $rest
		first=$1
		shift
	elif [ "$first" = "pku:" ] || [ "$first" = "hw:" ]; then
		[ "$pku" = yes ] || { skip=$((skip + 1)); continue; }
		[ "$first" = "hw:" ] && [ "${PKSANDBOX_ARGS:-}" != "--pkeys=hw" ] &&
			{ skip=$((skip + 1)); continue; }
		set -- $rest
		first=$1
		shift
	else
		set -- $rest
	fi
	for v in $variants; do
		prog=$LINUX_PROGS/$first-$v
		[ -s "$prog" ] || { skip=$((skip + 1)); continue; }
		what="$first-$v${*:+ $*}${PKSANDBOX_ARGS:+ ($PKSANDBOX_ARGS)}"
		"$prog" "$@" >"$tmp/native" 2>/dev/null <"$tmp/input"
		ns=$?
		sandboxed_run "$prog" "$@" >"$tmp/sandbox" 2>"$tmp/err" <"$tmp/input"
		ss=$?
		if [ "$ns" -eq 126 ] || [ "$ns" -eq 127 ]; then
			echo "FAIL: $what: the native run did not start ($ns)"
			fail=$((fail + 1))
		elif [ "$ns" -eq "$ss" ] && cmp -s "$tmp/native" "$tmp/sandbox"; then
			pass=$((pass + 1))
		else
			echo "FAIL: $what: native status $ns, sandboxed $ss"
			diff "$tmp/native" "$tmp/sandbox" | head -20 | sed 's/^/  /'
			sed 's/^/  stderr: /' "$tmp/err" | head -5
			fail=$((fail + 1))
		fi
	done
done <"$list"
echo "native_diff${PKSANDBOX_ARGS:+ ($PKSANDBOX_ARGS)}: $pass same, $fail different, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
