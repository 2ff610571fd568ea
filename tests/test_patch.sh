#!/bin/sh
# test_patch.sh - `trace --patch`, `--patch-from` and `--ablate` end to end
# on the demo model: a patch changes what follows it and nothing before,
# the trace says what was patched, and every refusal is one clear line.
# (The values are checked against the float64 reference in test_patch.c.)
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")/.." || exit 1

prompt="the answer to the ultimate question of life, the universe, and everything is "
other="the answer to the ultimate question of life, the universe, and anything is "
demo() { "$bin" trace -m data/demo "$@"; }
demo -p "$prompt" -n 2 -o "$tmp/clean.st" >/dev/null 2>&1 || bad "trace the demo"
demo -p "$other" -o "$tmp/other.st" >/dev/null 2>&1 || bad "trace another prompt"

# Ablating a head: attn changes, everything before it does not.
demo -p "$prompt" -n 2 --ablate layers.1.head.3 -o "$tmp/abl.st" >"$tmp/out" 2>&1 || bad "ablate: $(cat "$tmp/out")"
grep -q '^patched: layers.1.attn\[:,3,:\] = zeros (--ablate layers.1.head.3)$' "$tmp/out" \
	&& ok "trace says what it patched" || bad "trace output: $(cat "$tmp/out")"
"$bin" ls "$tmp/abl.st" >"$tmp/ls"
grep -q '^patched: layers.1.attn\[:,3,:\] = zeros' "$tmp/ls" && ok "ls shows the patch" || bad "ls: $(head -5 "$tmp/ls")"
grep -q '^layers\.1\.attn .*(patched)$' "$tmp/ls" && ok "ls marks the patched point" || bad "ls row"
"$bin" diff "$tmp/abl.st" "$tmp/clean.st" >"$tmp/d"
grep -q '^first divergence: layers.1.attn$' "$tmp/d" && ok "diff: the first divergence is the patched point" \
	|| bad "diff: $(grep first "$tmp/d")"
grep -q '^DIFF  *step\.1\.logits' "$tmp/d" && ok "decode steps run on from the patched prompt" || bad "step.1 logits"

# A point of the same prompt, dumped and patched back: nothing changes.
"$bin" dump "$tmp/clean.st" layers.2.resid_mid -o "$tmp/npy" >/dev/null || bad "dump"
demo -p "$prompt" -n 2 --patch "layers.2.resid_mid=$tmp/npy/layers.2.resid_mid.npy" -o "$tmp/same.st" >/dev/null 2>&1
"$bin" diff --rtol 0 "$tmp/same.st" "$tmp/clean.st" >/dev/null && ok "patching a point with its own value changes nothing" \
	|| bad "self patch differs"

# Activation patching from another trace, and several patches at once.
demo -p "$prompt" --patch-from "$tmp/other.st:layers.0.resid_out" --ablate layers.3.ffn \
	--patch-from "$tmp/other.st:layers.1.attn[:,2,:]" -o "$tmp/pf.st" >"$tmp/out" 2>&1 \
	&& [ "$(grep -c '^patched: ' "$tmp/out")" -eq 3 ] && ok "--patch-from, several patches" || bad "patch-from: $(cat "$tmp/out")"
"$bin" diff "$tmp/pf.st" "$tmp/other.st" --only 'layers.0.resid_out' >/dev/null && ok "the patched value is recorded" \
	|| bad "patched value not recorded"

# Refusals: one line each, and no trace written.
refuse() {
	name=$1 pattern=$2
	shift 2
	expect_error "$name" "$pattern" "$bin" trace -m data/demo -p "$prompt" -o "$tmp/r.st" "$@"
	[ ! -e "$tmp/r.st" ] || { bad "$name: wrote a trace"; rm -f "$tmp/r.st"; }
}
refuse "a point that feeds nothing" "logits: feeds no later computation" --patch "logits=$tmp/npy/layers.2.resid_mid.npy"
refuse "a norm scale" "layers.0.attn_rms: feeds no later" --ablate layers.0.head.0 --patch "layers.0.attn_rms=x.npy"
refuse "an unknown point" "layers.0.nope: no such trace point" --patch "layers.0.nope=x.npy"
refuse "a decode-step point" "only the prompt pass" --patch "step.1.layers.0.attn=x.npy"
refuse "no file" "expected POINT=FILE.npy" --patch layers.0.attn
refuse "a missing file" "none.npy" --patch "embed=$tmp/none.npy"
refuse "a shape that does not fit" "layers.2.resid_mid.npy: shape (17, 128) does not fit layers.0.attn" \
	--patch "layers.0.attn=$tmp/npy/layers.2.resid_mid.npy"
