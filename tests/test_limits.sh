#!/bin/sh
# test_limits.sh - hostile or oversized requests are refused before they
# are allocated, with one line: a trace that cannot fit the memory or the
# disk, a vocabulary that names an absurd id, and every input the fuzzers
# once crashed on, through the command a user would run.
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")/.."
m=tests/data/models/bf16_mqa
ids=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17

# `trace` writes each point to the file as the pass makes it: a trace
# bigger than the memory needs only the disk, and reads back whole.
LLAMADBG_MEMORY=50K "$bin" trace -m $m -t $ids -o "$tmp/big.safetensors" >"$tmp/out" 2>&1 &&
	ok "trace bigger than the memory goes to the disk" || bad "trace bigger than the memory: $(cat "$tmp/out")"
"$bin" trace -m $m -t $ids -o "$tmp/ref.safetensors" >/dev/null 2>&1
if "$bin" diff "$tmp/big.safetensors" "$tmp/ref.safetensors" >"$tmp/out" 2>&1 &&
	grep -q "first divergence: none" "$tmp/out"; then
	ok "and it is the trace"
else
	bad "streamed trace differs: $(tail -2 "$tmp/out")"
fi
# The viewer holds its trace in memory: its cost is known before the pass,
# refused in one line.
LLAMADBG_MEMORY=50K expect_error "view -m bigger than the memory" "would record .* more than the .* of memory available" \
	"$bin" view -m $m -t $ids
LLAMADBG_MEMORY=50K "$bin" trace -m $m -t $ids --only 'layers.0.resid_out' -o "$tmp/small.safetensors" >/dev/null 2>&1 &&
	ok "--only takes less and fits" || bad "--only trace refused"

# A vocabulary naming id 2000000000 would be a 32 GB table.
mkdir -p "$tmp/tok"
/usr/bin/python3 - "$tmp/tok/tokenizer.json" tests/data/tok/tiny-hf/tokenizer.json <<'PY'
import json, sys
t = json.load(open(sys.argv[2]))
t["added_tokens"] = [{"id": 2000000000, "content": "<|huge|>", "special": True}]
json.dump(t, open(sys.argv[1], "w"))
PY
expect_error "absurd token id" "tokenizer.json: added_tokens\[0\]: id 2000000000 is beyond" \
	"$bin" tokenize -m "$tmp/tok" hello

# Traces that lie about shapes, offsets and metadata types.
for f in tests/fuzz/corpus/trace/hostile-*; do
	expect_error "$(basename "$f")" "$(basename "$f")" "$bin" ls "$f"
	expect_error "$(basename "$f") in the viewer" "$(basename "$f")" "$bin" view "$f"
done

# Meta checkpoints that lie (the .pth reader through `info`).
for f in tests/fuzz/corpus/pth/hostile-*; do
	mkdir -p "$tmp/pth"
	cp "$f" "$tmp/pth/consolidated.00.pth"
	printf '{"dim": 32, "n_layers": 1, "n_heads": 4, "vocab_size": 128, "norm_eps": 1e-5}' >"$tmp/pth/params.json"
	expect_error "$(basename "$f")" "consolidated.00.pth" "$bin" info "$tmp/pth"
done

# Inputs a fuzzer found: each through the CLI, one line naming the file.
mkdir -p "$tmp/cfg"
for f in tests/fuzz/regress/config/*; do
	[ -f "$f" ] || continue
	cp "$f" "$tmp/cfg/config.json"
	cp $m/model.safetensors "$tmp/cfg/"
	expect_error "config regression $(basename "$f")" "config.json" "$bin" info "$tmp/cfg"
done
for f in tests/fuzz/regress/trace/* tests/fuzz/regress/safetensors/*; do
	[ -f "$f" ] || continue
	expect_error "trace regression $(basename "$f")" "$(basename "$f")" "$bin" ls "$f"
done
for f in tests/fuzz/regress/tokenizer_json/* tests/fuzz/regress/tiktoken/*; do
	[ -f "$f" ] || continue
	expect_error "tokenizer regression $(basename "$f")" "$(basename "$f")" \
		"$bin" tokenize --convert "$f" -o "$tmp/out.model"
done
tl_finish limits
