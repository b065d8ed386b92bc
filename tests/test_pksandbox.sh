#!/bin/sh
# test_pksandbox.sh: pksandbox's command line, exit statuses and fault reports.
# Needs PKSANDBOX and PROGS (set by `make check`); the parts that run a guest
# need /dev/kvm and are skipped (exit 77) only when it is absent.
set -u

: "${PKSANDBOX:?}" "${PROGS:?}"
# PKSANDBOX_ARGS (one option, e.g. --pkeys=hw) is given to every run.
if [ -n "${PKSANDBOX_ARGS:-}" ]; then
	real_sandbox=$PKSANDBOX
	sandbox() { "$real_sandbox" "$PKSANDBOX_ARGS" "$@"; }
	PKSANDBOX=sandbox
fi
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect STATUS DESCRIPTION COMMAND...: run it, compare the status, keep its output.
expect() {
	want=$1 what=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	got=$?
	if [ "$got" -eq "$want" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $what: exit status $got, expected $want"
		sed 's/^/  stderr: /' "$tmp/err"
	fi
}

# contains FILE TEXT DESCRIPTION
contains() {
	if grep -qF -- "$2" "$tmp/$1"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $3: $1 lacks '$2'"
		sed "s/^/  $1: /" "$tmp/$1"
	fi
}

one_line_error() {
	if [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^pksandbox: ' "$tmp/err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: expected one 'pksandbox: ...' line on stderr, got:"
		cat "$tmp/err"
	fi
}

# ---- no VM needed ------------------------------------------------------------
expect 0 "--help" "$PKSANDBOX" --help
contains out "Usage: pksandbox" "--help"
contains out "--pkeys=MODE" "--help"
contains out "--max-fds=N" "--help"
contains out "--ro-special=PATH" "--help"
contains out "--max-procs=N" "--help"
contains out "--rw=PATH" "--help"
contains out "--tmpfs=PATH" "--help"
contains out "--kvm=PATH" "--help"
expect 0 "--version" "$PKSANDBOX" --version
contains out "pksandbox (libpkvm)" "--version"
expect 125 "no program" "$PKSANDBOX"
one_line_error "no program"
expect 125 "unknown option" "$PKSANDBOX" --frobnicate "$PROGS/hello"
one_line_error "unknown option"
expect 125 "bad --pkeys" "$PKSANDBOX" --pkeys=magic "$PROGS/hello"
one_line_error "bad --pkeys"
expect 125 "bad --timeout" "$PKSANDBOX" --timeout=-1 "$PROGS/hello"
one_line_error "bad --timeout"
expect 125 "bad --memory" "$PKSANDBOX" --memory=12X "$PROGS/hello"
one_line_error "bad --memory"
expect 125 "bad --max-fds" "$PKSANDBOX" --max-fds=2 "$PROGS/hello"
one_line_error "bad --max-fds"
expect 125 "--max-fds too big" "$PKSANDBOX" --max-fds=100000 "$PROGS/hello"
one_line_error "--max-fds too big"
expect 125 "bad --max-procs" "$PKSANDBOX" --max-procs=0 "$PROGS/hello"
one_line_error "bad --max-procs"
expect 125 "--max-procs too big" "$PKSANDBOX" --max-procs=5000 "$PROGS/hello"
one_line_error "--max-procs too big"
expect 125 "relative --tmpfs" "$PKSANDBOX" --tmpfs=tmp "$PROGS/hello"
one_line_error "relative --tmpfs"
expect 125 "bad --tmpfs size" "$PKSANDBOX" --tmpfs=/tmp:lots "$PROGS/hello"
one_line_error "bad --tmpfs size"
expect 125 "empty --rw" "$PKSANDBOX" --rw= "$PROGS/hello"
one_line_error "empty --rw"
expect 127 "missing program" "$PKSANDBOX" "$tmp/does-not-exist"
one_line_error "missing program"
printf 'plain text' >"$tmp/noexec"
expect 126 "no x permission" "$PKSANDBOX" "$tmp/noexec"
one_line_error "no x permission"
expect 126 "a directory" "$PKSANDBOX" "$tmp"
# A first run without a usable KVM says what is missing and what to do.
expect 125 "no KVM device" "$PKSANDBOX" --kvm="$tmp/no-kvm" "$PROGS/hello"
one_line_error "no KVM device"
contains err "modprobe kvm_intel or kvm_amd" "no KVM device: how to load it"
contains err "QEMU lane" "no KVM device: where the tests run instead"
expect 125 "--caps without a KVM device" "$PKSANDBOX" --caps --kvm="$tmp/no-kvm"
contains err "does not exist: load KVM" "--caps without a KVM device"
expect 125 "not a KVM device" "$PKSANDBOX" --kvm=/dev/null "$PROGS/hello"
one_line_error "not a KVM device"
contains err "is not a KVM device" "not a KVM device"
# Without access rights (as an unprivileged user, where setpriv can make one).
mkdir "$tmp/pub" && chmod 711 "$tmp" && : >"$tmp/pub/kvm" && chmod 600 "$tmp/pub/kvm"
run_as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ "$(id -u)" -eq 0 ] && $run_as_nobody test -r "$PROGS/hello" 2>/dev/null &&
   $run_as_nobody test -x "${real_sandbox:-$PKSANDBOX}"; then
	expect 125 "KVM device without access" $run_as_nobody "${real_sandbox:-$PKSANDBOX}" \
		--kvm="$tmp/pub/kvm" "$PROGS/hello"
	one_line_error "KVM device without access"
	contains err "permission denied: join its group" "KVM device without access"
else
	echo "(not checked: the advice for a KVM device without access, which needs root and setpriv)"
fi

. "$(dirname "$0")/kvm.sh"
if ! kvm_runs_guests "${real_sandbox:-$PKSANDBOX}"; then
	echo "$pass passed, $fail failed (guest runs skipped: $kvm_skip_reason)"
	[ "$fail" -eq 0 ] || exit 1
	exit 77
fi

# ---- guests ------------------------------------------------------------------
expect 0 "hello" "$PKSANDBOX" "$PROGS/hello"
contains out "hello, world" "hello stdout"
contains err "to stderr" "hello stderr"
expect 42 "exit(42)" "$PKSANDBOX" "$PROGS/exit42"
expect 3 "arguments" "$PKSANDBOX" "$PROGS/args" "one" "two words"
printf '%s\n' "$PROGS/args" one "two words" >"$tmp/want"
if cmp -s "$tmp/out" "$tmp/want"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: argv"; fi
expect 139 "NULL store is SIGSEGV" "$PKSANDBOX" "$PROGS/segv"
one_line_error "segv report"
contains err "#PF write at 0x0 (not mapped)" "segv report"
expect 132 "UD2 is SIGILL" "$PKSANDBOX" "$PROGS/ud"
contains err "#UD" "ud report"
expect 136 "divide by zero is SIGFPE" "$PKSANDBOX" "$PROGS/divzero"
contains err "#DE" "divzero report"
expect 124 "--timeout" "$PKSANDBOX" --timeout=0.2 "$PROGS/spin"
one_line_error "timeout report"
expect 0 "--memory" "$PKSANDBOX" --memory=16M "$PROGS/hello"
printf 'through the sandbox\n' | "$PKSANDBOX" "$PROGS/catstdin" >"$tmp/out" 2>"$tmp/err"
contains out "through the sandbox" "stdin passes through"
# A program blocked reading stdin is still stopped by --timeout: stdin is a FIFO
# opened read-write, so its read never sees end of file.
mkfifo "$tmp/fifo"
start=$(date +%s)
"$PKSANDBOX" --timeout=1 "$PROGS/catstdin" <>"$tmp/fifo" >/dev/null 2>&1
got=$?
took=$(($(date +%s) - start))
if [ "$got" -eq 124 ] && [ "$took" -lt 10 ]; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: a read blocked on stdin: status $got after $took s, expected 124 after about 1 s"
fi
expect 125 "--memory too large" "$PKSANDBOX" --memory=64G "$PROGS/hello"
one_line_error "--memory too large"
cp "$PROGS/hello" "$tmp/trunc"
truncate -s 100 "$tmp/trunc"
expect 125 "truncated ELF" "$PKSANDBOX" "$tmp/trunc"
one_line_error "truncated ELF"
printf '#!/bin/sh\necho hi\n' >"$tmp/script"
chmod +x "$tmp/script" "$tmp/noexec"
expect 125 "not an ELF" "$PKSANDBOX" "$tmp/script"
one_line_error "not an ELF"
expect 126 "dynamically linked" "$PKSANDBOX" "$PROGS/dynamic"
one_line_error "dynamically linked"
contains err "dynamically linked" "dynamic report"
if "$PKSANDBOX" --caps | grep -q '^pku: no'; then
	# The shadow-paging lane: the advice names the way out.
	expect 125 "--pkeys=hw without PKU" "$PKSANDBOX" --pkeys=hw "$PROGS/hello"
	one_line_error "--pkeys=hw without PKU"
	contains err "offers no guest PKU" "--pkeys=hw report"
	contains err "use --pkeys=soft or auto" "--pkeys=hw report: what to do"
else
	expect 0 "--pkeys=hw" "$PKSANDBOX" --pkeys=hw "$PROGS/hello"
fi

# Random system calls with hostile arguments: the program may finish or die as
# Linux would kill it, but pksandbox itself must neither fail (125) nor crash.
for seed in 1 2 3 4 5 6; do
	"$PKSANDBOX" --timeout=60 --memory=32M "$PROGS/sysfuzz" "$seed" >"$tmp/out" 2>"$tmp/err" </dev/null
	got=$?
	case $got in
	0)
		if grep -q "sysfuzz: done" "$tmp/out"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)); echo "FAIL: sysfuzz $seed: status 0 without its completion line"
		fi ;;
	13[0-9]|14[0-9]|15[0-9])
		if [ "$(wc -l <"$tmp/err")" -ge 1 ] && grep -q "^pksandbox: " "$tmp/err"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)); echo "FAIL: sysfuzz $seed: status $got without a pksandbox report"
		fi ;;
	*) fail=$((fail + 1)); echo "FAIL: sysfuzz $seed: status $got"; sed 's/^/  stderr: /' "$tmp/err" | tail -5 ;;
	esac
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
