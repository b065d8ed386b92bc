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

# --trace of the demo's pipeline (Makefile.am's DEMO_PIPELINE): every call by
# its name, served or not, flags by name, pipe's descriptors shown.
trace_has() {
	if grep -qE -- "$1" "$tmp/trace.err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: busybox --trace: no line matches '$1'"
	fi
}
if [ -n "${PKSANDBOX_ARGS:-}" ]; then set -- "$PKSANDBOX_ARGS"; else set --; fi
"$PKSANDBOX" "$@" --trace --ro="$bb" --tmpfs=/tmp "$bb" sh -c \
	"$bb seq 1 1000 | $bb sort -rn | $bb head -3 > /tmp/top && $bb cat /tmp/top" \
	>"$tmp/trace.out" 2>"$tmp/trace.err" </dev/null
st=$?
if [ "$st" -ne 0 ] || [ "$(cat "$tmp/trace.out")" != "$(printf '1000\n999\n998')" ]; then
	fail=$((fail + 1))
	echo "FAIL: busybox --trace pipeline: status $st"
	tail -5 "$tmp/trace.err" | sed 's/^/  stderr: /'
elif grep -E '^\[pksandbox [0-9]+\] syscall_[0-9]' "$tmp/trace.err" >"$tmp/unnamed"; then
	fail=$((fail + 1))
	echo "FAIL: busybox --trace: calls without a name"
	sort -u "$tmp/unnamed" | head -5 | sed 's/^/  /'
else
	pass=$((pass + 1))
fi
trace_has '\] execve\("'
trace_has 'pipe2?\(\[[0-9]+, [0-9]+\]'
trace_has 'rt_sigaction\(SIG[A-Z]+, '
trace_has 'O_(WRONLY|RDWR)\|O_CREAT\|O_TRUNC'
trace_has 'MAP_PRIVATE\|MAP_ANONYMOUS|\] brk\('
trace_has 'exit_group\(0\) = 0'

echo "test_busybox: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
