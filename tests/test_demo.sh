#!/bin/sh
# test_demo.sh - the bundled demo model does what the seed article's model
# does: the seed prompt is 17 tokens, layer 0 has a 17x17 score matrix per
# head, and the greedy next token is "42".
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")/.." || exit 1
prompt="the answer to the ultimate question of life, the universe, and everything is "

n=$("$bin" tokenize -m data/demo "$prompt" | wc -l)
[ "$n" -eq 17 ] && ok "seed prompt is 17 tokens" || bad "seed prompt is $n tokens"
first=$("$bin" tokenize -m data/demo "$prompt" | head -1 | cut -f2)
[ "$first" = "<|begin_of_text|>" ] && ok "starts with <|begin_of_text|>" || bad "first token $first"

if "$bin" trace -m data/demo -p "$prompt" -n 1 -o "$tmp/t.safetensors" >"$tmp/out" 2>&1; then
	ok "trace"
else
	bad "trace: $(cat "$tmp/out")"
fi
grep -q "17 tokens, generated [0-9]* (42)" "$tmp/out" && ok "answers 42" || bad "answer: $(cat "$tmp/out")"
"$bin" ls "$tmp/t.safetensors" >"$tmp/ls"
grep -q '^layers.0.scores *head 8 x query 17 x key 17 ' "$tmp/ls" && ok "layers.0.scores is 8 x 17 x 17" || bad "scores shape"
grep -q '^tokens *token 17 ' "$tmp/ls" && ok "17 tokens recorded" || bad "tokens"
# The vocabulary's display strings travel in the trace file.
grep -q '^generated: [0-9]* (42)$' "$tmp/ls" && ok "ls names the generated token" || bad "generated line: $(grep generated "$tmp/ls")"

# The viewer's labels come from the trace: token strings are stored.
"$bin" dump "$tmp/t.safetensors" 'layers.0.probs' -f csv -o "$tmp" >/dev/null
[ "$(wc -l <"$tmp/layers.0.probs.csv")" -eq $((8 * 17 + 1)) ] && ok "probs csv" || bad "probs csv"

# The same prompt from stdin and from a file gives the same tokens.
printf '%s' "$prompt" >"$tmp/prompt.txt"
printf '%s' "$prompt" | "$bin" trace -m data/demo -p - -n 1 -o "$tmp/stdin.safetensors" >"$tmp/out2" 2>&1
grep -q "17 tokens, generated [0-9]* (42)" "$tmp/out2" && ok "prompt from stdin" || bad "stdin: $(cat "$tmp/out2")"
"$bin" trace -m data/demo -f "$tmp/prompt.txt" -n 1 -o "$tmp/file.safetensors" >"$tmp/out3" 2>&1
grep -q "17 tokens, generated [0-9]* (42)" "$tmp/out3" && ok "prompt from a file" || bad "file: $(cat "$tmp/out3")"
# Bytes that are not UTF-8 are encoded, never rejected.
printf 'caf\351 \377\376 ok' | "$bin" trace -m data/demo -p - -o "$tmp/bytes.safetensors" >"$tmp/out4" 2>&1 \
	&& ok "non-UTF-8 prompt" || bad "non-UTF-8: $(cat "$tmp/out4")"
# A prompt longer than the context: one clear line, non-zero exit.
awk 'BEGIN { for (i = 0; i < 300; i++) printf "word " }' >"$tmp/long.txt"
if "$bin" trace -m data/demo -f "$tmp/long.txt" -o "$tmp/long.safetensors" >/dev/null 2>"$tmp/err"; then
	bad "over-long prompt accepted"
else
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "max_position_embeddings 256" "$tmp/err" \
		&& ok "over-long prompt refused" || bad "over-long: $(cat "$tmp/err")"
fi

tl_finish "demo"
