#!/usr/bin/env bash
# `cpbench plan --measure` under real mpirun, 2 ranks, cpu_flash at a tiny size: a kernel
# profile and a topology calibrated here, the top 3 configurations planned, run through
# the case runner and printed beside their predictions; both reports valid, the same
# case ids in the same order, only the predicted one marked predicted; rank 0 alone
# prints. Then the launch-size check under mpirun (exit 2 naming both numbers).
#   plan_measure.sh CPBENCH WORKDIR MPIEXEC [MPIEXEC FLAGS...]
set -euo pipefail
cpb=$1 work=$2
shift 2
mpi=("$@")
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; for f in out.txt err.txt; do [[ -f $f ]] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

shape=(--heads 2 --head-dim 16 --dtype fp32)
"$cpb" calibrate --kernel cpu_flash --max-seq 512 --reps 1 "${shape[@]}" --out kernel.json \
  2> calibrate.log || fail "calibrate --kernel"
"${mpi[@]}" -np 2 "$cpb" calibrate --comm --reps 1 --out comm.json 2>> calibrate.log ||
  fail "calibrate --comm"
# The topology says whether NCCL was measured; a GPU-less run says it was not.
grep -q "NCCL" comm.json || fail "comm.json does not say whether NCCL was measured"
if ! grep -q "over NCCL on device buffers" comm.json; then
  grep -q "NCCL not measured" calibrate.log || fail "calibrate --comm did not say NCCL was not measured"
fi
# Each pass's rate coordinate is measured (S/2 rows x S keys against the square table),
# its evidence kept; median_profile.py decides again from the median of the evidence.
python3 - "$(dirname "$0")/../../scripts/perf/median_profile.py" <<'PY' || fail "rate_by evidence"
import copy, json, subprocess, sys
k = json.load(open("kernel.json"))
ev = {m["pass"]: m for m in k["measurements"] if "rate_by_error" in m}
assert set(ev) == {"fwd", "bwd"}, ev
for e in k["entries"]:
    assert e["rate_by"] == ev[e["pass"]]["rate_by"] in ("keys_per_row", "seq_q"), e
    rect = [m for m in k["measurements"] if m["pass"] == e["pass"] and "seq_q" in m]
    assert rect and all(2 * m["seq_q"] == m["seq"] for m in rect), rect
def with_errors(keys, rows):
    c = copy.deepcopy(k)
    for m in c["measurements"]:
        if "rate_by_error" in m:
            m["rate_by_error"] = {"keys_per_row": keys, "seq_q": rows}
    return c
for name, (keys, rows) in {"a": (0.1, 0.2), "b": (0.3, 0.1), "c": (0.3, 0.2)}.items():
    json.dump(with_errors(keys, rows), open(f"{name}.json", "w"))
subprocess.run([sys.executable, sys.argv[1], "median.json", "a.json", "b.json", "c.json"], check=True)
# medians: keys 0.3, rows 0.2: the rows are closer
assert all(e["rate_by"] == "seq_q" for e in json.load(open("median.json"))["entries"])
PY
plan=(plan --world 2 --kernel cpu_flash --kernel-profile kernel.json --topology comm.json
      --seq 512 "${shape[@]}" --mask causal)

"${mpi[@]}" -np 2 -x OMP_NUM_THREADS=1 "$cpb" "${plan[@]}" --measure 3 --warmup 0 --iters 2 \
  --out measured.json > out.txt 2> err.txt || fail "plan --measure exited $?"
grep -q "predicted ms" out.txt || fail "no side-by-side table"
rows=$(grep -cE '^ +[123]  .* [0-9.]+ +[0-9.]+ +[-+][0-9.]+% +[123]  (yes|no)$' out.txt || true)
[[ $rows == 3 ]] || fail "$rows measured rows, want 3"
[[ $(grep -c "why #1" out.txt) == 1 ]] || fail "the plan is not printed exactly once"
grep -q "pairs the measurement orders as the model" out.txt || fail "no ordering summary"
"$cpb" validate measured.json measured.predicted.json > /dev/null || fail "a report is invalid"
python3 - <<'PY' || fail "reports do not pair, or the table does not show them"
import json, re
m = json.load(open("measured.json"))
p = json.load(open("measured.predicted.json"))
assert [c["id"] for c in m["cases"]] == [c["id"] for c in p["cases"]], "ids differ"
assert len(m["cases"]) == 3, len(m["cases"])
assert all(c["status"] == "ok" and "predicted" not in c for c in m["cases"]), "measured cases"
assert all(c["predicted"] is True for c in p["cases"]), "predicted marks"
assert p["provenance"]["model"]["kernel_profile"].endswith("kernel.json")
assert m["provenance"]["world_size"] == 2 and m["config"]["plan_measure"]["top"] == 3
# The printed table is the two reports side by side: predicted, measured, error, rank.
rows = [l.split() for l in open("out.txt") if re.match(r"^ +[123]  .*%", l)]
assert len(rows) == 3, rows
steps = [c["metrics"]["step_seconds"]["median"] for c in m["cases"]]
for i, r in enumerate(rows):
    pred = p["cases"][i]["metrics"]["step_seconds"]["median"]
    assert abs(float(r[-5]) - pred * 1e3) < 1e-3, (r, pred)
    assert abs(float(r[-4]) - steps[i] * 1e3) < 1e-3, (r, steps[i])
    assert abs(float(r[-3].rstrip("%")) - 100 * (pred - steps[i]) / steps[i]) < 0.06, r
    assert int(r[-2]) == 1 + sum(s < steps[i] for s in steps), (r, steps)
PY

# Launched on 2 ranks for a plan of 1: exit 2 naming both, printed once.
set +e
"${mpi[@]}" -np 2 "$cpb" plan --world 1 --kernel cpu_flash --kernel-profile kernel.json \
  --topology comm.json --seq 512 "${shape[@]}" --measure 1 > out.txt 2> err.txt
rc=$?
set -e
[[ $rc == 2 ]] || fail "world mismatch exited $rc, want 2"
[[ $(grep -c -- "--world 1 but this launch has 2 rank" err.txt) == 1 ]] ||
  fail "world mismatch: want one line naming --world 1 and 2 ranks"
echo "plan --measure OK: 3 configurations measured on 2 ranks, reports pair"
