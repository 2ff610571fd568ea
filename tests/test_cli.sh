#!/bin/sh
# test_cli.sh - the trace/ls/dump commands end to end, and their errors:
# one line on stderr, a non-zero exit, nothing overwritten.
set -u
. "$(dirname "$0")/testlib.sh"
cd "$(dirname "$0")" || exit 1

model=data/models/f32_gqa
"$bin" trace -m $model -t 254,17,201,88,3 -n 2 -o "$tmp/t.safetensors" >"$tmp/out" 2>&1 \
	&& grep -q "87 tensors, .*5 tokens, generated [0-9]* [0-9]*$" "$tmp/out" && ok "trace writes a file" || bad "trace: $(cat "$tmp/out")"

"$bin" ls "$tmp/t.safetensors" >"$tmp/ls" 2>&1
grep -q '^layers.1.scores *head 4 x query 5 x key 5 ' "$tmp/ls" && ok "ls shows shapes with axes" || bad "ls scores line"
grep -q '^step.1.layers.0.scores *head 4 x query 1 x key 6 ' "$tmp/ls" && ok "ls shows decode steps" || bad "ls step line"
grep -q 'core/forward.c:[0-9]' "$tmp/ls" && ok "ls shows the source line" || bad "ls src"
# Forward order: tokens first, logits of the prompt before step 1.
first=$(awk 'seen {print $1; exit} /^name  */ {seen = 1}' "$tmp/ls")
[ "$first" = tokens ] && ok "ls starts at tokens" || bad "ls order starts with $first"

mkdir "$tmp/d"
"$bin" dump "$tmp/t.safetensors" 'layers.0.scores' embed tokens -f npy -o "$tmp/d" >/dev/null 2>&1 \
	&& [ -f "$tmp/d/layers.0.scores.npy" ] && ok "dump npy" || bad "dump npy"
# NumPy v1.0 magic, and a header length that makes the data 64-byte aligned.
head -c 6 "$tmp/d/layers.0.scores.npy" | od -An -c | grep -q 'N   U   M   P   Y' && ok "npy magic" || bad "npy magic"
head -c 128 "$tmp/d/layers.0.scores.npy" | grep -q "'shape': (4, 5, 5,)" && ok "npy shape" || bad "npy shape"
size=$(wc -c <"$tmp/d/layers.0.scores.npy")
[ $(( (size - 4*5*5*4) % 64 )) -eq 0 ] && ok "npy header padded" || bad "npy size $size"
head -c 128 "$tmp/d/tokens.npy" | grep -q "'descr': '<i4'" && ok "tokens are int32 in npy" || bad "tokens npy dtype"

expect_error "dump refuses to overwrite" "already exists" \
	"$bin" dump "$tmp/t.safetensors" embed -f npy -o "$tmp/d"
"$bin" dump "$tmp/t.safetensors" embed -f npy -o "$tmp/d" --force >/dev/null 2>&1 && ok "dump --force" || bad "dump --force"

"$bin" dump "$tmp/t.safetensors" 'layers.0.scores' -f csv -o "$tmp/d" >/dev/null 2>&1
[ "$(wc -l <"$tmp/d/layers.0.scores.csv")" -eq 21 ] && ok "csv: header + one row per (head, query)" || bad "csv rows"
head -1 "$tmp/d/layers.0.scores.csv" | grep -q '^head,query,key0,key1' && ok "csv header" || bad "csv header"
sed -n 2p "$tmp/d/layers.0.scores.csv" | grep -q '^0,0,[-0-9.e]*,-inf,-inf,-inf,-inf$' && ok "csv masked -inf" || bad "csv row: $(sed -n 2p "$tmp/d/layers.0.scores.csv")"
"$bin" dump "$tmp/t.safetensors" 'layers.0.q' -f txt -o "$tmp/d" >/dev/null 2>&1
head -1 "$tmp/d/layers.0.q.txt" | grep -q '^# layers.0.q: token 5 x head 4 x dim 16 (float32)' && ok "txt header" || bad "txt header"

expect_error "trace refuses to overwrite" "already exists" \
	"$bin" trace -m $model -t 1,2 -o "$tmp/t.safetensors"
