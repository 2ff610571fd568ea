#!/bin/sh
# tests/bench/vs_llamacpp.sh BUILD [1b|8b]... - llamadbg and llama.cpp on the
# same machine in the same minutes. Optional: `make bench` runs it when
# LLAMA_BENCH is set.
#
#   LLAMA_BENCH=/path/to/llama-bench tests/bench/vs_llamacpp.sh build 1b
#
# PERFORMANCE.md: absolute times drift between machines (and, on a shared
# machine, between minutes); compare by ratio in one run. So this alternates
# the two, ROUNDS times (default 3), and starts each timed run only once the
# machine is idle:
#   ours       BUILD/bench/forward_bench: every trace point recorded; median
#              of REPS passes after a first one;
#   llama.cpp  llama-bench -p TOKENS -n 0: one batch of TOKENS tokens; REPS
#              repetitions after its warm-up; median of its samples.
# on these files, each model's comparisons in this order:
#   bf16       17 tokens: ours on the Hugging Face directory, llama.cpp on
#              its GGUF conversion; REPS 10 (1b) or 5 (8b);
#   Q8_0, Q4_K_M  17 tokens, both on the same GGUF, made by llama-quantize
#              (LLAMA_QUANTIZE, default the one next to LLAMA_BENCH; without
#              it these are skipped); REPS 5 (1b) or 3 (8b);
#              and, with BUILD/bench/matmul_bench, our products alone on
#              the same file (GFLOP/s against the kernel's measured peak);
#   bf16, 512  1b only (LONG=0 leaves it out): ours also with nothing
#              recorded; REPS 1, ROUNDS_LONG rounds (default 1).
#   bf16-dot   on a CPU with AVX512-BF16: bf16 at 17 tokens (and 512 for 1b)
#              again, ours with LLAMADBG_KERNEL=amxbf16 on a CPU with AMX,
#              else avx512bf16 (what trace --bf16-dot takes:
#              activations rounded to bf16, as llama.cpp does on this CPU).
# Both use OMP_NUM_THREADS threads (default 2), weights mmapped.
# llama-bench computes the logits of the last position only and records
# nothing, so the comparison favours llama.cpp.
#
# Needs what tests/bench/run.sh builds (forward_bench and BUILD/bench/llama1b;
# BENCH_8B=1 for llama8b) and python3. Each model is converted once to
# BUILD/bench/llamaNb.gguf by tests/bench/hf_to_gguf.py, again only when the
# model is newer than that file (the 8B shape needs 16 GB more disk), and
# quantized once to BUILD/bench/llamaNb-Q8_0.gguf and -Q4_K_M.gguf, again
# only when the bf16 GGUF is newer.
#
# Output: one line per round, then the summary lines, which start with
# "vs llama.cpp" (run.sh copies them to its summary). A round is marked BUSY,
# and left out of the summary, when the machine did not go idle within 120 s
# or other processes used more than 10% of a core during a timed run (that
# check needs GNU time as /usr/bin/time). The ratio is ours / llama.cpp, the
# median of the rounds' ratios: below 1 means llamadbg is faster. The last
# round's raw outputs stay in BUILD/bench/vs_*.
set -eu

ROUNDS=${ROUNDS:-3}
ROUNDS_LONG=${ROUNDS_LONG:-1} # rounds of the 512-token comparison
LONG=${LONG:-1}               # 0: leave the 512-token comparison out
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
IDLE_NEED=95 # % of CPU time idle over a 2 s window before a timed run
IDLE_MAX=120 # seconds to wait for that before running anyway (BUSY)
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100) # /proc/stat's ticks per second

if [ -z "${LLAMA_BENCH:-}" ] || [ ! -x "$LLAMA_BENCH" ]; then
	echo "vs_llamacpp: set LLAMA_BENCH to llama.cpp's llama-bench; build it from llama.cpp's source with cmake: cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build --target llama-bench (it lands in build/bin/llama-bench)" >&2
	exit 2
fi
# llama-quantize: LLAMA_QUANTIZE, or the one built next to llama-bench.
QUANTIZE=${LLAMA_QUANTIZE:-$(dirname "$LLAMA_BENCH")/llama-quantize}
if [ ! -x "$QUANTIZE" ]; then
	[ -z "${LLAMA_QUANTIZE:-}" ] || echo "vs_llamacpp: LLAMA_QUANTIZE=$LLAMA_QUANTIZE is not an executable; comparing bf16 only" >&2
	QUANTIZE=""
