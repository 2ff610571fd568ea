# testlib.sh - sourced by the shell tests: the binary under test, a scratch
# directory removed on exit, and ok/bad/expect_error reporting.
#
#   . "$(dirname "$0")/testlib.sh"     (then cd where the test needs)
#   ...
#   tl_finish NAME
bin=${LLAMADBG:-build/llamadbg}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
tmp=$(mktemp -d /tmp/llamadbg-sh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

# expect_error NAME PATTERN CMD...: non-zero exit, exactly one stderr line matching PATTERN.
expect_error() {
	name=$1 pattern=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pattern" "$tmp/err"; then
		ok "$name"
	else
		bad "$name (exit $rc, $lines stderr lines: $(head -c 300 "$tmp/err"))"
	fi
}

# tl_finish NAME: the summary line and the exit status.
tl_finish() {
	[ "$fails" -eq 0 ] || { echo "$1: $fails failed"; exit 1; }
	echo "all $1 tests passed"
}
