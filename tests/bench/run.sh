#!/bin/sh
# tests/bench/run.sh BIN - performance benchmarks (`make bench`), not tests.
#
#   ./tests/bench/run.sh build/llamadbg
#
# 1. builds the bench tools next to BIN (BUILD = dirname BIN, e.g. build/):
#    BUILD/bench/gen_model     random LLaMA 3 models in Hugging Face layout
#    BUILD/bench/matmul_bench  times ld_matmul on a model's matrices
# 2. generates the Llama-3.2-1B-shaped bf16 model (2.5 GB, once: a stamp
#    file makes later runs skip it) in BUILD/bench/llama1b; never committed.
#    BENCH_8B=1 also generates the Llama-3-8B shape (16 GB) in BUILD/bench/llama8b.
# 3. times the matmul kernel on it: T = 17 (the seed prompt) and T = 1 (decode).
# 4. (the lead's part) times whole traces with /usr/bin/time -v.
#
# The numbers: PERFORMANCE.md's bar is a 17-token 1B-shape pass (42 GFLOP)
# in under 0.45 s on 2 cores, i.e. about 50% of the ~197 GFLOP/s fp32 FMA
# peak. Threads: OMP_NUM_THREADS (default 2). On a shared machine, run it
# when the machine is idle: other processes on the 2 cores halve the numbers.
set -eu

BIN=${1:-build/llamadbg}
cd "$(dirname "$0")/../.."
BUILD=$(dirname "$BIN")
OUT=$BUILD/bench
CC=${CC:-cc}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
JANSSON=$(pkg-config --cflags --libs jansson)
mkdir -p "$OUT"

echo "== building the bench tools in $OUT"
# shellcheck disable=SC2086  # JANSSON is a list of flags
$CC -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Icore -o "$OUT/gen_model" \
	tests/bench/gen_model.c core/dtype.c $JANSSON -lm
make --no-print-directory BUILD="$BUILD" "$BUILD/libllamadbg.a" >/dev/null
# shellcheck disable=SC2086
$CC -O2 -g -fopenmp -std=c11 -D_GNU_SOURCE -Wall -Wextra -Icore -o "$OUT/matmul_bench" \
	tests/bench/matmul_bench.c "$BUILD/libllamadbg.a" $JANSSON -fopenmp -lm

echo "== models"
"$OUT/gen_model" -o "$OUT/llama1b" --shape 1b
if [ "${BENCH_8B:-0}" = 1 ]; then
	"$OUT/gen_model" -o "$OUT/llama8b" --shape 8b
fi

echo "== matmul kernel (ld_matmul), $OMP_NUM_THREADS threads"
"$OUT/matmul_bench" "$OUT/llama1b" -t 17,1

# ---- whole traces ---------------------------------------------------------
# time_run LABEL CMD...: wall time and peak RSS of one command (via
# /usr/bin/time -v), appended as a row to $OUT/summary.txt and printed.
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
time_run() {
	label=$1
	shift
	log=$OUT/time.log
	if ! /usr/bin/time -v "$@" >"$OUT/run.out" 2>"$log"; then
		echo "bench: '$label' failed:" >&2
		tail -5 "$log" >&2
		return 1
	fi
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
	printf '%-44s %10s %9.2f GB\n' "$label" "$wall" "$(echo "$rss" | awk '{print $1 / 1048576}')" |
		tee -a "$SUMMARY"
}

# The 1B-shape model's 17-token seed prompt (Llama 3 token ids).
# PROMPT_IDS="128000 1820 4320 311 279 17139 3488 315 2324 11 279 15861 11 323 4395 374 220"

# LEAD: add the forward-pass timings here, once `llamadbg trace` takes token
# ids. For example (ids joined the way the CLI wants them):
#   printf '%-44s %10s %12s\n' "run" "wall" "peak RSS"
#   time_run "trace 1B, 17 tokens, record everything" \
#       "$BIN" trace -m "$OUT/llama1b" -t "$PROMPT_IDS" -o "$OUT/trace1b.safetensors"
#   time_run "trace 1B, 17 tokens, --only none" \
#       "$BIN" trace -m "$OUT/llama1b" -t "$PROMPT_IDS" --only none -o "$OUT/none.safetensors"
#   (BENCH_8B=1: the same on $OUT/llama8b; the bar is 2.5 s.)
# Take the median of a few runs; the first run after generating a model may
# read it from disk.

# LEAD: add the tokenizer bench here (e.g. time_run "tokenize 1 MB of text" ...).

if [ -s "$SUMMARY" ]; then
	echo "== summary ($SUMMARY)"
	cat "$SUMMARY"
fi
