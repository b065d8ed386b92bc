#!/usr/bin/env bash
# selftest.sh: check that lane.sh reports each outcome with its documented exit status.
#
# Usage: tests/qemu/selftest.sh [--cache DIR]
# The failure paths are provoked with doctored copies of the cache (a corrupt module, a load
# order without the vendor module, a truncated kernel), so lane.sh itself needs no test hooks.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
lane=$here/lane.sh
cache=${PKVM_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libpkvm-qemu}
if [ "${1:-}" = --cache ] && [ $# -ge 2 ]; then cache=$2; fi
cache=$(mkdir -p "$cache" && cd "$cache" && pwd)

command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "selftest: SKIP: no qemu" >&2; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pkvm-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/payload"
failures=0

# expect WANT NAME LANE-ARGS...: run lane.sh, compare its status, keep its output in $work/out.
expect() {
	local want=$1 name=$2 rc=0
	shift 2
	"$@" </dev/null >"$work/out" 2>"$work/err" || rc=$?
	if [ "$rc" -eq "$want" ]; then
		printf 'ok   %-28s status %3d  %s\n' "$name" "$rc" "$(tail -n 1 "$work/err")"
	else
		printf 'FAIL %-28s status %3d, want %d\n' "$name" "$rc" "$want"
		sed 's/^/     | /' "$work/out" "$work/err"
		failures=$((failures + 1))
	fi
}

# A copy of the real cache whose kernel is shared and whose modules can be spoilt.
doctored_cache() {
	local pkg
	pkg=$(cat "$cache/current")
	rm -rf "$work/cache"
	mkdir -p "$work/cache/$pkg"
	ln -s "$cache/$pkg/kernel" "$work/cache/$pkg/kernel"
	ln -s "$cache/$pkg/vmlinuz" "$work/cache/$pkg/vmlinuz"
	cp -r "$cache/$pkg/modules" "$work/cache/$pkg/modules"
	echo "$pkg" >"$work/cache/current"
	echo "$work/cache/$pkg"
}

expect 0 "success (prepares cache)" "$lane" --cache "$cache" "$work/payload" true
expect 3 "status pass-through" "$lane" --cache "$cache" "$work/payload" sh -c 'exit 3'
expect 255 "status 255" "$lane" --cache "$cache" "$work/payload" sh -c 'exit 255'
# shellcheck disable=SC2016 # the literal $HOME must reach the guest unexpanded
expect 0 "argument quoting" "$lane" --cache "$cache" "$work/payload" \
	sh -c 'printf "[%s]" "$@"' x "a b" "it's" '$HOME' ''
[ "$(cat "$work/out")" = "[a b][it's][\$HOME][]" ] ||
	{ echo "FAIL argument quoting: got $(cat "$work/out")"; failures=$((failures + 1)); }
# A dynamically linked program (coreutils' expr, not busybox's applet) runs with --sysroot.
cp "$(command -v expr)" "$work/payload/dynexpr"
"$here/runtime.sh" "$work/sysroot" "$work/payload/dynexpr"
expect 1 "dynamic program (--sysroot)" "$lane" --cache "$cache" --sysroot "$work/sysroot" \
	"$work/payload" ./dynexpr 6 \* 7 = 41
rm "$work/payload/dynexpr"
expect 127 "command not found" "$lane" --cache "$cache" "$work/payload" no-such-command
expect 254 "timeout" "$lane" --cache "$cache" --timeout 10 "$work/payload" sleep 100
expect 253 "guest panic" "$lane" --cache "$cache" "$work/payload" sh -c 'echo c >/proc/sysrq-trigger'

kdir=$(doctored_cache)
head -c 1000 "$cache/$(cat "$cache/current")/modules/kvm_amd.ko" >"$kdir/modules/kvm_amd.ko"
expect 251 "module fails to load" "$lane" --cache "$work/cache" "$work/payload" true

kdir=$(doctored_cache)
grep -vx kvm_amd "$cache/$(cat "$cache/current")/modules/load-order.kvm_amd" \
	>"$kdir/modules/load-order.kvm_amd"
expect 252 "no /dev/kvm" "$lane" --cache "$work/cache" "$work/payload" true

kdir=$(doctored_cache)
rm "$kdir/kernel"
head -c 1000000 "$cache/$(cat "$cache/current")/kernel" >"$kdir/kernel"
expect 250 "kernel does not boot" "$lane" --cache "$work/cache" "$work/payload" true

expect 77 "qemu missing" env PATH=/nonexistent "$BASH" "$lane" --cache "$cache" "$work/payload" true
expect 77 "Bochs source missing" env PKVM_BOCHS_SRC=/nonexistent "$lane" --machine=bochs-intel \
	--cache "$cache" "$work/payload" true
expect 2 "unknown machine" "$lane" --machine=vax "$work/payload" true
# The Intel machine, where Bochs and its packages are there (about 30 s a boot).
if "$here/../bochs/build.sh" --check 2>/dev/null; then
	expect 3 "bochs-intel: status pass-through" "$lane" --machine=bochs-intel --cache "$cache" \
		"$work/payload" sh -c 'exit 3'
	# Bochs reboots after a panic (it has no -no-reboot): the lane must stop, not rerun.
	expect 253 "bochs-intel: guest panic" "$lane" --machine=bochs-intel --cache "$cache" \
		"$work/payload" sh -c 'echo c >/proc/sysrq-trigger'
fi

[ "$failures" -eq 0 ] || { echo "selftest: $failures failed"; exit 1; }
echo "selftest: all passed"
