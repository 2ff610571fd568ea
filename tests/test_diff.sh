#!/bin/sh
# test_diff.sh - `llamadbg diff` end to end: the demo model (bf16) against
# its f32 twin (tests/reference/widen_bf16.py: f32 weights that round back
# to the demo's exactly) on one prompt; a trace against itself; bad input.
# Exit status as cmp: 0 same, 1 different, 2 bad input.
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")/.." || exit 1

prompt="the answer to the ultimate question of life, the universe, and everything is "
"$bin" trace -m data/demo -p "$prompt" -n 2 -o "$tmp/bf16.st" >/dev/null 2>&1 || bad "trace the demo"

"$bin" diff "$tmp/bf16.st" "$tmp/bf16.st" >"$tmp/same" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "a trace against itself exits 0" || bad "self diff exit $rc: $(tail -2 "$tmp/same")"
grep -q '^first divergence: none$' "$tmp/same" && ok "self diff: no divergence" || bad "self diff: $(tail -2 "$tmp/same")"
n=$(grep -c '^ok ' "$tmp/same")
tail -1 "$tmp/same" | grep -q "^$n points compared (rtol 0.0001, atol 0): $n within, 0 differ" \
	&& ok "summary line" || bad "summary: $(tail -1 "$tmp/same")"
grep -q '^ok  *step\.1\.logits ' "$tmp/same" && ok "decode steps compared" || bad "no step.1.logits line"

if command -v python3 >/dev/null && python3 tests/reference/widen_bf16.py data/demo "$tmp/f32" 2>"$tmp/py"; then
	"$bin" trace -m "$tmp/f32" -p "$prompt" -n 2 -o "$tmp/f32.st" >/dev/null 2>&1 || bad "trace the f32 twin"
	"$bin" diff "$tmp/f32.st" "$tmp/bf16.st" >"$tmp/d" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] && ok "f32 vs bf16 exits 1" || bad "f32 vs bf16 exit $rc: $(cat "$tmp/err")"
	[ ! -s "$tmp/err" ] && ok "same model: no warning" || bad "stderr: $(cat "$tmp/err")"
	# The token ids agree; the embedding rows are the first weights read.
	grep -q '^ok  *tokens ' "$tmp/d" && ok "tokens agree" || bad "tokens line: $(grep ' tokens ' "$tmp/d")"
	grep -q '^first divergence: embed$' "$tmp/d" && ok "first divergence: embed" || bad "$(grep first "$tmp/d")"
	grep -q '^DIFF\* *embed  *max|a-b| [0-9.e-]*  *rel [0-9.e-]*  *at token [0-9]*, dim [0-9]*$' "$tmp/d" \
		&& ok "the divergence is marked, with where it sits" || bad "embed line: $(grep ' embed ' "$tmp/d")"
	grep -q '^DIFF  *layers\.0\.scores .* at head [0-9]*, query [0-9]*, key [0-9]*$' "$tmp/d" \
		&& ok "axis names from the trace" || bad "scores line: $(grep 'layers.0.scores' "$tmp/d")"
	# bf16 rounding moves numbers, not the causal mask.
	! grep -q 'mask differs' "$tmp/d" && ok "the -inf mask agrees" || bad "mask differs"
	# A loose tolerance accepts the bf16 rounding at the embedding.
	"$bin" diff --rtol 0.01 --only embed "$tmp/f32.st" "$tmp/bf16.st" >"$tmp/loose" 2>&1 \
		&& grep -q '^1 points compared' "$tmp/loose" && ok "--rtol and --only" || bad "loose: $(cat "$tmp/loose")"
	"$bin" diff --atol 1 --only 'layers.0.*' -- "$tmp/f32.st" "$tmp/bf16.st" >/dev/null 2>&1 \
		&& ok "--atol, and -- before the files" || bad "--atol"
else
	echo "skipped: f32 against bf16 (python3 not available: $(head -c 200 "$tmp/py" 2>/dev/null))"
fi

# A trace of another model: compared where shapes agree, with a warning.
"$bin" trace -m tests/data/models/f32_gqa -t 254,17,201 -o "$tmp/other.st" >/dev/null 2>&1
"$bin" diff "$tmp/other.st" "$tmp/bf16.st" >"$tmp/o" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'warning: .*different model shapes' "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] \
	&& ok "different models: one warning line, exit 1" || bad "other model exit $rc: $(cat "$tmp/err")"
grep -q '^SHAPE\* *tokens  *shape token 3 (I32) vs token 17 (I32)$' "$tmp/o" && ok "shape lines" \
	|| bad "shape: $(grep tokens "$tmp/o")"
grep -q '^only B ' "$tmp/o" && ok "points only in one trace" || bad "no only-B line"

# Bad input: exit 2 and one clear line.
diff_error() {
	name=$1 pattern=$2
	shift 2
	"$bin" diff "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$pattern" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		bad "$name (exit $rc: $(head -c 300 "$tmp/err"))"
	fi
}
diff_error "a model file is not a trace" "model.safetensors: .*not a llamadbg trace" \
	"$tmp/bf16.st" data/demo/model.safetensors
diff_error "a missing file" "cannot open" "$tmp/bf16.st" "$tmp/none.st"
printf 'garbage' >"$tmp/g.st"
diff_error "a file of garbage" "g.st" "$tmp/g.st" "$tmp/bf16.st"
diff_error "a bad tolerance" "not a tolerance" --rtol x "$tmp/bf16.st" "$tmp/bf16.st"
diff_error "an unknown option" "unknown option" --frob "$tmp/bf16.st" "$tmp/bf16.st"
"$bin" diff "$tmp/bf16.st" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q '^usage: llamadbg diff' "$tmp/err" && ok "one file: usage, exit 2" || bad "one file"
"$bin" diff --help | grep -q 'Exit status' && ok "diff --help" || bad "diff --help"
"$bin" --help | grep -q '^  diff ' && ok "--help lists diff (the command table)" || bad "--help lacks diff"

# view A --diff B: the files are checked before the terminal is.
expect_error "view --diff of a missing file" "none.st: cannot open" "$bin" view "$tmp/bf16.st" --diff "$tmp/none.st"
expect_error "view --diff needs a terminal" "not a terminal" "$bin" view "$tmp/bf16.st" --diff "$tmp/bf16.st" </dev/null
expect_error "view --diff with a bad tolerance" "not a tolerance" "$bin" view "$tmp/bf16.st" --diff "$tmp/bf16.st" --rtol -1
"$bin" view --help | grep -q -- '--diff OTHER_TRACE' && ok "view --help names --diff" || bad "view --help"

tl_finish "diff"
