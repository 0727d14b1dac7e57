#!/bin/sh
# Runs each libFuzzer target for a bounded time from its seed corpus.
#   run.sh FUZZDIR SECONDS TARGET...
# A crash, a leak, an undefined behaviour or a timeout fails the run; the input that caused it is
# left in fuzz-out/ to become a regression seed.
set -eu
# an undefined behaviour stops the target like a crash, never just a line
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS
dir=$1
secs=$2
shift 2
mkdir -p fuzz-out
for t in "$@"; do
	name=$(basename "$t")
	work=fuzz-out/$name
	mkdir -p "$work/corpus"
	seeds="$dir/corpus/$name"
	[ -d "$seeds" ] || seeds=
	echo "fuzz: $name for $secs s"
	if ! "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$work/" \
	    "$work/corpus" $seeds > "$work/log" 2>&1; then
		tail -40 "$work/log"
		echo "fuzz: $name FAILED; the input is in $work/" >&2
		exit 1
	fi
	grep -E "stat::number_of_executed_units|stat::new_units_added" \
	    "$work/log" | tr '\n' ' '
	echo
done
echo "fuzz: all targets ran clean"
