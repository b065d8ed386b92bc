#!/bin/sh
# test_busybox.sh: Debian's busybox-static applets give the same stdout and exit
# status under pksandbox as natively.  Needs PKSANDBOX; BUSYBOX (default
# /bin/busybox) must be a static busybox; runs where /dev/kvm is (the QEMU
# lane), else skips (77).  PKSANDBOX_ARGS is given to every sandboxed run.
set -u

bb=${BUSYBOX:-/bin/busybox}
: "${PKSANDBOX:?}"
. "$(dirname "$0")/kvm.sh"
kvm_runs_guests "$PKSANDBOX" || { echo "test_busybox: skipped: $kvm_skip_reason"; exit 77; }
[ -x "$bb" ] || { echo "test_busybox: no $bb, skipped"; exit 77; }
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

i=0
while [ $i -lt 500 ]; do echo "$((i * 7919 % 1000)) item-$i field:$((i % 13))"; i=$((i + 1)); done >"$tmp/input"
printf 'hello world\n' >"$tmp/short"

# case NAME INPUT APPLET ARGS...: native and sandboxed stdout and status must match.
case_() {
	name=$1 input=$2
	shift 2
	"$bb" "$@" <"$input" >"$tmp/n.out" 2>/dev/null
	ns=$?
	if [ -n "${PKSANDBOX_ARGS:-}" ]; then
		"$PKSANDBOX" "$PKSANDBOX_ARGS" "$bb" "$@" <"$input" >"$tmp/s.out" 2>"$tmp/s.err"
	else
		"$PKSANDBOX" "$bb" "$@" <"$input" >"$tmp/s.out" 2>"$tmp/s.err"
	fi
	ss=$?
	if [ "$ns" -eq "$ss" ] && cmp -s "$tmp/n.out" "$tmp/s.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: busybox $name: native status $ns, sandboxed $ss"
		diff "$tmp/n.out" "$tmp/s.out" | head -10 | sed 's/^/  /'
		sed 's/^/  stderr: /' "$tmp/s.err" | head -5
	fi
}

case_ echo /dev/null echo hello sandbox
case_ "echo -n" /dev/null echo -n no newline
case_ true /dev/null true
case_ false /dev/null false
case_ "cat stdin" "$tmp/input" cat
case_ sha256sum "$tmp/input" sha256sum
case_ md5sum "$tmp/input" md5sum
case_ wc "$tmp/input" wc
case_ "wc -l" "$tmp/input" wc -l
case_ sort "$tmp/input" sort
case_ "sort -n -r" "$tmp/input" sort -n -r
case_ head "$tmp/input" head -n 5
case_ tr "$tmp/short" tr a-z A-Z
case_ cut "$tmp/input" cut -d ' ' -f 2
case_ expr /dev/null expr 6 '*' 7
case_ "expr false" /dev/null expr 0 + 0

echo "test_busybox: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
