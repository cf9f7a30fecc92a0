#!/usr/bin/env bash
# The CPU variant of LongCA-bench's distributed grid (bench/configs/longca_dist_cpu.json)
# end to end under real mpirun, through the launcher: one launch per world size (2, 4),
# merged report and tables. Checks: exit 0, every case ok, the case count, and a
# mask_samples summary per document-mask group in each launch's report. Bounded: the
# config is sized to finish in well under a minute on a 2-core machine.
# Args: <cpbench harness> <repo root> <workdir>
set -euo pipefail
CLI=$1 ROOT=$2 WORK=$3
rm -rf "$WORK"
export OMP_NUM_THREADS=1
fail() { echo "FAIL: $*" >&2; exit 1; }
start=$SECONDS
"$ROOT/scripts/launch/mpirun_sweep.sh" -c "$ROOT/bench/configs/longca_dist_cpu.json" -o "$WORK" \
  --no-plots --cpbench "$CLI" >"$WORK.log" 2>&1 || { cat "$WORK.log"; fail "the sweep exited $?"; }
echo "longca_dist_cpu: $((SECONDS - start)) s"
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
merged = json.load(open(f"{work}/merged.json"))
cases = merged["cases"]
bad = [c["id"] for c in cases if c["status"] != "ok"]
assert not bad, f"cases not ok: {bad[:5]}"
# 2 worlds x 5 methods x (full, causal, 2 x document_long, 2 x causal_document_long) x 2 passes
assert len(cases) == 120, f"{len(cases)} cases, expected 120"
for w in (2, 4):
    run = json.load(open(f"{work}/run-p{w}.json"))
    groups = run.get("mask_samples", [])
    # 5 methods x 2 document masks x 2 passes, two seeds each
    assert len(groups) == 20, f"world {w}: {len(groups)} mask sample groups, expected 20"
    ids = {c["id"] for c in run["cases"]}
    for g in groups:
        assert g["samples"] == 2 and g["ok"] == 2 and "seed=*" in g["id"], g
        assert set(g["case_ids"]) <= ids, g
        s = g["step_seconds_median"]
        assert s["min"] <= s["mean"] <= s["max"], g
print("ok: 120 cases, 20 mask sample groups per launch")
# A group naming a case the report does not hold is refused by the validator.
run["mask_samples"][0]["case_ids"][0] = "no/such/case"
json.dump(run, open(f"{work}/bad_groups.json", "w"))
PY
set +e
"$CLI" report "$WORK/bad_groups.json" --format md >"$WORK/bad.txt" 2>&1
rc=$?
set -e
[[ $rc == 2 ]] || { cat "$WORK/bad.txt"; fail "a bad mask_samples group: exit $rc, expected 2"; }
grep -q "mask_samples\[0\].case_ids" "$WORK/bad.txt" || { cat "$WORK/bad.txt"; fail "group not named"; }
