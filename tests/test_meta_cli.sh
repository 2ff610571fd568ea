#!/bin/sh
# test_meta_cli.sh - `info` / `ls-model` on each layout, Meta checkpoints
# traced from the shell, and a sequence classifier's verdict with its labels.
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")" || exit 1

# has NAME FILE PATTERN: FILE has a line matching PATTERN.
has() {
	grep -q -- "$3" "$2" && ok "$1" || bad "$1: no line matching '$3' in: $(cat "$2")"
}

m=data/meta
"$bin" info $m/f32_scaled/one >"$tmp/one" 2>&1 || bad "info one-shard exit"
has "info: Meta format" "$tmp/one" '^format *Meta (params.json + consolidated.NN.pth), 1 file in '
has "info: FFN by Meta's rule" "$tmp/one" "ffn_dim 64 (Meta's rule: multiple_of 16, ffn_dim_multiplier 0.7)"
has "info: use_scaled_rope" "$tmp/one" "llama3 rope scaling: factor 8, low 1, high 4, original 8192 (Meta's defaults)"
has "info: Meta's specials" "$tmp/one" "bos 8, eos 9 17 (Meta's convention"
has "info: parameters" "$tmp/one" '^parameters *35488 '
has "info: dtype" "$tmp/one" '^dtype *F32$'
has "info: nothing copied" "$tmp/one" '^copies *nothing'

"$bin" ls-model $m/bf16_plain/two >"$tmp/two" 2>&1 || bad "ls-model two-shard exit"
has "ls-model finds original/" "$tmp/two" '2 files in data/meta/bf16_plain/two/original$'
has "info: vocab from the weights" "$tmp/two" 'vocab_size 270 (from tok_embeddings)'
has "info: joined shards are copied" "$tmp/two" '^copies *67456 bytes (0.1 MB): the model-parallel shards, joined in memory'
has "info: tied" "$tmp/two" 'tied to the embedding table'
has "info: bf16 kept" "$tmp/two" '^dtype *BF16$'

"$bin" info $m/f32_scaled/hf >"$tmp/hf" 2>&1
has "info: HF format" "$tmp/hf" '^format *Hugging Face (config.json + safetensors), 1 file'

"$bin" info $m/cls_f32 >"$tmp/cls" 2>&1
has "info: classifier labels" "$tmp/cls" '^head *sequence classifier (score, 3 labels): 0=negative 1=neutral 2=positive'

expect_error "info of a directory without a model" "no model found: expected config.json" "$bin" info "$tmp"
expect_error "info without a directory" "usage" "$bin" info

# Meta layout traced from the shell: the same tensors as the HF twin.
for v in one two hf; do
	"$bin" trace -m $m/f32_scaled/$v -t 8,100,7,250 -n 2 -o "$tmp/$v.st" >/dev/null 2>&1 || bad "trace $v"
done
for v in one two; do
	"$bin" dump "$tmp/$v.st" logits 'layers.1.q_rope' -f txt -o "$tmp" --force >/dev/null 2>&1
	mv "$tmp/logits.txt" "$tmp/logits.$v.txt"
	mv "$tmp/layers.1.q_rope.txt" "$tmp/q.$v.txt"
done
"$bin" dump "$tmp/hf.st" logits 'layers.1.q_rope' -f txt -o "$tmp" --force >/dev/null 2>&1
cmp -s "$tmp/logits.one.txt" "$tmp/logits.txt" && cmp -s "$tmp/logits.two.txt" "$tmp/logits.txt" &&
	cmp -s "$tmp/q.one.txt" "$tmp/layers.1.q_rope.txt" && cmp -s "$tmp/q.two.txt" "$tmp/layers.1.q_rope.txt" &&
	ok "Meta one/two shards and HF: identical dumps" || bad "Meta and HF dumps differ"

# The classifier: score, not logits; class logits named; no generation.
"$bin" trace -m $m/cls_f32 -t 8,100,7,250,31 -o "$tmp/c.st" >"$tmp/ct" 2>&1 || bad "trace classifier"
has "trace prints the class logits" "$tmp/ct" '^class logits at the last token (position 4):'
has "trace names the labels" "$tmp/ct" ' 2 positive '
"$bin" ls "$tmp/c.st" >"$tmp/cls_ls" 2>&1
has "ls: score point" "$tmp/cls_ls" '^score *token 5 x label 3 '
has "ls: class logits with names" "$tmp/cls_ls" '^  [* ]  1 neutral '
grep -q '^logits ' "$tmp/cls_ls" && bad "a classifier trace has logits" || ok "no logits for a classifier"
expect_error "classifier refuses -n" "sequence classifier.*cannot generate" \
	"$bin" trace -m $m/cls_f32 -t 8,100 -n 2 -o "$tmp/n.st"

tl_finish "meta cli"
