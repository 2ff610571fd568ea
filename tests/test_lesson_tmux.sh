#!/bin/sh
# test_lesson_tmux.sh - lesson 1 end to end in a real terminal (tmux):
# open it, step to the checkpoint, answer wrong (hint), answer right,
# finish, quit; then `llamadbg lesson` shows the saved progress. HOME and
# XDG_STATE_HOME point into a temp dir. Skips without tmux.
set -u
bin=${LLAMADBG:-build/llamadbg}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v tmux >/dev/null 2>&1; then
	echo "test_lesson_tmux: skipped (no tmux)"
	exit 0
fi
tmp=$(mktemp -d)
sess=lls$$
failed=0
cleanup() {
	tmux kill-session -t "$sess" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
screen() { tmux capture-pane -p -t "$sess"; }
check() { # check NAME TEXT: poll up to 10 s
	i=0
	while [ $i -lt 100 ]; do
		screen | grep -qF -- "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	failed=$((failed + 1))
	echo "FAIL: $1: screen lacks \"$2\":"
	screen | sed 's/^/    /'
}
# the right answer comes from the model's config, not from this script
layers=$(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' "$src/data/demo/config.json")
dim=$(sed -n 's/.*"hidden_size": *\([0-9]*\).*/\1/p' "$src/data/demo/config.json")
export HOME="$tmp/home" XDG_STATE_HOME="$tmp/state"
mkdir -p "$HOME"
cd "$src" || exit 1
tmux new-session -d -s "$sess" -x 150 -y 40 \
	"env HOME='$HOME' XDG_STATE_HOME='$XDG_STATE_HOME' sh -c '\"$bin\" lesson 1; echo EXIT=\$? > \"$tmp/exit\"; sleep 600'"
check "lesson opens" "The model at a glance  (1/4)"
check "viewer beside it" "tokens = tokenize(prompt)"
tmux send-keys -t "$sess" Enter
check "step 2" "The config sizes everything"
tmux send-keys -t "$sess" Enter
check "checkpoint" "Checkpoint: how deep?"
tmux send-keys -t "$sess" Enter
check "answer line" "answer> _"
tmux send-keys -t "$sess" -l "$((layers + 1))"
tmux send-keys -t "$sess" Enter
check "wrong answer gets a hint" "Hint: Count the layers"
tmux send-keys -t "$sess" Enter
check "answer line again" "answer> _"
tmux send-keys -t "$sess" -l "$layers"
tmux send-keys -t "$sess" Enter
check "right answer" "Right: $layers"
tmux send-keys -t "$sess" Enter
check "step 4" "Checkpoint: the stream's width"
tmux send-keys -t "$sess" Enter
tmux send-keys -t "$sess" -l "$dim"
tmux send-keys -t "$sess" Enter
check "second answer" "Right: $dim"
tmux send-keys -t "$sess" Enter
check "lesson complete" "Lesson complete"
tmux send-keys -t "$sess" q
i=0
while [ ! -f "$tmp/exit" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ "$(cat "$tmp/exit" 2>/dev/null)" != "EXIT=0" ]; then
	failed=$((failed + 1))
	echo "FAIL: lesson exit status: $(cat "$tmp/exit" 2>/dev/null)"
fi
if ! grep -q "^01-glance 3 1 c$" "$XDG_STATE_HOME/llamadbg/lessons" 2>/dev/null; then
	failed=$((failed + 1))
	echo "FAIL: progress file: $(cat "$XDG_STATE_HOME/llamadbg/lessons" 2>&1)"
fi
out=$("$bin" lesson)
if ! echo "$out" | grep -q "01-glance.*\[done\]"; then
	failed=$((failed + 1))
	echo "FAIL: \`llamadbg lesson\` does not show the progress:"
	echo "$out" | head -5
fi

# The same lesson on another model (-m, here a GGUF file): the answers
# are that model's.
tmux kill-session -t "$sess" 2>/dev/null
rm -f "$tmp/exit"
g=tests/data/gguf/tiny-f32.gguf
glayers=$("$bin" info "$g" | sed -n 's/^config .*, \([0-9]*\) layers,.*/\1/p')
tmux new-session -d -s "$sess" -x 150 -y 40 \
	"env HOME='$HOME' XDG_STATE_HOME='$XDG_STATE_HOME/other' sh -c '\"$bin\" lesson 1 -m $g; echo EXIT=\$? > \"$tmp/exit\"; sleep 600'"
check "lesson -m opens" "The model at a glance  (1/4)"
tmux send-keys -t "$sess" Enter
tmux send-keys -t "$sess" Enter
check "lesson -m checkpoint" "Checkpoint: how deep?"
tmux send-keys -t "$sess" Enter
check "lesson -m answer line" "answer> _"
tmux send-keys -t "$sess" -l "$glayers"
tmux send-keys -t "$sess" Enter
check "lesson -m: the GGUF model's answer" "Right: $glayers"
tmux send-keys -t "$sess" q
i=0
while [ ! -f "$tmp/exit" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ "$(cat "$tmp/exit" 2>/dev/null)" != "EXIT=0" ] || [ "$glayers" = "$layers" ] || [ -z "$glayers" ]; then
	failed=$((failed + 1))
	echo "FAIL: lesson -m: exit $(cat "$tmp/exit" 2>/dev/null), layers '$glayers' vs the demo's $layers"
fi
# A lesson with its own "model:" (lesson 17, the demo's Q4_K_M copy) opens
# on that model without -m; the answer comes from `ls` of a trace of it.
tmux kill-session -t "$sess" 2>/dev/null
rm -f "$tmp/exit"
"$bin" trace -m data/demo/model-q4_k_m.gguf -t 4096,259 -o "$tmp/q.st" >/dev/null 2>&1
wq=$("$bin" ls "$tmp/q.st" | sed -n 's/^  layers* 0[-0-9]*: q \([A-Z0-9_]*\) .*/\1/p')
tmux new-session -d -s "$sess" -x 150 -y 40 \
	"env HOME='$HOME' XDG_STATE_HOME='$XDG_STATE_HOME/q' sh -c '\"$bin\" lesson 17; echo EXIT=\$? > \"$tmp/exit\"; sleep 600'"
check "lesson 17 opens" "Quantization: the same model in fewer bits"
check "lesson 17: the viewer names the matrix and its type" "wq $wq"
tmux send-keys -t "$sess" Enter
check "lesson 17 answer line" "answer> _"
tmux send-keys -t "$sess" -l "$(echo "$wq" | tr 'A-Z' 'a-z')"
tmux send-keys -t "$sess" Enter
check "lesson 17: the type, in any case" "Right: $wq"
tmux send-keys -t "$sess" q
i=0
while [ ! -f "$tmp/exit" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ "$(cat "$tmp/exit" 2>/dev/null)" != "EXIT=0" ] || [ -z "$wq" ]; then
	failed=$((failed + 1))
	echo "FAIL: lesson 17: exit $(cat "$tmp/exit" 2>/dev/null), wq type '$wq'"
fi
if [ $failed -ne 0 ]; then
	echo "test_lesson_tmux: $failed failed"
	exit 1
fi
echo "test_lesson_tmux: ok"
