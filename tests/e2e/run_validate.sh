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
# The conventions the numbers claim (reports/SCHEMA.md): the step time is the max over
# ranks, so it bounds every rank's own min/median/max; TFLOP/s come from the median step;
# FLOPs from the mask area; measured bytes equal the method's formula.
python3 - "$report" <<'PY' || fail "report numbers break the schema conventions"
import json, sys
d = json.load(open(sys.argv[1]))
P = d["provenance"]["world_size"]
bad = []
for c in d["cases"]:
    m, p = c["metrics"], c["params"]
    if m is None:
        continue
    st = m["step_seconds"]
    for r in m["ranks"]:
        for k in ("min", "median", "max"):
            if st[k] < r["step_seconds"][k]:
                bad.append(f"{c['id']}: step {k} {st[k]} < rank {r['rank']} {r['step_seconds'][k]}")
        if r["bytes_sent"] != r["expected_bytes_sent"] or r["bytes_received"] != r["expected_bytes_received"]:
            bad.append(f"{c['id']}: rank {r['rank']} bytes differ from the formula")
    factor = {"fwd": 1.0, "bwd": 2.5, "fwd+bwd": 3.5}[p["pass"]]
    flops = factor * 4 * m["mask_area"] * p["head_dim"] * p["heads_q"]
    if abs(m["flops"] - flops) > 1e-9 * flops:
        bad.append(f"{c['id']}: flops {m['flops']} != {flops}")
    tpr = m["flops"] / (st["median"] * P) / 1e12
    if abs(m["tflops_per_rank"] - tpr) > 1e-9 * tpr:
        bad.append(f"{c['id']}: tflops_per_rank {m['tflops_per_rank']} != {tpr}")
    if m["tflops_per_rank_mean_time"] < m["tflops_per_rank"] * (1 - 1e-12):
        bad.append(f"{c['id']}: mean-time TFLOP/s below the max-time one")
print("\n".join(bad) if bad else f"conventions hold for {len(d['cases'])} case(s)")
sys.exit(1 if bad else 0)
PY
cat "$log"
rm -f "$log"
