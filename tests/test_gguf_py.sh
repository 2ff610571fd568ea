#!/bin/sh
# test_gguf_py.sh - the Python GGUF tools in tests/reference: quantizers
# within their error bounds, the writer read back by an independent reader,
# the HF -> GGUF conversion, and tests/data/gguf/ regenerating byte for byte.
# Needs a python3 with numpy (Debian's /usr/bin/python3 + python3-numpy);
# skipped with a message without one.
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")/.." || exit 1

py=
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "skipped: no python3 with numpy"
	exit 0
fi

if "$py" tests/reference/test_gguf.py >"$tmp/out" 2>&1; then
	ok "tests/reference/test_gguf.py ($(grep -c '^ok ' "$tmp/out") checks)"
else
	grep -v '^ok ' "$tmp/out" | head -20
	bad "tests/reference/test_gguf.py"
fi

# The float64 reference runs on a quantized fixture's dequantized twin.
if "$py" tests/reference/gguf_golden.py tests/data/gguf/tiny-q4_k_m.gguf "$tmp/twin" >"$tmp/g" 2>&1 \
	&& [ -s "$tmp/twin/golden.safetensors" ]; then
	ok "gguf_golden.py: reference on the Q4_K_M twin"
else
	bad "gguf_golden.py: $(tail -3 "$tmp/g")"
fi
tl_finish gguf_py
