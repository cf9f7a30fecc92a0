#!/bin/sh
# expect_stdout.sh RE1 [RE2 ...] -- CMD...: runs CMD; passes iff it exits 0 and every
# extended regex matches some line of its stdout (line-wise grep, so patterns stay
# simple: ctest's own multi-line regexes backtrack exponentially).
n=0
while [ "$1" != "--" ]; do n=$((n + 1)); eval "re_$n=\$1"; shift; done
shift
out=$(mktemp)
"$@" >"$out" 2>&1
rc=$?
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$out"; rm -f "$out"; exit 1; }
[ "$rc" -eq 0 ] || fail "exit status $rc, expected 0"
i=1
while [ "$i" -le "$n" ]; do
  eval "re=\$re_$i"
  grep -Eq -- "$re" "$out" || fail "no line matches /$re/"
  i=$((i + 1))
done
cat "$out"
rm -f "$out"
