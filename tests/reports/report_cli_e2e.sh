#!/usr/bin/env bash
# report_cli_e2e.sh CPBENCH WORKDIR: `cpbench report` as a user runs it on two real
# one-rank reports, one ok and one oom. --format longca-csv writes LongCA-bench's header
# and a row per case, the oom case as a row with OOM as its values; --metric
# tflops_per_rank_mean_time fills the pivot; a bad --format or --metric is exit 2 with
# one line naming it.
set -uo pipefail
cpb="$1"; d="$2"
rm -rf "$d" && mkdir -p "$d"
fail() { echo "FAIL: $*"; exit 1; }
"$cpb" run --heads 2 --head-dim 16 --seq 256 --warmup 0 --iters 2 --mask causal \
  --out "$d/ok.json" > "$d/ok.log" 2>&1 || fail "ok run exited $? ($(tail -1 "$d/ok.log"))"
"$cpb" run --heads 65536 --kv-heads 1 --seq 1M --head-dim 1024 --iters 1 --mask causal \
  --out "$d/oom.json" > "$d/oom.log" 2>&1
[[ $? == 1 ]] || fail "oom run: want exit 1 (a case not ok)"
"$cpb" report "$d/ok.json" "$d/oom.json" --format longca-csv > "$d/longca.csv" 2> "$d/err" ||
  fail "report --format longca-csv exited $?: $(cat "$d/err")"
head -1 "$d/longca.csv" | grep -q '^baseline,masktype,world_size,wd,ulysses,ring,mean_tflops,mean_peak_mems,' ||
  fail "longca-csv header: $(head -1 "$d/longca.csv")"
[[ $(wc -l < "$d/longca.csv") == 3 ]] || fail "want header + 2 rows:"$'\n'"$(cat "$d/longca.csv")"
grep -q '^none,causal,1,fwd+bwd,.*,OOM,OOM,' "$d/longca.csv" ||
  fail "no OOM row:"$'\n'"$(cat "$d/longca.csv")"
grep -Eq '^none,causal,1,fwd\+bwd,[0-9]*,[0-9]*,[0-9.e+-]+,[0-9]+,' "$d/longca.csv" ||
  fail "no numeric row:"$'\n'"$(cat "$d/longca.csv")"
"$cpb" report "$d/ok.json" --metric tflops_per_rank_mean_time > "$d/md" 2> "$d/err" ||
  fail "report --metric tflops_per_rank_mean_time exited $?"
grep -q 'mean-over-ranks time' "$d/md" && grep -Eq '\| [0-9.e+-]+ \|$' "$d/md" ||
  fail "pivot of tflops_per_rank_mean_time:"$'\n'"$(cat "$d/md")"
for bad in "--format xlsx" "--metric tflops_mean"; do
  "$cpb" report "$d/ok.json" $bad > /dev/null 2> "$d/err"
  rc=$?
  word=${bad#* }
  [[ $rc == 2 && $(wc -l < "$d/err") == 1 ]] && grep -q -- "$word" "$d/err" ||
    fail "report $bad: exit $rc, stderr: $(cat "$d/err")"
done
echo "report CLI OK"
