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
# continued OUT CMD...: run CMD (a program, not a function) in the background,
# sending it SIGCONT every 0.2 s until it ends (at most 10 s); its status.
continued() {
	out=$1
	shift
	"$@" >"$out" 2>/dev/null </dev/null &
	pid=$!
	n=0
	while [ $n -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.2
		kill -CONT "$pid" 2>/dev/null
		n=$((n + 1))
	done
	wait "$pid"
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
	sandboxed_run "$@" >"$tmp/s.out" 2>"$tmp/s.err" </dev/null
	ss=$?
	if [ "$ns" -eq 126 ] || [ "$ns" -eq 127 ]; then
		bad "$what: the native run did not start (status $ns)"
	elif [ "$ns" -eq "$ss" ] && cmp -s "$tmp/n.out" "$tmp/s.out"; then
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
	sandboxed_run "$@" >"$tmp/s.out" 2>"$tmp/s.err" </dev/null
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
	expect "hello-$v --trace marks it" 0 ") = -1 ENOSYS (Function not implemented) (not served)" \
		--trace "$dir/hello-$v"
	expect "hello-$v --stats table" 0 "% time     seconds  usecs/call     calls    errors syscall" \
		--stats "$dir/hello-$v"
	expect "hello-$v --stats total" 0 "100.00" --stats "$dir/hello-$v"
	# (999: beyond the numbers counted one by one, PKVM_LINUX_NR_MAX)
	expect "hello-$v --stats unknown call" 0 " syscall_512+ (not served)" --stats "$dir/hello-$v"
	# --trace=FILE: the lines go to FILE, not stderr.
	rm -f "$tmp/trace"
	expect "hello-$v --trace=FILE" 0 "" --trace="$tmp/trace" "$dir/hello-$v"
	if ! grep -qF "exit_group(0) = 0" "$tmp/trace" 2>/dev/null; then
		bad "hello-$v --trace=FILE: $tmp/trace lacks exit_group"
	elif grep -qF "exit_group(" "$tmp/s.err"; then
		bad "hello-$v --trace=FILE: the trace went to stderr too"
	else
		ok
	fi
	expect "hello-$v --trace=FILE not writable" 125 "cannot open it for writing" \
		--trace="$tmp/no/such/dir/trace" "$dir/hello-$v"
	[ -s "$dir/memory-$v" ] || continue
	same "memory-$v" "$dir/memory-$v" -- "$dir/memory-$v"
	same "memory-$v segv" "$dir/memory-$v" segv -- "$dir/memory-$v" segv
	expect "memory-$v SIGSEGV report" 139 "Segmentation fault" "$dir/memory-$v" segv
	same "memory-$v file mappings" "$dir/memory-$v" file "$tmp/ro/data" -- \
		--ro "$tmp/ro" "$dir/memory-$v" file "$tmp/ro/data"
	expect "memory-$v --memory limit" 0 "big mmap: ENOMEM" --memory=64M "$dir/memory-$v" limit
	expect "memory-$v --memory limit (malloc)" 0 "big malloc: NULL" --memory=64M "$dir/memory-$v" limit
	# Every thread blocked on a futex no one can wake: reported, where Linux would hang.
	[ -s "$dir/threads-$v" ] &&
		expect "threads-$v deadlock" 124 "deadlock: every thread waits" --timeout=60 \
			"$dir/threads-$v" deadlock
	# Memory is given when first touched: touching more than --memory is Linux's OOM kill.
	# (One libc: 24k pages filled one exit each are seconds in the lane's emulated CPU.)
	if [ "$v" = glibc ]; then
		expect "memory-$v out of memory" 137 "killed by SIGKILL: out of memory" \
			--memory=64M "$dir/memory-$v" oom
		expect "memory-$v fits in more memory" 0 "touched all" --memory=160M \
			"$dir/memory-$v" oom
	fi
	same "files-$v" "$dir/files-$v" "$tmp/ro" -- --ro "$tmp/ro" "$dir/files-$v" "$tmp/ro"
	expect "files-$v writing under --ro" 0 "open for writing: Permission denied" --ro "$tmp/ro" "$dir/files-$v" "$tmp/ro" write
	expect "files-$v without --ro" 1 "open data: No such file or directory" "$dir/files-$v" "$tmp/ro"
	if [ -s "$dir/signals-$v" ]; then
		# A read of a pipe that SIGALRM interrupts: EINTR, then restarted with SA_RESTART.
		(sleep 4; echo late line) | "$dir/signals-$v" restart >"$tmp/n.out" 2>&1
		ns=$?
		(sleep 4; echo late line) | sandboxed_run "$dir/signals-$v" restart >"$tmp/s.out" 2>&1
		ss=$?
		if [ "$ns" -eq "$ss" ] && cmp -s "$tmp/n.out" "$tmp/s.out"; then
			ok
		else
			bad "signals-$v restart: native status $ns, sandboxed $ss"
			diff "$tmp/n.out" "$tmp/s.out" | head -10 | sed 's/^/  /'
		fi
	fi
	if [ -s "$dir/signals-$v" ]; then
		# Standard output a pipe whose reader leaves: EPIPE when ignored, else SIGPIPE (141).
		( "$dir/signals-$v" sigpipe 2>"$tmp/n.out"; echo "status $?" >>"$tmp/n.out" ) |
			head -c 1 >/dev/null
		( sandboxed_run "$dir/signals-$v" sigpipe 2>"$tmp/s.err"; echo "status $?" >>"$tmp/s.err" ) |
			head -c 1 >/dev/null
		grep -v '^pksandbox' "$tmp/s.err" >"$tmp/s.out"
		if cmp -s "$tmp/n.out" "$tmp/s.out" && grep -q "status 141" "$tmp/s.out"; then
			ok
		else
			bad "signals-$v sigpipe differs from Linux"
			diff "$tmp/n.out" "$tmp/s.out" | head -10 | sed 's/^/  /'
		fi
	fi
	if [ -s "$dir/signals-$v" ]; then
		# SIGSTOP stops it until SIGCONT; pksandbox hands its SIGCONT to the program.
		continued "$tmp/n.out" "$dir/signals-$v" stop
		ns=$?
		continued "$tmp/s.out" "$PKSANDBOX" ${PKSANDBOX_ARGS:+"$PKSANDBOX_ARGS"} \
			"$dir/signals-$v" stop
		ss=$?
		if [ "$ns" -eq "$ss" ] && cmp -s "$tmp/n.out" "$tmp/s.out" &&
		   grep -q "SIGCONT handled 1" "$tmp/s.out"; then
			ok
		else
			bad "signals-$v stop: native status $ns, sandboxed $ss"
			diff "$tmp/n.out" "$tmp/s.out" | head -10 | sed 's/^/  /'
		fi
	fi
	if [ -s "$dir/procs-$v" ]; then
		# exec: close-on-exec descriptors close, others stay; a "#!" script's interpreter.
		abs=$(cd "$dir" && pwd)
		same "procs-$v exec" "$abs/procs-$v" exec -- --ro "$abs" "$abs/procs-$v" exec
		printf '#!%s args\n' "$abs/procs-$v" >"$tmp/ro/script-$v"
		chmod +x "$tmp/ro/script-$v"
		same "procs-$v #! script" "$abs/procs-$v" run "$tmp/ro/script-$v" -- \
			--ro "$abs" --ro "$tmp/ro" "$abs/procs-$v" run "$tmp/ro/script-$v"
		# Processes: the limit turns a fork bomb into EAGAIN, and none outlives the sandbox.
		expect "procs-$v fork until EAGAIN" 0 "fork failed after 7 children: EAGAIN" \
			--max-procs=8 "$dir/procs-$v" bomb
		expect "procs-$v one process: no fork" 0 "fork failed after 0 children: EAGAIN" \
			--max-procs=1 "$dir/procs-$v" bomb
		expect "procs-$v fork bomb" 124 "timed out" --max-procs=16 --timeout=3 \
			"$dir/procs-$v" forever
		expect "procs-$v memory shared by the processes" 0 "fork failed after 1 children: ENOMEM" \
			--memory=48M "$dir/procs-$v" memory
		expect "procs-$v children left spinning" 0 "leaving 3 children" "$dir/procs-$v" leave
		sleep 1
		left=$(cat /proc/[0-9]*/comm 2>/dev/null | grep -c pksandbox)
		[ "$left" -eq 0 ] && ok || bad "procs-$v: $left sandbox processes outlived pksandbox"
	fi
	case "${PKSANDBOX_ARGS:-}" in
	*soft*)
		[ -s "$dir/signals-$v" ] &&
			expect "signals-$v execute-only on soft: readable" 0 "read: sig 0 code 0 addr ok 1, byte 0xb8" \
				"$dir/signals-$v" execonly ;;
	esac
	if [ "$pku" = yes ]; then
		same "pkeys-$v" "$dir/pkeys-$v" -- "$dir/pkeys-$v"
		same "pkeys-$v WD fault" "$dir/pkeys-$v" wd -- "$dir/pkeys-$v" wd
		expect "pkeys-$v EFAULT" 0 "write from AD buffer: Bad address" "$dir/pkeys-$v"
	else
		expect "pkeys-$v without PKU" 0 "pkey_alloc: No space left on device" "$dir/pkeys-$v"
	fi
done
[ "$variants" -gt 0 ] || bad "no test programs in $LINUX_PROGS"

# The kernel's own pkeys selftest (tests/linux/pkeys_selftest.c; built where
# Debian's linux-source is installed): natively and under --pkeys=hw, every
# subtest it runs passes, 22 times over.  Only hw: soft has no execute-only
# pages.  It reads /etc/passwd, which the lane's guest provides (inside.sh).
ks=$LINUX_PROGS/pkeys_selftest
if [ -s "$ks" ] && [ "$pku" = yes ] && [ "${PKSANDBOX_ARGS:-}" = "--pkeys=hw" ] &&
   [ -r /etc/passwd ]; then
	if "$ks" >"$tmp/n.out" 2>&1 </dev/null && grep -q "done (all tests OK)" "$tmp/n.out"; then
		expect "kernel pkeys selftest" 0 "done (all tests OK)" --ro=/etc/passwd "$ks"
	else
		bad "kernel pkeys selftest fails natively: $(tail -n 2 "$tmp/n.out" | tr '\n' ' ')"
	fi
fi

# --ro: no way out through a symbolic link or "..", nothing outside the roots.
bb=${BUSYBOX:-/bin/busybox}
if [ -x "$bb" ]; then
	expect "cat under --ro" 0 "inner text" --ro "$tmp/ro" "$bb" cat "$tmp/ro/sub/inner"
	expect "symlink out of --ro" 1 "" --ro "$tmp/ro" "$bb" cat "$tmp/ro/link"
	expect "dotdot out of --ro" 1 "" --ro "$tmp/ro" "$bb" cat "$tmp/ro/../secret"
	expect "outside --ro" 1 "" --ro "$tmp/ro" "$bb" cat /etc/passwd
	expect "--timeout ends a sleep" 124 "timed out" --timeout=1 "$bb" sleep 30
	expect "--no-seccomp" 0 "" --no-seccomp "$bb" true
	# Writable trees: nothing without them; a tmpfs holds its size and no more.
	expect "no writing under --ro" 1 "Permission denied" --ro "$tmp/ro" --ro "$bb" \
		"$bb" sh -c "echo x > $tmp/ro/new"
	[ -e "$tmp/ro/new" ] && bad "a file was made under --ro"
	mkdir -p "$tmp/rw"
	expect "writing under --rw" 0 "made" --rw "$tmp/rw" --ro "$bb" \
		"$bb" sh -c "echo made > $tmp/rw/new && $bb cat $tmp/rw/new"
	[ "$(cat "$tmp/rw/new" 2>/dev/null)" = made ] && ok || bad "--rw: the file is not on the host"
	expect "--rw of a file" 125 "cannot be used" --rw "$tmp/ro/data" "$bb" true
	expect "a full tmpfs: ENOSPC" 0 "65536" --tmpfs=/tmp/small:64K --ro "$bb" \
		"$bb" sh -c "$bb seq 1 100000 > /tmp/small/f; $bb wc -c < /tmp/small/f"
	expect "a tmpfs gives space back" 0 "second" --tmpfs=/tmp/small:64K --ro "$bb" \
		"$bb" sh -c "$bb seq 1 9000 > /tmp/small/f && $bb rm /tmp/small/f &&
			     $bb seq 1 9000 > /tmp/small/g && echo second"
	# (seq 1 9000 is 43893 bytes: two of them do not fit in 64K.)
	expect "a tmpfs file unlinked while open keeps its bytes" 0 "held, freed" \
		--tmpfs=/tmp/small:64K --ro "$bb" "$bb" sh -c "exec 3> /tmp/small/f
			$bb seq 1 9000 >&3; $bb rm /tmp/small/f
			$bb seq 1 9000 > /tmp/small/g 2>/dev/null
			[ \$($bb wc -c < /tmp/small/g) -lt 43893 ] && held=held
			exec 3>&-; $bb rm /tmp/small/g
			$bb seq 1 9000 > /tmp/small/h
			[ \$($bb wc -c < /tmp/small/h) -eq 43893 ] && echo \$held, freed"
	expect "/dev/null" 0 "empty" --ro "$bb" "$bb" sh -c "echo gone > /dev/null &&
		$bb wc -c < /dev/null | $bb grep -q '^0$' && echo empty"
fi

# ---- the security review (tests/linux/hardening.c) ----------------------------
for v in glibc musl; do
	h=$LINUX_PROGS/hardening-$v
	[ -s "$h" ] || continue
	# Replies carry no host bytes: PR_GET_NAME is the name NUL-padded, getdents64's padding zero.
	same "hardening-$v prctl name" "$h" name -- "$h" name
	same "hardening-$v getdents64 padding" "$h" dents "$tmp/ro" "$tmp/ro/data" -- \
		--ro "$tmp/ro" "$h" dents "$tmp/ro" "$tmp/ro/data"
	# max_fds: RLIMIT_NOFILE as reported and enforced, like a native ulimit -n.
	expect "hardening-$v default max_fds" 0 "RLIMIT_NOFILE 256 256" --ro "$tmp/ro" "$h" fds "$tmp/ro/data"
	expect "hardening-$v default max_fds enforced" 0 "opened 253, then EMFILE" --ro "$tmp/ro" "$h" fds "$tmp/ro/data"
	# (As natively under "ulimit -n 16" with only 0, 1 and 2 open.)
	expect "hardening-$v --max-fds=16" 0 "opened 13, then EMFILE" --max-fds=16 --ro "$tmp/ro" "$h" fds "$tmp/ro/data"
	expect "hardening-$v --max-fds=16 rlimit" 0 "RLIMIT_NOFILE 16 16" --max-fds=16 --ro "$tmp/ro" "$h" fds "$tmp/ro/data"
	expect "hardening-$v --max-fds=16 dup2" 0 "dup2 past the limit: EBADF" --max-fds=16 --ro "$tmp/ro" "$h" fds "$tmp/ro/data"
	# Kernel file systems and devices: EACCES below any root, even --ro=/.
	# (/dev/null is the personality's own: always there, never the host's device.)
	for p in /proc/self/mem /proc/1/environ /proc/self/status /sys/kernel /dev/zero; do
		[ -e "$p" ] || continue
		expect "hardening-$v $p under --ro=/" 0 "open $p: EACCES" --ro=/ "$h" special "$p"
	done
	if [ -e /proc/cpuinfo ]; then
		expect "hardening-$v --ro-special=/proc/cpuinfo" 0 "open /proc/cpuinfo: ok" \
			--ro=/ --ro-special=/proc/cpuinfo "$h" special /proc/cpuinfo /proc/self/mem
		expect "hardening-$v --ro-special is exact" 0 "open /proc/self/mem: EACCES" \
			--ro=/ --ro-special=/proc/cpuinfo "$h" special /proc/cpuinfo /proc/self/mem
		expect "hardening-$v --ro=/proc refused" 125 "--ro-special" --ro=/proc "$h" special /proc/cpuinfo
	fi
	expect "hardening-$v --ro=/dev refused" 125 "--ro-special" --ro=/dev "$h" special /dev/null
done
if [ -x "$bb" ]; then
	# A read from a pipe that never gets data ends at the time limit (it blocked past it before).
	sleep 5 | sandboxed_run --timeout=1 "$bb" cat >"$tmp/s.out" 2>"$tmp/s.err"
	got=$?
	if [ "$got" -eq 124 ]; then ok; else bad "--timeout ends a read from a pipe: status $got, expected 124"; fi
fi

echo "test_linux: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