expect_error "bad token list" "not a token id" "$bin" trace -m $model -t 1,x -o "$tmp/x.safetensors"
expect_error "token outside vocab" "outside the vocabulary" "$bin" trace -m $model -t 1,999 -o "$tmp/x.safetensors"
expect_error "missing model dir" "config.json" "$bin" trace -m "$tmp/none" -t 1 -o "$tmp/x.safetensors"
expect_error "unwritable output" "cannot create" "$bin" trace -m $model -t 1 -o "$tmp/no/such/dir.st"
expect_error "ls of a non-trace" "not a llamadbg trace" "$bin" ls $model/model.safetensors
expect_error "ls of a missing file" "cannot open" "$bin" ls "$tmp/missing"
expect_error "dump glob matching nothing" "no tensor matches" "$bin" dump "$tmp/t.safetensors" 'nothing*' -o "$tmp/d"
"$bin" dump "$tmp/t.safetensors" embed -o "$tmp/newdir" >/dev/null 2>&1 && [ -f "$tmp/newdir/embed.npy" ] \
	&& ok "dump creates its output directory" || bad "dump -o newdir"
expect_error "dump into a file" "cannot create the directory" "$bin" dump "$tmp/t.safetensors" embed -o "$tmp/t.safetensors/x"
expect_error "dump unknown format" "unknown format" "$bin" dump "$tmp/t.safetensors" -f xls -o "$tmp/d"
"$bin" ls -- "$tmp/t.safetensors" >/dev/null 2>&1 && ok "-- ends the options of ls" || bad "ls --"
"$bin" trace -m $model -t 254,17 -o "$tmp/dd.safetensors" -- >/dev/null 2>&1 && ok "-- ends the options of trace" || bad "trace --"
expect_error "ls of an unknown option" "ls: unknown option" "$bin" ls -q "$tmp/t.safetensors"
expect_error "unknown command" "unknown command" "$bin" frobnicate
expect_error "unknown forced kernel" "LLAMADBG_KERNEL=avx9000: no such kernel" \
	env LLAMADBG_KERNEL=avx9000 "$bin" trace -m $model -t 1 -o "$tmp/x.safetensors"
# Every kernel the CPU runs gives the same greedy continuation.
for k in scalar avx2 avx512; do
	LLAMADBG_KERNEL=$k "$bin" trace -m $model -t 254,17,201 -n 3 --only none -o "$tmp/k.st" >"$tmp/kout" 2>&1
	rc=$?
	if grep -q "cannot run it" "$tmp/kout"; then
		ok "kernel $k: not on this CPU, one line: $(cat "$tmp/kout")"
	elif [ $rc -eq 0 ]; then
		gen=$(sed -n 's/.*generated \([0-9 ]*\)$/\1/p' "$tmp/kout")
		[ -z "${gen_first:-}" ] && gen_first=$gen
		[ "$gen" = "$gen_first" ] && ok "kernel $k traces ($gen)" || bad "kernel $k generated $gen, not $gen_first"
	else
		bad "kernel $k: $(cat "$tmp/kout")"
	fi
	rm -f "$tmp/k.st"
done
[ -z "$(ls "$tmp" | grep tmp)" ] && ok "no temp files left" || bad "temp files left: $(ls "$tmp")"

"$bin" trace -m $model -t 254,17 --only 'layers.*.probs' --only logits -o "$tmp/o.safetensors" >/dev/null 2>&1
n=$("$bin" ls "$tmp/o.safetensors" | grep -c 'core/forward.c')
[ "$n" -eq 3 ] && ok "--only records a subset" || bad "--only recorded $n"

# The logit lens: --lens (5 guesses), --lens=K, --lens-mid; ls and dump know its points.
"$bin" trace -m $model -t 254,17,201 -n 2 --lens --lens-mid -o "$tmp/lens.st" >/dev/null 2>&1
"$bin" ls "$tmp/lens.st" >"$tmp/ls" 2>&1
grep -q '^layers.1.lens_ids *token 3 x rank 5 ' "$tmp/ls" && ok "ls lists the lens ids" || bad "ls lens_ids"
grep -q '^layers.0.lens_mid_probs *token 3 x rank 5 ' "$tmp/ls" && ok "ls lists the lens after attention" || bad "ls lens_mid"
grep -q '^step.1.layers.1.lens_probs *token 1 x rank 5 ' "$tmp/ls" && ok "decode steps have a lens" || bad "ls step lens"
mkdir "$tmp/ld"
"$bin" dump "$tmp/lens.st" 'layers.1.lens_*' -f npy -o "$tmp/ld" >/dev/null 2>&1 \
	&& head -c 128 "$tmp/ld/layers.1.lens_ids.npy" | grep -q "'descr': '<i4'" && ok "dump writes lens ids as int32" \
	|| bad "dump lens"
