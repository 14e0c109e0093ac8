#!/bin/sh
# Run libFuzzer targets one after the other, each for a bounded time:
#   fuzz/run.sh BUILD SECONDS TARGET...
# Each starts from the committed corpus fuzz/corpus/<target>; new inputs
# go to BUILD/fuzz/corpus/<target>, crashes to BUILD/fuzz/artifacts/<target>,
# the output to BUILD/fuzz/<target>.log.  Prints executions per target;
# fails if any target crashed.
set -u
build=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
failed=""

printf '%-20s %12s %10s  %s\n' target execs exec/s result > "$build/fuzz/summary"
for t in "$@"; do
	corpus=$build/fuzz/corpus/$t
	art=$build/fuzz/artifacts/$t
	log=$build/fuzz/$t.log
	mkdir -p "$corpus" "$art"
	echo "fuzz: $t for ${secs}s (log in $log)"
	# A UBSan report is a finding too: stop there, as ASan does.
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$build/fuzz/$t" -max_total_time="$secs" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$art/" \
		"$corpus" "$src/corpus/$t" > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ -z "$execs" ]; then
		# Stopped by a finding: the last status line has the count.
		execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
		rate=-
	fi
	result=ok
	if [ "$rc" -ne 0 ]; then
		result="FAILED: $(ls "$art" | tr '\n' ' ')"
		failed="$failed $t"
		grep -m 3 -E 'ERROR:|runtime error|fuzz check failed' "$log"
	fi
	printf '%-20s %12s %10s  %s\n' "$t" "${execs:-0}" "$rate" "$result" \
		>> "$build/fuzz/summary"
done
cat "$build/fuzz/summary"
if [ -n "$failed" ]; then
	echo "fuzz: findings in$failed; reproducers in $build/fuzz/artifacts" \
	     "(see fuzz/README.md)" >&2
	exit 1
fi