fi
if [ $# -lt 1 ]; then
	echo "usage: LLAMA_BENCH=/path/to/llama-bench $0 BUILD [1b|8b]..." >&2
	exit 2
fi
for n in "$ROUNDS" "$ROUNDS_LONG"; do
	case $n in
	'' | *[!0-9]* | 0)
		echo "vs_llamacpp: ROUNDS=$ROUNDS, ROUNDS_LONG=$ROUNDS_LONG: expected positive numbers" >&2
		exit 2
		;;
	esac
done

HERE=$(dirname "$0")
BUILD=$1
shift
[ $# -gt 0 ] || set -- 1b
OUT=$BUILD/bench
FB=$OUT/forward_bench
if [ ! -x "$FB" ]; then
	echo "vs_llamacpp: $FB missing: run make bench (tests/bench/run.sh) first" >&2
	exit 1
fi
SUMMARY=$OUT/vs_llamacpp.summary
: >"$SUMMARY"

# cpu_ticks: "busy idle" clock ticks of all CPUs so far, from /proc/stat's
# first line (cpu user nice system idle iowait irq softirq steal ...).
# iowait counts as idle (a waiting disk leaves the cores free); steal counts
# as busy (a neighbour on the host takes them).
cpu_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat
}

# wait_idle: returns 0 as soon as a 2 s window is IDLE_NEED% idle, 1 after
# IDLE_MAX seconds of busy windows. Other processes on our 2 cores would
# slow whichever program runs next and skew the ratio.
wait_idle() {
	[ -r /proc/stat ] || return 0 # not Linux: cannot tell, do not wait
	waited=0
	while :; do
		before=$(cpu_ticks)
		sleep 2
		after=$(cpu_ticks)
		if echo "$before $after" | awk -v need="$IDLE_NEED" \
			'{ busy = $3 - $1; idle = $4 - $2; exit !(busy + idle > 0 && 100 * idle >= need * (busy + idle)) }'; then
			return 0
		fi
		waited=$((waited + 2))
		[ $waited -eq 2 ] && echo "   (waiting for an idle machine, up to $IDLE_MAX s)" >&2
		[ $waited -lt "$IDLE_MAX" ] || return 1
	done
}

