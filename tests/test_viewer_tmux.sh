#!/bin/sh
# test_viewer_tmux.sh - the real binary in a real terminal (tmux): start,
# step to layers.0.scores, change head, dump the slice, check the .npy,
# resize (too small, then back), quit, and check the terminal came back.
#
#   LLAMADBG=build/llamadbg tests/test_viewer_tmux.sh
#
# Uses `llamadbg view --synth tiny` (no model needed). Skips (exit 0) when
# tmux is missing or the binary has no `view` command yet.
set -u
bin=${LLAMADBG:-build/llamadbg}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
if ! command -v tmux >/dev/null 2>&1; then
	echo "test_viewer_tmux: skipped (no tmux; apt-get install tmux)"
	exit 0
fi
if ! "$bin" view --help >/dev/null 2>&1; then
	echo "test_viewer_tmux: skipped ($bin has no view command)"
	exit 0
fi
tmp=$(mktemp -d)
sess=llv$$
passed=0
failed=0
cleanup() {
	tmux kill-session -t "$sess" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
screen() { tmux capture-pane -p -t "$sess"; }
# wait_for TEXT: poll the screen for up to 5 s
wait_for() {
	i=0
	while [ $i -lt 50 ]; do
		if screen | grep -qF -- "$1"; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
check() { # check NAME TEXT
	if wait_for "$2"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $1: screen lacks \"$2\":"
		screen | sed 's/^/    /'
	fi
}
ok() { # ok NAME CONDITION-EXIT-STATUS
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}

cd "$tmp" || exit 1
tmux new-session -d -s "$sess" -x 100 -y 30 \
	"sh -c '\"$bin\" view --synth tiny; echo EXIT=\$? > \"$tmp/exit\"; sleep 600'"
check "start screen" "tokens = tokenize(prompt)"
check "status line" "j/k step"
tmux send-keys -t "$sess" g
check "goto prompt" "goto: _"
tmux send-keys -t "$sess" -l "layers.0.scores"
tmux send-keys -t "$sess" Enter
check "stepped to scores" "values  query x key  at head 0/4"
check "mask shown" "-inf"
tmux send-keys -t "$sess" l
check "next head" "at head 1/4"
tmux send-keys -t "$sess" m
check "heatmap" "-inf (masked)"
tmux send-keys -t "$sess" d
check "dump message" "wrote layers.0.scores.head1.npy"
magic=$(od -An -c -N6 layers.0.scores.head1.npy 2>/dev/null | tr -d ' ')
ok "npy magic ($magic)" "$([ "$magic" = "223NUMPY" ] && echo 0 || echo 1)"
if python3 -c 'import numpy' 2>/dev/null; then
	python3 -c '
import numpy as np, sys
a = np.load("layers.0.scores.head1.npy")
assert a.shape == (6, 6) and a.dtype == np.float32, a.shape
assert np.isneginf(a[0, 1:]).all() and np.isfinite(a[5]).all()
' 
	ok "numpy loads the dump" $?
fi
tmux send-keys -t "$sess" d
check "no clobber" "layers.0.scores.head1-1.npy"
tmux resize-window -t "$sess" -x 30 -y 10
check "too small" "too small"
tmux resize-window -t "$sess" -x 100 -y 30
check "back after resize" "heatmap  query x key  at head 1/4"
tmux send-keys -t "$sess" q
i=0
while [ ! -f "$tmp/exit" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ok "quit with status 0" "$(grep -q EXIT=0 "$tmp/exit" 2>/dev/null && echo 0 || echo 1)"
alt=$(tmux display-message -p -t "$sess" '#{alternate_on}')
ok "terminal restored (alternate screen off: $alt)" "$([ "$alt" = 0 ] && echo 0 || echo 1)"
echo "test_viewer_tmux: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