"$bin" trace -m $model -t 254,17 --lens=2 --only '*lens*' -o "$tmp/lens2.st" >/dev/null 2>&1
n=$("$bin" ls "$tmp/lens2.st" | grep -c 'x rank 2 ')
[ "$n" -eq 4 ] && ok "--lens=K keeps K guesses" || bad "--lens=2 recorded $n"
n=$("$bin" ls "$tmp/t.safetensors" | grep -c 'lens')
[ "$n" -eq 0 ] && ok "no lens without --lens" || bad "lens points without --lens: $n"
expect_error "--lens=0" "not a number of guesses" "$bin" trace -m $model -t 254 --lens=0 -o "$tmp/x.st"
expect_error "--lens=abc" "not a number of guesses" "$bin" trace -m $model -t 254 --lens=abc -o "$tmp/x.st"
expect_error "--lens past the vocabulary" "1 to 256 guesses" "$bin" trace -m $model -t 254 --lens=257 -o "$tmp/x.st"
expect_error "no lens on a classifier" "no logit lens" "$bin" trace -m data/meta/cls_f32 -t 5,6 --lens -o "$tmp/x.st"

# --bf16-dot: a kernel that rounds x (amxbf16 where the CPU has AMX, else
# avx512bf16), named in the trace; ls and diff say so.
grep -q '^kernel: [a-z0-9]*$' "$tmp/ls" && ok "ls names the kernel" || bad "ls kernel line: $(grep kernel "$tmp/ls")"
expect_error "--bf16-dot against a forced kernel" "--bf16-dot: LLAMADBG_KERNEL=scalar asks for another kernel" \
	env LLAMADBG_KERNEL=scalar "$bin" trace -m data/models/bf16_mqa -t 1,2,3 --bf16-dot -o "$tmp/x.st"
if grep -qw avx512_bf16 /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo; then
	"$bin" trace -m data/models/bf16_mqa -t 1,2,3,40 -o "$tmp/exact.st" >/dev/null 2>&1
	"$bin" trace -m data/models/bf16_mqa -t 1,2,3,40 --bf16-dot -o "$tmp/dot.st" >/dev/null 2>&1 \
		&& "$bin" ls "$tmp/dot.st" | grep -Eq '^kernel: (avx512bf16|amxbf16) \(--bf16-dot' \
		&& ok "trace --bf16-dot: ls names it" || bad "trace --bf16-dot"
	"$bin" diff "$tmp/exact.st" "$tmp/dot.st" >"$tmp/dd" 2>"$tmp/de"
	rc=$?
	[ $rc -eq 1 ] && grep -Eq 'by (avx512bf16|amxbf16) \((avx512bf16|amxbf16) rounds activations' "$tmp/de" \
		&& grep -q '^first divergence: layers.0.q$' "$tmp/dd" \
		&& ok "diff: --bf16-dot first changes layers.0.q" || bad "diff exact vs bf16-dot (rc $rc): $(cat "$tmp/de" "$tmp/dd" | head -5)"
else
	expect_error "--bf16-dot without AVX512-BF16" "this CPU has no AVX512-BF16" \
		"$bin" trace -m data/models/bf16_mqa -t 1,2,3 --bf16-dot -o "$tmp/x.st"
fi

# A full disk: a 64 KB tmpfs (needs root; reported as skipped otherwise).
# The trace's size is known before the pass: refused before it is computed.
mkdir "$tmp/full"
if mount -t tmpfs -o size=64k tmpfs "$tmp/full" 2>/dev/null; then
	expect_error "full disk" "more than the .* free where it is written: $tmp/full/t.safetensors" \
		"$bin" trace -m $model -t 254,17,201,88,3 -o "$tmp/full/t.safetensors"
	[ -z "$(ls "$tmp/full")" ] && ok "full disk leaves nothing behind" || bad "full disk left $(ls "$tmp/full")"
	umount "$tmp/full"
else
	echo "skipped: full-disk case (cannot mount a tmpfs here)"
fi
# The disk failing during the pass (here a file size limit of 40 KB, as a
# disk filling up under the trace): one line, nothing left behind.
mkdir "$tmp/limited"
expect_error "write fails during the pass" "$tmp/limited/t.safetensors: write failed: File too large" \
	sh -c "trap '' XFSZ; ulimit -f 80; exec \"\$0\" \"\$@\"" "$bin" trace -m $model -t 254,17,201,88,3 \
	-o "$tmp/limited/t.safetensors"
[ -z "$(ls "$tmp/limited")" ] && ok "a failed write leaves nothing behind" || bad "a failed write left $(ls "$tmp/limited")"

tl_finish "cli"