# timed CMD...: run CMD, and set BUSY_NOTE when other processes used more
# than 10% of a core meanwhile (and over 0.3 s, above the clocks' grain):
# all busy CPU time in /proc/stat minus CMD's own, from time(1). The idle
# check before a run cannot see a neighbour that starts during it. Returns
# CMD's status.
timed() {
	BUSY_NOTE=""
	if [ ! -r /proc/stat ] || [ ! -x /usr/bin/time ]; then
		"$@"
		return
	fi
	before=$(cpu_ticks)
	status=0
	/usr/bin/time -f "%e %U %S" -o "$OUT/vs_time" "$@" || status=$?
	after=$(cpu_ticks)
	# -o's last line: wall, user and system seconds of CMD and its threads.
	BUSY_NOTE=$(echo "$before $after $(tail -n 1 "$OUT/vs_time")" | awk -v hz="$HZ" -v who="${1##*/}" '
		{ others = ($3 - $1) / hz - $6 - $7
		  if (others > 0.1 * $5 && others > 0.3) printf "others used %.1f cpu-s during %s (%.1f s)", others, who, $5 }')
	return $status
}

# median: the median of the numbers on stdin, one per line.
median() {
	sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# compare LABEL MODEL GGUF TOKENS GFLOP REPS: ROUNDS (ROUNDS_LONG when
# TOKENS > 17) rounds of forward_bench on MODEL (a directory or a .gguf)
# and llama-bench -p TOKENS on GGUF; one summary line into SUMMARY. At 17
# tokens ours is the pass with everything recorded; longer, both the pass
# with everything recorded and the one with nothing (the summary's ratio is
# "all" / llama.cpp, the "none" ratio beside it).
compare() {
	# c_*: its own names (sh has no locals; bench_model's reps and gflop live on)
	c_name=$1 c_model=$2 c_file=$3 c_tokens=$4 c_gflop=$5 c_reps=$6 c_kernel=${7:-auto}
	rounds_n=$ROUNDS modes=all
	[ "$c_tokens" -gt 17 ] && rounds_n=$ROUNDS_LONG modes=all,none
	echo "== $c_name, $c_tokens tokens, $OMP_NUM_THREADS threads, $rounds_n x (ours: forward_bench $modes, $c_reps passes after a first; llama.cpp: llama-bench -p $c_tokens -n 0 -r $c_reps)"
	rounds=$OUT/vs_llamacpp.rounds
	: >"$rounds"
	r=1
	while [ $r -le "$rounds_n" ]; do
		busy="" # why this round is not to be trusted, if it is not
		wait_idle || busy="not idle before ours"
		if ! timed env LLAMADBG_KERNEL="$c_kernel" "$FB" "$c_model" "$c_gflop" "$c_reps" "$c_tokens" "$modes" \
			>"$OUT/vs_forward.out"; then
			echo "vs_llamacpp: forward_bench failed on $c_model" >&2
			return 1
		fi
		[ -z "$BUSY_NOTE" ] || busy="${busy:+$busy; }$BUSY_NOTE"
		ours=$(sed -n 's/^in-process forward, record all .* median \([0-9.]*\) s .*/\1/p' "$OUT/vs_forward.out")
		none=$(sed -n 's/^in-process forward, record none .* median \([0-9.]*\) s .*/\1/p' "$OUT/vs_forward.out")
		if [ -z "$ours" ]; then
			echo "vs_llamacpp: no 'record all' median in forward_bench's output ($OUT/vs_forward.out)" >&2
			return 1
		fi

		wait_idle || busy="${busy:+$busy; }not idle before llama.cpp"
		if ! timed "$LLAMA_BENCH" -m "$c_file" -p "$c_tokens" -n 0 -t "$OMP_NUM_THREADS" -r "$c_reps" -o json \
			>"$OUT/vs_llama.json" 2>"$OUT/vs_llama.err"; then
			echo "vs_llamacpp: llama-bench failed on $c_file; its last words ($OUT/vs_llama.err):" >&2
			tail -n 5 "$OUT/vs_llama.err" >&2
			return 1
		fi
		[ -z "$BUSY_NOTE" ] || busy="${busy:+$busy; }$BUSY_NOTE"
		theirs=$(python3 -c 'import json, statistics, sys
r = json.load(open(sys.argv[1]))[0]
print("%.3f" % (statistics.median(r["samples_ns"]) / 1e9))' "$OUT/vs_llama.json")

		ratio=$(echo "$ours $theirs" | awk '{ printf "%.3f", $1 / $2 }')
		ratio_none=$(echo "${none:-0} $theirs" | awk '{ printf "%.3f", $1 / $2 }')
		state=OK
		[ -z "$busy" ] || state=BUSY
		echo "$ours $theirs $ratio ${none:-0} $ratio_none $state" >>"$rounds"
		printf 'round %d/%d  %s  ours %.3f s  llama.cpp %.3f s  ours/llama.cpp %.2f%s%s\n' \
			"$r" "$rounds_n" "$c_name" "$ours" "$theirs" "$ratio" \
			"${none:+  (recording nothing $none s, $ratio_none)}" "${busy:+  BUSY: $busy}"
		r=$((r + 1))
	done

	# Medians over the rounds that ran on an idle machine; over all of them,
	# flagged, if none did.
	n_ok=$(grep -c ' OK$' "$rounds" || true)
	if [ "$n_ok" -gt 0 ]; then
		grep ' OK$' "$rounds" >"$rounds.use"
		note="median of $n_ok round$([ "$n_ok" = 1 ] || echo s)"
		[ "$n_ok" -lt "$rounds_n" ] && note="$note, $((rounds_n - n_ok)) BUSY left out"
	else
		cp "$rounds" "$rounds.use"
		note="median of $rounds_n round$([ "$rounds_n" = 1 ] || echo s), all BUSY: the machine was not idle, unreliable"
	fi
	extra=""
	[ -z "$none" ] || extra=$(printf '  recording nothing %.3f s, %.2f' \
		"$(cut -d' ' -f4 "$rounds.use" | median)" "$(cut -d' ' -f5 "$rounds.use" | median)")
	printf 'vs llama.cpp %s, %s tokens  ours %.3f s  llama.cpp %.3f s  ours/llama.cpp %.2f%s  (%s, %s threads)\n' "$c_name" "$c_tokens" \
		"$(cut -d' ' -f1 "$rounds.use" | median)" "$(cut -d' ' -f2 "$rounds.use" | median)" \
		"$(cut -d' ' -f3 "$rounds.use" | median)" "$extra" "$note" "$OMP_NUM_THREADS" >>"$SUMMARY"
	rm -f "$rounds" "$rounds.use"
}

# bench_model 1b|8b: convert the model once (and quantize it once, given
# llama-quantize), then compare: bf16 at 17 tokens (ours on the Hugging Face
# directory), Q8_0 and Q4_K_M at 17 tokens (both on the same .gguf), and,
# for 1b, bf16 at 512 tokens.
bench_model() {
	case $1 in
	1b) gflop=42.0 gflop512=1265 reps=10 qreps=5 label=1B ;;
	8b) gflop=255.0 gflop512=7680 reps=5 qreps=3 label=8B ;;
	*)
		echo "vs_llamacpp: unknown model '$1' (1b or 8b)" >&2
		return 1
		;;
	esac
	dir=$OUT/llama$1
	gguf=$OUT/llama$1.gguf
	if [ ! -f "$dir/model.safetensors" ]; then
		echo "vs_llamacpp: $dir/model.safetensors missing (make bench makes llama1b, BENCH_8B=1 make bench llama8b); skipping $label" >&2
		return 0
	fi
	# Convert unless the GGUF is newer than the model (gen_model rewrites both
	# config.json and model.safetensors when the shape changes).
	if [ -z "$(find -L "$gguf" -newer "$dir/model.safetensors" 2>/dev/null)" ]; then
		echo "== $label: converting $dir to $gguf"
		python3 "$HERE/hf_to_gguf.py" --force "$dir" "$gguf"
	fi

	compare "$label bf16" "$dir" "$gguf" 17 "$gflop" "$reps"
	if [ -n "$QUANTIZE" ]; then
		for q in Q8_0 Q4_K_M; do
			qf=$OUT/llama$1-$q.gguf
			if [ -z "$(find -L "$qf" -newer "$gguf" 2>/dev/null)" ]; then
				echo "== $label: quantizing $gguf to $qf"
				if ! "$QUANTIZE" "$gguf" "$qf.tmp" "$q" "$OMP_NUM_THREADS" >"$OUT/vs_quantize.log" 2>&1; then
					echo "vs_llamacpp: llama-quantize failed on $gguf; its last words ($OUT/vs_quantize.log):" >&2
					tail -n 5 "$OUT/vs_quantize.log" >&2
					rm -f "$qf.tmp"
					return 1
				fi
				mv "$qf.tmp" "$qf"
			fi
			compare "$label $q" "$qf" "$qf" 17 "$gflop" "$qreps"
			# Ours alone: the products of the same file, kernel and block
			# type by kind of matrix, against the kernel's measured peak.
			if [ -x "$OUT/matmul_bench" ]; then
				echo "== $label $q: llamadbg's products alone (matmul_bench, 17 tokens)"
				"$OUT/matmul_bench" "$qf" -t 17 -r 3 | sed -n '2,$p'
			fi
		done
	fi
	if [ "$1" = 1b ] && [ "$LONG" = 1 ]; then
		compare "$label bf16" "$dir" "$gguf" 512 "$gflop512" 1
	fi
	if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
		# what --bf16-dot takes: AMX tiles where the CPU has them
		dot=avx512bf16
		grep -qw amx_bf16 /proc/cpuinfo && dot=amxbf16
		compare "$label bf16 --bf16-dot" "$dir" "$gguf" 17 "$gflop" "$reps" $dot
		if [ "$1" = 1b ] && [ "$LONG" = 1 ]; then
			compare "$label bf16 --bf16-dot" "$dir" "$gguf" 512 "$gflop512" 1 $dot
		fi
	fi
}

for model in "$@"; do
	bench_model "$model"
done

if [ -s "$SUMMARY" ]; then
	echo "vs llama.cpp note: llama-bench computes the last position's logits only; we compute all of them and record every trace point (unless 'recording nothing'), so this favours llama.cpp" >>"$SUMMARY"
	echo "== vs llama.cpp, summary"
	cat "$SUMMARY"
else
	echo "vs_llamacpp: no model was benchmarked" >&2
	exit 1
fi
