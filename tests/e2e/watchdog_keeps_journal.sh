#!/bin/sh
# watchdog_keeps_journal.sh CPBENCH WORKDIR LAUNCHER...: a run whose second case takes
# far longer than --timeout must stop within bounded time with exit 124 and a message
# naming the rank and the case, and its journal must keep the first, finished case
# and give a report through `cpbench report <journal>`.
cpbench="$1"; work="$2"; shift 2
report="$work/watchdog.json"
rm -f "$report" "$report.jsonl"
log=$(mktemp)
start=$(date +%s)
"$@" "$cpbench" run --seq 64,16384 --mask full --heads 8 --head-dim 64 --iters 50 --warmup 0 \
  --method ring_p2p --timeout 3 --out "$report" >"$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
fail() { echo "FAIL: $*"; echo "--- output:"; cat "$log"; rm -f "$log"; exit 1; }
[ "$rc" -eq 124 ] || fail "exit status $rc, expected 124 (watchdog)"
[ "$elapsed" -lt 60 ] || fail "took ${elapsed}s to stop"
grep -Eq "\[rank [0-9]+@.*watchdog: case '.*S16384.*' exceeded 3" "$log" || fail "no watchdog message naming rank and case"
[ ! -e "$report" ] || fail "a report was written for an aborted run"
# Header, the finished case, and (when rank 0's watchdog fired before another rank's
# stopped the job) a "timeout" record of the stalled case.
lines=$(grep -c '' "$report.jsonl")
[ "$lines" -eq 2 ] || [ "$lines" -eq 3 ] || fail "journal has $lines lines, expected 2 or 3"
sed -n 2p "$report.jsonl" | grep -q '"status":"ok"' || fail "finished case not ok in the journal"
if [ "$lines" -eq 3 ]; then
  sed -n 3p "$report.jsonl" | grep -q '"status":"timeout"' || fail "third journal line is not the timeout record"
  sed -n 3p "$report.jsonl" | grep -q 'S16384' || fail "timeout record does not name the stalled case"
fi
# The journal of the stopped run still gives a report.
"$cpbench" report "$report.jsonl" --format csv >"$log.csv" 2>>"$log" || fail "cpbench report of the journal failed"
grep -q 'S\?64\|,64,' "$log.csv" || fail "report of the journal lacks the finished case"
rm -f "$log.csv"
echo "ok: stopped after ${elapsed}s with exit 124; journal kept the finished case"
cat "$log"
rm -f "$log"
