#!/bin/sh
# `make run`: trace a bundled model and show what was recorded.
# (Until the demo model and the viewer land, this uses a test checkpoint.)
set -eu
bin=${1:-build/llamadbg}
out=${TMPDIR:-/tmp}/llamadbg-demo.$$.safetensors
trap 'rm -f "$out"' EXIT
"$bin" trace -m tests/data/models/f32_gqa -t 254,17,201,88,3,142,64,230,9 -n 3 -o "$out"
"$bin" ls "$out"
