#!/bin/sh
# expect_exit.sh CODE REGEX CMD...: runs CMD and passes iff it exits with CODE and its
# stderr matches the extended regex REGEX. For CODE 2 (bad input) stderr must also be
# exactly one line: the message that names the bad value and what is allowed.
code="$1"; regex="$2"; shift 2
err=$(mktemp); out=$(mktemp)
"$@" >"$out" 2>"$err"
rc=$?
fail() { echo "FAIL: $*"; echo "--- command: $*"; echo "--- stdout:"; cat "$out"; echo "--- stderr:"; cat "$err"; rm -f "$err" "$out"; exit 1; }
[ "$rc" -eq "$code" ] || fail "exit status $rc, expected $code"
grep -Eq -- "$regex" "$err" || fail "stderr does not match /$regex/"
if [ "$code" -eq 2 ]; then
  # Under mpirun (CPB_E2E_LAUNCHER=1) the launcher adds its own notice; cpbench itself
  # must still print exactly one line, from one rank.
  ours=$(grep -c '^cpbench' "$err")
  [ "$ours" -eq 1 ] || fail "stderr has $ours cpbench lines, expected 1"
  lines=$(grep -c '' "$err")
  [ "${CPB_E2E_LAUNCHER:-0}" = 1 ] || [ "$lines" -eq 1 ] || fail "stderr has $lines lines, expected 1"
fi
echo "ok: exit $rc, stderr: $(head -c 300 "$err")"
rm -f "$err" "$out"
