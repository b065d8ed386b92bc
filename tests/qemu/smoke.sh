#!/usr/bin/env bash
# smoke.sh: prove the QEMU lane gives a KVM with PKU, by running kvm-probe inside it.
#
# Usage: tests/qemu/smoke.sh [lane.sh options...]   (e.g. --cache DIR, --timeout SECS)
# Exits with lane.sh's status: 0 when the guest's KVM offers PKU, 77 when QEMU is missing.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-gcc}
command -v "$cc" >/dev/null 2>&1 || { echo "smoke: SKIP: no C compiler ($cc)" >&2; exit 77; }

payload=$(mktemp -d "${TMPDIR:-/tmp}/pkvm-smoke.XXXXXX")
trap 'rm -rf "$payload"' EXIT

# Static: the guest is busybox only, with no dynamic loader or libc.
"$cc" -static -O2 -Wall -Wextra -o "$payload/kvm-probe" "$here/kvm-probe.c" || {
	echo "smoke: SKIP: cannot link statically (install the static libc, e.g. libc6-dev)" >&2
	exit 77
}

start=$(date +%s.%N)
rc=0
"$here/lane.sh" "$@" "$payload" kvm-probe || rc=$?
end=$(date +%s.%N)
printf 'smoke: lane.sh + kvm-probe took %.1f s, status %d\n' "$(echo "$end - $start" | bc)" "$rc"
exit "$rc"
