#!/bin/sh
# journal_inputs.sh CPBENCH WORKDIR: journals as inputs. (1) A run's journal, cut
# short as a watchdog abort leaves it, gives a report through `cpbench report`.
# (2) A file that is not a journal given to `sweep --resume` is bad input (exit 2) and
# stays byte-identical. (3) A journal with a garbled middle line: exit 2 naming the
# file and the line.
cpb="$1"; work="$2"
d="$work/journal_inputs"
rm -rf "$d"; mkdir -p "$d"
log="$d/log"
fail() { echo "FAIL: $*"; echo "--- log:"; cat "$log"; exit 1; }

# (1) Two finished cases; drop the report and keep the header plus the first case,
# plus a torn line, as a job stopped mid-append leaves them.
"$cpb" run --mask full,causal --seq 64 --heads 2 --head-dim 16 --warmup 0 --iters 2 \
  --out "$d/run.json" >"$log" 2>&1 || fail "run failed"
head -n 2 "$d/run.json.jsonl" >"$d/cut.jsonl"
printf '{"id":"torn","sta' >>"$d/cut.jsonl"
"$cpb" report "$d/cut.jsonl" --format csv --out "$d/from_journal.json" >"$d/csv" 2>"$log" ||
  fail "report from a journal failed"
grep -q "torn last line" "$log" || fail "no warning about the torn last line"
rows=$(grep -c 'full' "$d/csv")
[ "$rows" -eq 1 ] || fail "expected 1 csv row for the finished case, got $rows: $(cat "$d/csv")"
grep -q 'causal' "$d/csv" && fail "case not in the cut journal appears in the report"
"$cpb" report "$d/from_journal.json" >"$log" 2>&1 || fail "merged document from a journal does not read back"

# (2) --resume on a Markdown file: exit 2, nothing appended.
cfg="$d/sweep.json"
printf '{"name": "t", "method": ["none"], "mask": ["causal"], "seqlen": [64], "heads": [2], "head_dim": [16], "world": [1], "iterations": 2, "warmup": 0}\n' >"$cfg"
printf '# Notes\n\nNot a journal.\n' >"$d/README_copy.md"
cp "$d/README_copy.md" "$d/README_orig.md"
"$cpb" sweep "$cfg" --out "$d/sweep_out.json" --resume "$d/README_copy.md" >"$log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "sweep --resume README: exit $rc, expected 2"
grep -q "README_copy.md.*is not a cpbench journal" "$log" || fail "message does not say it is not a journal"
cmp -s "$d/README_copy.md" "$d/README_orig.md" || fail "--resume modified a file that is not a journal"

# (3) A garbled line in the middle of a journal.
{ head -n 1 "$d/run.json.jsonl"; echo 'garbage{'; sed -n 2p "$d/run.json.jsonl"; } >"$d/bad.jsonl"
"$cpb" report "$d/bad.jsonl" >"$log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "report of a garbled journal: exit $rc, expected 2"
grep -q "bad.jsonl' line 2" "$log" || fail "message does not name the file and line 2"
"$cpb" sweep "$cfg" --out "$d/sweep2.json" --resume "$d/bad.jsonl" >"$log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "sweep --resume garbled journal: exit $rc, expected 2"
grep -q "bad.jsonl' line 2" "$log" || fail "sweep message does not name the file and line 2"
echo "ok: report from a cut journal, --resume left a non-journal alone, garbled line named"