printf 'not numpy' >"$tmp/bad.npy"
refuse "a file that is not .npy" "bad.npy: not a .npy file" --patch "embed=$tmp/bad.npy"
head -c 300 "$tmp/npy/layers.2.resid_mid.npy" >"$tmp/cut.npy"
refuse "a truncated .npy" "cut.npy: .npy data is .* (truncated)" --patch "embed=$tmp/cut.npy"
"$bin" dump "$tmp/clean.st" tokens -o "$tmp/npy" >/dev/null
refuse "an int32 array for a float point" "tokens.npy: the array is I32, but embed is float32" \
	--patch "embed=$tmp/npy/tokens.npy"
refuse "a layer the model lacks" "--ablate layers.9.ffn: layers.9.ffn_out: the model has 4 layers" --ablate layers.9.ffn
refuse "a head the model lacks" "index 8 on axis 1" --ablate layers.0.head.8
refuse "a bad --ablate" "expected layers.I.head.H" --ablate layers.0.mlp
refuse "a bad slice" "a slice entry is" --patch "layers.0.attn[:,a,:]=x.npy"
refuse "a slice of the wrong rank" "the slice has 2 entries" --patch-from "$tmp/other.st:layers.0.attn[:,1]"
demo -p "the answer" -o "$tmp/short.st" >/dev/null 2>&1
refuse "prompt-length mismatch" "short.st: its prompt has 3 tokens, this run's has 17" \
	--patch-from "$tmp/short.st:layers.0.resid_out"
demo -p "$other" --only embed -o "$tmp/only.st" >/dev/null 2>&1
refuse "a point the other trace lacks" "only.st: has no point layers.0.resid_out" \
	--patch-from "$tmp/only.st:layers.0.resid_out"
refuse "--patch-from a missing trace" "none.st: cannot open" --patch-from "$tmp/none.st:embed"
refuse "--patch-from without a point" "expected TRACE_FILE:POINT" --patch-from "$tmp/other.st"
"$bin" trace --help | grep -q 'decode steps are not patched' && ok "--help says what happens at decode steps" \
	|| bad "trace --help"

# The ablation sweep: the two points, in the catalogue's shapes, beside
# the prompt pass; the lowest head value is that head's --ablate run.
demo -p "$prompt" --ablation-sweep -o "$tmp/sweep.st" >"$tmp/out" 2>&1 || bad "sweep: $(cat "$tmp/out")"
"$bin" ls "$tmp/sweep.st" >"$tmp/ls"
grep -q '^ablation\.heads_p  *layer 4 x head 8 .*core/ablation\.c:' "$tmp/ls" && ok "sweep records ablation.heads_p" \
	|| bad "ls: $(grep ablation "$tmp/ls")"
grep -q '^ablation\.ffn_p  *layer 4 ' "$tmp/ls" && ok "sweep records ablation.ffn_p" || bad "ls: $(grep ablation "$tmp/ls")"
"$bin" dump "$tmp/sweep.st" 'ablation.*' -f csv -o "$tmp/sw" >/dev/null || bad "dump the sweep"
# the smallest FFN value, and the FFN it names: zeroing it alone changes the answer
ffn=$(awk -F, 'NR > 1 && (at == "" || $2 + 0 < min) { min = $2 + 0; at = $1 } END { print at }' \
	"$tmp/sw/ablation.ffn_p.csv" 2>/dev/null)
demo -p "$prompt" -n 1 --ablate "layers.$ffn.ffn" -o "$tmp/ffn.st" >"$tmp/out" 2>&1
demo -p "$prompt" -n 1 -o "$tmp/one.st" >"$tmp/out1" 2>&1
[ -n "$ffn" ] && [ "$(sed -n 's/.*generated \([0-9]*\).*/\1/p' "$tmp/out")" != "$(sed -n 's/.*generated \([0-9]*\).*/\1/p' "$tmp/out1")" ] &&
	ok "the FFN the sweep ranks first changes the answer" || bad "sweep FFN '$ffn': $(cat "$tmp/out")"
expect_error "no sweep on a classifier" "cls_f32: ablation sweep: the model has no logits" \
	"$bin" trace -m tests/data/meta/cls_f32 -t 5,6 --ablation-sweep -o "$tmp/cls.st"
[ ! -e "$tmp/cls.st" ] && ok "a refused sweep leaves nothing" || bad "a refused sweep left a file"

tl_finish "patch"
