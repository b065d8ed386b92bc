#!/bin/sh
# shell_diff.sh: Linux is the oracle, for shells.  Each script of the list runs
# natively and under pksandbox in the shell the list names (Debian's
# busybox-static, bash-static, zsh-static, sash), and both runs must print the
# same and end with the same status.  In the sandbox the working directory is
# writable (--rw) and /tmp a tmpfs (zsh makes here-documents there); scripts
# work in /tmp/t, which natively is a fresh directory too.  Run in the QEMU lane (PKSANDBOX_ARGS=--pkeys=hw or soft);
# elsewhere it skips (77).
#
# Usage: shell_diff.sh [LIST]   (default: shell/list beside this script)
# SHELLS_DIR (default /bin) holds the shells (busybox, bash-static, zsh-static,
# sash); a shell not there is skipped.  Each line of LIST: SHELL SCRIPT; "#"
# starts a comment.  sash runs commands by path only: its scripts find busybox
# as ./bb, a copy in the working directory.
set -u
: "${PKSANDBOX:?}" "${SHELLS_DIR:=/bin}"
here=$(cd "$(dirname "$0")" && pwd)
list=${1:-$here/shell/list}
. "$here/kvm.sh"
kvm_runs_guests "$PKSANDBOX" || { echo "shell_diff: skipped: $kvm_skip_reason"; exit 77; }
[ -r "$list" ] || { echo "shell_diff: no list $list"; exit 99; }
bb=$SHELLS_DIR/busybox
[ -x "$bb" ] || { echo "shell_diff: no busybox in $SHELLS_DIR: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"; rm -rf /tmp/t' EXIT
pass=0
fail=0
skip=0

while read -r shell script; do
	case $shell in ''|'#'*) continue ;; esac
	case $shell in
	busybox) prog=$bb; set -- sh ;;
	bash) prog=$SHELLS_DIR/bash-static; set -- ;;
	zsh) prog=$SHELLS_DIR/zsh-static; set -- -f ;;
	sash) prog=$SHELLS_DIR/sash; set -- -f ;;
	*) echo "shell_diff: unknown shell $shell"; exit 99 ;;
	esac
	if [ ! -x "$prog" ]; then
		skip=$((skip + 1))
		continue
	fi
	dir=$work/run
	rm -rf "$dir" /tmp/t
	mkdir -p "$dir" /tmp/t
	[ "$shell" = sash ] && cp "$bb" "$dir/bb"
	(cd "$dir" && env -i BB="$bb" PATH=/nonexistent "$prog" "$@" "$here/shell/$script" \
		>"$work/native.out" 2>"$work/native.err" </dev/null)
	native=$?
	rm -rf "$dir" /tmp/t
	mkdir -p "$dir"
	[ "$shell" = sash ] && cp "$bb" "$dir/bb"
	(cd "$dir" && sandboxed_run --ro="$here/shell" --ro="$SHELLS_DIR" --rw="$dir" --tmpfs=/tmp:8M \
		--env=BB="$bb" --env=PATH=/nonexistent --timeout=60 \
		"$prog" "$@" "$here/shell/$script" \
		>"$work/sandbox.out" 2>"$work/sandbox.err" </dev/null)
	sandboxed=$?
	if [ "$native" -eq "$sandboxed" ] && cmp -s "$work/native.out" "$work/sandbox.out"; then
		pass=$((pass + 1))
		echo "same: $shell $script (status $native)"
	else
		fail=$((fail + 1))
		echo "FAIL: $shell $script: native status $native, sandboxed $sandboxed"
		diff "$work/native.out" "$work/sandbox.out" | head -20 | sed 's/^/  /'
		sed 's/^/  stderr: /' "$work/sandbox.err" | head -10
	fi
done <"$list"
echo "shell_diff: $pass same, $fail different, $skip skipped (${PKSANDBOX_ARGS:-auto})"
[ "$fail" -eq 0 ]
