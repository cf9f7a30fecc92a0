#!/bin/sh
# run_validate.sh CPBENCH OUT REGEX CMD...: runs CMD (a cpbench run writing OUT, maybe
# under mpirun); passes iff it exits 0, its stdout matches REGEX, `cpbench validate OUT`
# accepts the report, and the journal OUT.jsonl holds a header plus one line per case.
cpbench="$1"; report="$2"; regex="$3"; shift 3
rm -f "$report" "$report.jsonl"
log=$(mktemp)
"$@" >"$log" 2>&1
rc=$?
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$log"; rm -f "$log"; exit 1; }
[ "$rc" -eq 0 ] || fail "exit status $rc, expected 0"
grep -Eq -- "$regex" "$log" || fail "output does not match /$regex/"
"$cpbench" validate "$report" || fail "report $report does not validate"
cases=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$report" 2>/dev/null \
  || grep -c '"status"' "$report")
lines=$(grep -c '' "$report.jsonl")
[ "$lines" -eq $((cases + 1)) ] || fail "journal has $lines lines for $cases cases (expected header + one per case)"
cat "$log"
rm -f "$log"
