#!/bin/sh
# run.sh - run each fuzz harness for FUZZ_S seconds, in turn (make fuzz).
#
#   FUZZ_S=60 sh tests/fuzz/run.sh BUILD_DIR NAME...
#
# Each harness grows its corpus in BUILD_DIR/corpus/NAME (seeded from
# tests/fuzz/corpus/NAME, which is only read) and keeps what crashes, hangs,
# leaks or runs out of memory in BUILD_DIR/crashes/NAME/. One line per
# harness: executions, coverage (edges), corpus size, findings. The exit
# status is 1 when any harness found something.
set -u
build=$1
shift
secs=${FUZZ_S:-60}
here=$(dirname "$0")
found=0
printf '%-16s %10s %8s %8s %s\n' harness execs cov corpus findings
for h in "$@"; do
	bin=$build/fuzz/fuzz_$h
	mkdir -p "$build/corpus/$h" "$build/crashes/$h"
	case $h in
	config | params | tokenizer_json | safetensors | trace | model) dict=$here/json.dict ;;
	pth | pickle) dict=$here/pickle.dict ;;
	*) dict=$here/$h.dict ;;
	esac
	set -- -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=512 \
		-print_final_stats=1 -artifact_prefix="$build/crashes/$h/"
	[ -f "$dict" ] && set -- "$@" -dict="$dict"
	log=$build/crashes/$h.log
	before=$(ls "$build/crashes/$h" | wc -l)
	"$bin" "$@" "$build/corpus/$h" "$here/corpus/$h" >"$log" 2>&1
	rc=$?
	after=$(ls "$build/crashes/$h" | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(ls "$build/corpus/$h" | wc -l)
	new=$((after - before))
	note="$new new"
	if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
		found=1
		note="$note (exit $rc; see $log)"
	fi
	printf '%-16s %10s %8s %8s %s\n' "$h" "${execs:-?}" "${cov:-?}" "$corp" "$note"
done
[ "$found" -eq 0 ] || echo "fuzz: findings are in $build/crashes/ (replay one: $build/fuzz/fuzz_NAME FILE)"
exit $found
