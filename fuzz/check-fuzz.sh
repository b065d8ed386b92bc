#!/bin/sh
# check-fuzz.sh: make check's short fuzz run: every seed replayed, then each harness fuzzed for seconds.
# Under ASan and UBSan any crash, leak, timeout or broken promise fails the
# test; what crashed is kept as fuzz/crash-<harness>-* in the build tree
# (reproduce: fuzz/<harness> fuzz/crash-<harness>-...).  FUZZ_CHECK_SECONDS
# sets the time per harness.  `make fuzz` is the long run.
set -u
if [ -n "${PKVM_FUZZ_OFF-}" ]; then
	echo "SKIP: libFuzzer harnesses not built: $PKVM_FUZZ_OFF"
	exit 77
fi
: "${PKVM_BUILDDIR:?run me from make check}" "${PKVM_SRCDIR:?run me from make check}"
seconds=${FUZZ_CHECK_SECONDS:-8}
scratch=$(mktemp -d) || exit 99
trap 'rm -rf "$scratch"' EXIT
status=0
for h in $PKVM_FUZZ_NAMES; do
	bin=$PKVM_BUILDDIR/fuzz/$h
	seeds=$PKVM_SRCDIR/fuzz/corpus/$h
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "ERROR: $bin or $seeds missing"
		exit 99
	fi
	# Replay: each seed once, so that a regression seed fails at once.
	if ! "$bin" -artifact_prefix="$PKVM_BUILDDIR/fuzz/crash-$h-" "$seeds"/* >"$scratch/replay" 2>&1; then
		tail -n 40 "$scratch/replay"
		echo "FAIL: $h: a seed of fuzz/corpus/$h crashes"
		status=1
		continue
	fi
	# New inputs go to the scratch directory; the seeds are only read.
	mkdir "$scratch/$h"
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$PKVM_BUILDDIR/fuzz/crash-$h-" "$scratch/$h" "$seeds" >"$scratch/run" 2>&1; then
		tail -n 40 "$scratch/run"
		echo "FAIL: $h crashed within $seconds s"
		status=1
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/run")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$scratch/run")
	echo "PASS: $h: $(ls "$seeds" | wc -l) seeds replayed, $execs execs in $seconds s ($rate/s), $(ls "$scratch/$h" | wc -l) new inputs"
done
exit $status
