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
# 4. times whole traces (all points recorded, and none), each phase of
#    them (trace --times: load, tokenizer, pass, labels, write), the logit
#    lens's cost (trace --lens: in-process, against a pass that records
#    nothing), the viewer's frames and the tokenizer.
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
	tests/bench/matmul_bench.c "$BUILD/libllamadbg.a" $(pkg-config --libs jansson libpcre2-8) -fopenmp -lm

echo "== models"
"$OUT/gen_model" -o "$OUT/llama1b" --shape 1b
# With the real Llama 3 tokenizer (make llama3-tokenizer), whole traces
# load it as a user's would, so the tokenizer phase is the real one.
if [ -f data/llama3/tokenizer.model ] && [ ! -f "$OUT/llama1b/tokenizer.model" ]; then
	cp data/llama3/tokenizer.model "$OUT/llama1b/tokenizer.model"
fi
if [ "${BENCH_8B:-0}" = 1 ]; then
	"$OUT/gen_model" -o "$OUT/llama8b" --shape 8b
fi

echo "== matmul kernel (ld_matmul), $OMP_NUM_THREADS threads"
"$OUT/matmul_bench" "$OUT/llama1b" -t 17,1

# ---- whole traces ---------------------------------------------------------
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

# The seed prompt's 17 Llama 3 token ids.
PROMPT_IDS="128000,1820,4320,311,279,17139,3488,315,2324,11,279,15861,11,323,4395,374,220"
REPEAT=${REPEAT:-5}

# trace_bench NAME DIR GFLOP: REPEAT traces with everything recorded and
# with nothing recorded (--only none); the median wall time, the share of
# the machine's 197 GFLOP/s peak, and the worst peak RSS of each. These are
# whole processes: PERFORMANCE.md's bar is for the pass itself (the
# in-process numbers above), as llama.cpp's eval time is.
trace_bench() {
	name=$1 dir=$2 gflop=$3
	for mode in all none; do
		only=""
		[ $mode = none ] && only="--only none"
		: >"$OUT/walls"
		rss_max=0
		i=0
		while [ $i -lt "$REPEAT" ]; do
			rm -f "$OUT/bench.safetensors"
			# shellcheck disable=SC2086
			/usr/bin/time -f "%e %M" -o "$OUT/time.log" \
				"$BIN" trace -m "$dir" -t "$PROMPT_IDS" $only --times -o "$OUT/bench.safetensors" \
				>"$OUT/run.out" 2>"$OUT/phases.$i"
			read -r wall rss <"$OUT/time.log"
			echo "$wall" >>"$OUT/walls"
			[ "$rss" -gt "$rss_max" ] && rss_max=$rss
			i=$((i + 1))
		done
		med=$(sort -n "$OUT/walls" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
		recorded=$(sed -n 's/.*: \([0-9]*\) tensors, \([0-9.]*\) MB.*/\1 tensors, \2 MB/p' "$OUT/run.out")
		printf '%-8s %-6s %8.2f s %8.1f GFLOP/s %5.1f%% of peak  peak RSS %6.2f GB  (%s)\n' \
			"$name" "$mode" "$med" "$(echo "$gflop $med" | awk '{print $1 / $2}')" \
			"$(echo "$gflop $med" | awk '{print 100 * $1 / $2 / 197}')" \
			"$(echo "$rss_max" | awk '{print $1 / 1048576}')" "$recorded" | tee -a "$SUMMARY"
		# Each phase of the process (trace --times): the median, and the range.
		cat "$OUT"/phases.* | awk -v name="$name" -v mode="$mode" '
			$1 == "time:" { n[$2]++; v[$2, n[$2]] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
			END {
				line = sprintf("%-8s %-6s phases:", name, mode)
				for (i = 1; i <= k; i++) {
					p = order[i]; m = n[p]
					for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
						if (v[p, b] < v[p, a]) { t = v[p, a]; v[p, a] = v[p, b]; v[p, b] = t }
					line = line sprintf("  %s %.3f s (%.3f-%.3f)", p, v[p, int((m + 1) / 2)], v[p, 1], v[p, m])
				}
				print line
			}' | tee -a "$SUMMARY"
		rm -f "$OUT"/phases.*
	done
	rm -f "$OUT/bench.safetensors"
}

echo "== in-process forward passes (what llama.cpp's eval time measures;"
echo "   PERFORMANCE.md's bar: 1B under 0.45 s, 8B under 2.5 s)"
$CC -O2 -g -fopenmp -std=c11 -D_GNU_SOURCE -Wall -Wextra -Icore -o "$OUT/forward_bench" \
	tests/bench/forward_bench.c "$BUILD/libllamadbg.a" $(pkg-config --libs jansson libpcre2-8) -lm
"$OUT/forward_bench" "$OUT/llama1b" 42.0 "$REPEAT" | sed 's/^/1B  /' | tee -a "$SUMMARY"
if [ "${BENCH_8B:-0}" = 1 ]; then
	"$OUT/forward_bench" "$OUT/llama8b" 255.0 3 | sed 's/^/8B  /' | tee -a "$SUMMARY"
fi

echo "== whole traces: llamadbg trace, 17 tokens, median of $REPEAT (process start to file on disk)"
# 2 * tokens * weights used in matmuls: 42.0 GFLOP for 1B, 255 for 8B.
trace_bench 1B "$OUT/llama1b" 42.0
if [ "${BENCH_8B:-0}" = 1 ]; then
	trace_bench 8B "$OUT/llama8b" 255.0
fi

echo "== viewer: key-to-frame time on an 8B-shaped trace (headless, 160x48)"
"$BIN" view --bench --size 48x160 --synth 8b | tee -a "$SUMMARY"

echo "== tokenizer"
make --no-print-directory BUILD="$BUILD" "$BUILD/tests/bench/tok_bench" >/dev/null
"$BUILD/tests/bench/tok_bench" | tee -a "$SUMMARY"

# Optional: LLAMA_BENCH=/path/to/llama-bench times llama.cpp on the same
# models, alternating with our forward pass (tests/bench/vs_llamacpp.sh).
if [ -n "${LLAMA_BENCH:-}" ]; then
	echo "== llama.cpp, same machine, same minutes"
	models=1b
	[ "${BENCH_8B:-0}" = 1 ] && models="1b 8b"
	# shellcheck disable=SC2086  # models is a list
	tests/bench/vs_llamacpp.sh "$BUILD" $models | tee "$OUT/vs_llamacpp.out"
	grep '^vs llama.cpp' "$OUT/vs_llamacpp.out" >>"$SUMMARY" || true
fi

if [ -s "$SUMMARY" ]; then
	echo "== summary ($SUMMARY)"
	cat "$SUMMARY"
fi
