#!/bin/sh
# test_tokenize_cli.sh - `llamadbg tokenize` from the outside: both output
# forms, text from the command line, a file and stdin, special tokens, the
# one-line errors, and --convert. Needs LLAMADBG=/path/to/llamadbg (make
# test sets it). The real Llama 3 vectors run only when
# `make llama3-tokenizer` has fetched data/llama3/; otherwise they are
# reported as skipped.
set -u
cd "$(dirname "$0")" || exit 1
bin=${LLAMADBG:?set LLAMADBG to the llamadbg binary}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skipped=0
TINY=data/tok/tiny

# expect NAME WANT CMD...: run CMD, its stdout must be WANT and it must succeed.
expect() {
	name=$1 want=$2
	shift 2
	got=$("$@" 2>"$tmp/err") && [ "$got" = "$want" ] && { pass=$((pass + 1)); return; }
	fail=$((fail + 1))
	echo "FAIL $name"
	echo "  want: $want"
	echo "  got:  $got"
	sed 's/^/  stderr: /' "$tmp/err"
}

# expect_error NAME FRAGMENT CMD...: CMD must exit 1 with one stderr line
# starting "llamadbg: " and containing FRAGMENT, and print nothing on stdout.
expect_error() {
	name=$1 fragment=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ $rc -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] &&
	   grep -q '^llamadbg: ' "$tmp/err" && grep -qF -- "$fragment" "$tmp/err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name (exit $rc, $lines stderr lines, want one containing \"$fragment\")"
		sed 's/^/  stderr: /' "$tmp/err"
	fi
}

# The tiny vocabulary (tests/data/tok/make_fixtures.py): 277 is
# <|begin_of_text|>, 260 " the", 272 " world", 263 "hello", 256 "bc".
expect ids "277 97 256 260 272" "$bin" tokenize -m $TINY --ids "abc the world"
expect no-bos "97 256" "$bin" tokenize -m $TINY --ids --no-bos abc
expect table "$(printf '277\t<|begin_of_text|>\n260\t\342\220\243the\n273\t\\n\\n')" \
	"$bin" tokenize -m $TINY " the

"
expect hf-dir "277 97 256 260 272" "$bin" tokenize -m data/tok/tiny-hf --ids "abc the world"
expect model-file "277 263" "$bin" tokenize -m $TINY/tokenizer.model --ids hello
expect special-allowed "263 286" "$bin" tokenize -m $TINY --ids --no-bos --allow-special "hello<|eot_id|>"
expect special-as-text "263 265 101 111 116 95 105 100 266" \
	"$bin" tokenize -m $TINY --ids --no-bos "hello<|eot_id|>"
# `--` ends the options: a text may start with '-'.
expect dash-text "277 45 120" "$bin" tokenize -m $TINY --ids -- "-x"
expect_error dash-ends-options "more than one TEXT" "$bin" tokenize -m $TINY --ids -- -x --no-bos
expect stdin "97 256" sh -c "printf abc | '$bin' tokenize -m $TINY --ids --no-bos -"
printf 'hello\377\n' >"$tmp/prompt.bin"
expect file-bytes "277 263 255 10" "$bin" tokenize -m $TINY --ids -f "$tmp/prompt.bin"
expect invalid-shown "$(printf '255\t\\xFF')" sh -c "printf '\377' | '$bin' tokenize -m $TINY --no-bos -"

expect_error no-model-dir "$tmp/nowhere: no tokenizer.json" "$bin" tokenize -m "$tmp/nowhere" hi
printf 'YQ== 0\nYg== 5\n' >"$tmp/bad.model"
expect_error bad-file "$tmp/bad.model: line 2: rank 5, expected 1" "$bin" tokenize -m "$tmp/bad.model" hi
expect_error no-text "missing TEXT" "$bin" tokenize -m $TINY
expect_error no-model "missing -m" "$bin" tokenize hello
expect_error unknown-option "unknown option --bogus" "$bin" tokenize -m $TINY --bogus hi
expect_error missing-file "$tmp/none.txt" "$bin" tokenize -m $TINY -f "$tmp/none.txt"

# --convert: tokenizer.json -> the very bytes of the tiktoken file.
expect convert "" "$bin" tokenize --convert data/tok/tiny-hf/tokenizer.json -o "$tmp/conv.model"
if cmp -s "$tmp/conv.model" $TINY/tokenizer.model; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL convert: output differs from $TINY/tokenizer.model"; fi
expect_error convert-exists "already exists" \
	"$bin" tokenize --convert data/tok/tiny-hf-pairs.json -o "$tmp/conv.model"
expect convert-force "" "$bin" tokenize --convert data/tok/tiny-hf-pairs.json -o "$tmp/conv.model" --force
expect_error convert-no-output "needs -o" "$bin" tokenize --convert data/tok/tiny-hf-pairs.json

# The real vocabulary, when present.
if [ -f ../data/llama3/tokenizer.model ]; then
	expect llama3-seed "128000 1820 4320 311 279 17139 3488 315 2324 11 279 15861 11 323 4395 374 220" \
		"$bin" tokenize -m ../data/llama3 --ids \
		"the answer to the ultimate question of life, the universe, and everything is "
	expect llama3-hello "128000 9906 11 1917 0" "$bin" tokenize -m ../data/llama3/tokenizer.model --ids "Hello, world!"
	expect llama3-eos "128000 2028 374 264 1296 11914 13 128001" \
		"$bin" tokenize -m ../data/llama3/tokenizer.model --ids --allow-special "This is a test sentence.<|end_of_text|>"
else
	skipped=$((skipped + 3))
	echo "skipped: 3 Llama 3 checks, data/llama3/tokenizer.model is absent (run make llama3-tokenizer)"
fi

echo "tokenize_cli: $pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ]
