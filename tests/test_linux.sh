#!/bin/sh
# test_linux.sh: static musl and glibc programs under pksandbox's Linux personality
# give the same stdout and exit status as when run natively, and its policies hold.
# Needs PKSANDBOX and LINUX_PROGS (the built tests/linux programs); runs where
# /dev/kvm is (the QEMU lane), else skips (77).  PKSANDBOX_ARGS (one option,
# e.g. --pkeys=hw) is given to every sandboxed run.
set -u

: "${LINUX_PROGS:=${PKVM_BUILDDIR:+$PKVM_BUILDDIR/tests/linux}}"
: "${PKSANDBOX:?}" "${LINUX_PROGS:?}"
. "$(dirname "$0")/kvm.sh"
kvm_runs_guests "$PKSANDBOX" || { echo "test_linux: skipped: $kvm_skip_reason"; exit 77; }
sandbox() {
	if [ -n "${PKSANDBOX_ARGS:-}" ]; then
		"$PKSANDBOX" "$PKSANDBOX_ARGS" "$@"
	else
		"$PKSANDBOX" "$@"
	fi
}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
}

# same WHAT NATIVE-CMD -- SANDBOX-ARGS: stdout and status of both runs must match.
same() {
	what=$1
	shift
	native=
	while [ "$1" != "--" ]; do native="$native '$1'"; shift; done
	shift
	eval "$native" >"$tmp/n.out" 2>/dev/null </dev/null
	ns=$?
	sandbox "$@" >"$tmp/s.out" 2>"$tmp/s.err" </dev/null
	ss=$?
	if [ "$ns" -eq "$ss" ] && cmp -s "$tmp/n.out" "$tmp/s.out"; then
		ok
	else
		bad "$what: native status $ns, sandboxed $ss"
		diff "$tmp/n.out" "$tmp/s.out" | head -20 | sed 's/^/  /'
		sed 's/^/  stderr: /' "$tmp/s.err" | head -5
	fi
}

# expect WHAT STATUS TEXT SANDBOX-ARGS...: sandboxed status, and TEXT in stdout+stderr.
expect() {
	what=$1 want=$2 text=$3
	shift 3
	sandbox "$@" >"$tmp/s.out" 2>"$tmp/s.err" </dev/null
	got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$what: status $got, expected $want"
		sed 's/^/  /' "$tmp/s.out" "$tmp/s.err" | head -10
	elif [ -n "$text" ] && ! cat "$tmp/s.out" "$tmp/s.err" | grep -qF -- "$text"; then
		bad "$what: output lacks '$text'"
		sed 's/^/  /' "$tmp/s.out" "$tmp/s.err" | head -10
	else
		ok
	fi
}

# The tree the files program reads (--ro), and a secret beside it.
mkdir -p "$tmp/ro/sub"
i=0
while [ $i -lt 3000 ]; do echo "line $i of the data file"; i=$((i + 1)); done >"$tmp/ro/data"
echo "inner text" >"$tmp/ro/sub/inner"
echo secret >"$tmp/secret"
ln -s "$tmp/secret" "$tmp/ro/link"

pku=no
"$PKSANDBOX" --caps 2>/dev/null | grep -q '^pku: yes' && pku=yes
case "${PKSANDBOX_ARGS:-}" in *none*) pku=no ;; esac

variants=0
for v in glibc glibc-pie musl; do
	dir=$LINUX_PROGS
	# A program that could not be built here (no musl-gcc) is an empty file.
	[ -s "$dir/hello-$v" ] || { [ -e "$dir/hello-$v" ] && echo "test_linux: $v programs not built, skipped"; continue; }
	variants=$((variants + 1))
	same "hello-$v" env -i X=1 Y=two "$dir/hello-$v" a "b c" 7 -- --env X=1 --env Y=two "$dir/hello-$v" a "b c" 7
	expect "hello-$v stderr" 0 "to stderr" "$dir/hello-$v"
	expect "hello-$v --trace" 0 "exit_group(0) = 0" --trace "$dir/hello-$v"
	expect "hello-$v --stats" 0 "stats: exits" --stats "$dir/hello-$v"
	expect "hello-$v --trace of an unknown call" 0 "syscall_999(" --trace "$dir/hello-$v"
	[ -s "$dir/memory-$v" ] || continue
	same "memory-$v" "$dir/memory-$v" -- "$dir/memory-$v"
	same "memory-$v segv" "$dir/memory-$v" segv -- "$dir/memory-$v" segv
	expect "memory-$v SIGSEGV report" 139 "Segmentation fault" "$dir/memory-$v" segv
	expect "memory-$v --memory limit" 0 "big mmap: ENOMEM" --memory=64M "$dir/memory-$v" limit
	expect "memory-$v --memory limit (malloc)" 0 "big malloc: NULL" --memory=64M "$dir/memory-$v" limit
	same "files-$v" "$dir/files-$v" "$tmp/ro" -- --ro "$tmp/ro" "$dir/files-$v" "$tmp/ro"
	expect "files-$v writing under --ro" 0 "open for writing: Permission denied" --ro "$tmp/ro" "$dir/files-$v" "$tmp/ro" write
	expect "files-$v without --ro" 1 "open data: No such file or directory" "$dir/files-$v" "$tmp/ro"
	if [ "$pku" = yes ]; then
		same "pkeys-$v" "$dir/pkeys-$v" -- "$dir/pkeys-$v"
		same "pkeys-$v WD fault" "$dir/pkeys-$v" wd -- "$dir/pkeys-$v" wd
		expect "pkeys-$v EFAULT" 0 "write from AD buffer: Bad address" "$dir/pkeys-$v"
	else
		expect "pkeys-$v without PKU" 0 "pkey_alloc: No space left on device" "$dir/pkeys-$v"
	fi
done
[ "$variants" -gt 0 ] || bad "no test programs in $LINUX_PROGS"

# --ro: no way out through a symbolic link or "..", nothing outside the roots.
bb=${BUSYBOX:-/bin/busybox}
if [ -x "$bb" ]; then
	expect "cat under --ro" 0 "inner text" --ro "$tmp/ro" "$bb" cat "$tmp/ro/sub/inner"
	expect "symlink out of --ro" 1 "" --ro "$tmp/ro" "$bb" cat "$tmp/ro/link"
	expect "dotdot out of --ro" 1 "" --ro "$tmp/ro" "$bb" cat "$tmp/ro/../secret"
	expect "outside --ro" 1 "" --ro "$tmp/ro" "$bb" cat /etc/passwd
	expect "--timeout ends a sleep" 124 "timed out" --timeout=1 "$bb" sleep 30
	expect "--no-seccomp" 0 "" --no-seccomp "$bb" true
fi

echo "test_linux: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
