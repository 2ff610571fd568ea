#!/bin/sh
# test_gguf.sh - GGUF models on the command line: info, tokenize, trace
# (the F32 file and its Hugging Face twin give the same tensors), a file
# without a tokenizer traced from ids, and one clear line for each hostile
# file of tests/data/gguf.
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")/.." || exit 1
g=tests/data/gguf

# info: the container, the tensor types, the tokenizer, the config.
"$bin" info $g/tiny-f32.gguf >"$tmp/info" 2>&1 || bad "info tiny-f32.gguf: $(cat "$tmp/info")"
grep -q '^format  *GGUF (llama.cpp)$' "$tmp/info" && ok "info: format" || bad "info format: $(cat "$tmp/info")"
grep -q '^file  *GGUF version 3, 21 tensors, 27 metadata keys, alignment 32$' "$tmp/info" \
	&& ok "info: the file" || bad "info file line: $(grep '^file' "$tmp/info")"
grep -q '^tensors  *F32 21 ' "$tmp/info" && ok "info: tensors by type" || bad "info tensors: $(grep '^tensors' "$tmp/info")"
grep -q '^tokenizer  *gpt2 (pre-split llama-bpe), 533 tokens, 20 merges in the metadata$' "$tmp/info" \
	&& ok "info: tokenizer" || bad "info tokenizer: $(grep '^tokenizer' "$tmp/info")"
grep -q 'max positions 131072' "$tmp/info" && grep -q 'llama3 rope scaling: factor 8' "$tmp/info" \
	&& ok "info: context and rope scaling" || bad "info config: $(cat "$tmp/info")"

# tokenize: the ids of tokenizer.json.
text="the cat sat<|begin_of_text|> on the mat"
"$bin" tokenize -m $g/tiny-f32.gguf --ids -- "$text" >"$tmp/a" 2>&1
"$bin" tokenize -m $g/tiny-f32-hf --ids -- "$text" >"$tmp/b" 2>&1
[ -s "$tmp/a" ] && cmp -s "$tmp/a" "$tmp/b" && ok "tokenize: the same ids as tokenizer.json" \
	|| bad "tokenize: $(cat "$tmp/a") vs $(cat "$tmp/b")"

# trace: GGUF and HF, the same tensors to the bit.
"$bin" trace -m $g/tiny-f32.gguf -p "$text" -n 2 -o "$tmp/a.st" >/dev/null 2>"$tmp/err" || bad "trace gguf: $(cat "$tmp/err")"
"$bin" trace -m $g/tiny-f32-hf -p "$text" -n 2 -o "$tmp/b.st" >/dev/null 2>"$tmp/err" || bad "trace hf: $(cat "$tmp/err")"
"$bin" diff --rtol 0 --atol 0 "$tmp/a.st" "$tmp/b.st" >"$tmp/d" 2>&1 && grep -q '^first divergence: none$' "$tmp/d" \
	&& ok "trace: GGUF F32 = HF F32, every point" || bad "diff: $(tail -3 "$tmp/d")"

# A file without a vocabulary: ids work, text says how to go on.
"$bin" trace -m $g/tiny-bf16.gguf -t 1,17,42,5 -n 1 -o "$tmp/c.st" >/dev/null 2>"$tmp/err" \
	&& ok "trace from ids without a tokenizer" || bad "trace -t: $(cat "$tmp/err")"
expect_error "text without a tokenizer" "carries no tokenizer.*-t" "$bin" trace -m $g/tiny-bf16.gguf -p hi -o "$tmp/e.st"

# A quantized file: every matrix in its stored type, shown by ls and the
# viewer (the K-type file falls back to Q5_0/Q8_0 where rows are short).
"$bin" trace -m $g/tiny-q4_k_m.gguf -t 1,17,42,5 -o "$tmp/q.st" >/dev/null 2>"$tmp/err" || bad "trace q4_k_m: $(cat "$tmp/err")"
"$bin" ls "$tmp/q.st" >"$tmp/ls" 2>&1
grep -q '^weights: embed Q4_K, output Q6_K$' "$tmp/ls" &&
	grep -q '^  layer 0: q Q4_K k Q4_K v Q6_K o Q5_0 gate Q4_K up Q4_K down Q8_0$' "$tmp/ls" \
	&& ok "ls: the weight type of each layer's matrices" || bad "ls weights: $(sed -n 1,5p "$tmp/ls")"
"$bin" ls "$tmp/c.st" | grep -q '^weights: BF16, every matrix$' && ok "ls: one type for every matrix" \
	|| bad "ls bf16 weights: $("$bin" ls "$tmp/c.st" | sed -n 1,4p)"
if command -v tmux >/dev/null 2>&1; then
	sess=llg$$
	tmux new-session -d -s "$sess" -x 120 -y 30 "\"$bin\" view \"$tmp/q.st\"; sleep 60"
	seen=no
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		sleep 0.2
		if tmux capture-pane -p -t "$sess" | grep -q 'layers.0.attn_norm'; then seen=yes; break; fi
	done
	tmux send-keys -t "$sess" g
	tmux send-keys -t "$sess" -l "layers.0.v"
	tmux send-keys -t "$sess" Enter
	seen=no
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		sleep 0.2
		if tmux capture-pane -p -t "$sess" | grep -q 'float32  wv Q6_K  core/forward.c'; then seen=yes; break; fi
	done
	[ $seen = yes ] && ok "view: the header names the matrix's stored type" \
		|| bad "view header: $(tmux capture-pane -p -t "$sess" | sed -n 1,4p)"
	tmux kill-session -t "$sess" 2>/dev/null
fi

# Hostile files: one line, naming the file, exit non-zero.
while read -r file says; do
	expect_error "info $file" "$g/$file: .*$says" "$bin" info "$g/$file"
	expect_error "trace $file" "$g/$file: .*$says" "$bin" trace -m "$g/$file" -t 1,2 -o "$tmp/h.st"
done <<'LIST'
bad-truncated-header.gguf truncated (needs
bad-data-past-end.gguf blk.0.ffn_down.weight.*ends past the end of the file
bad-magic.gguf not a GGUF file
bad-version-1.gguf GGUF version 1 not supported
bad-tensor-count-2p60.gguf tensor count .* too large for the file
bad-kv-count-2p60.gguf metadata count .* too large for the file
bad-string-past-end.gguf string length .* past the end of the file
bad-unaligned-offset.gguf output_norm.weight.*not a multiple of the alignment (32)
bad-dims-overflow.gguf token_embd.weight.*size overflows
bad-duplicate-tensor.gguf duplicate tensor `token_embd.weight`
bad-unknown-type.gguf token_embd.weight.*unknown type 99
bad-missing-block-count.gguf missing key `llama.block_count`
bad-nested-10000.gguf arrays nested too deep
LIST
[ ! -e "$tmp/h.st" ] && ok "no trace file left behind" || bad "a trace was written for a hostile file"

# A file that is not a model at all.
printf 'hello' >"$tmp/notes.txt"
expect_error "a text file" "notes.txt: not a model" "$bin" info "$tmp/notes.txt"
tl_finish gguf
