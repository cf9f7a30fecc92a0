#!/usr/bin/env bash
# The predicted-vs-measured chart of scripts/plot: a predicted report made from the
# sample (each ok case marked "predicted", its step scaled by a known factor) next to
# the sample itself. Checks the pairing (tests/plot/test_predicted.py), the chart files
# (PNG magic, SVG with the y = x line, the band and every case), that the other charts
# still draw beside it, and that asking for the chart with no prediction is exit 2 with
# one line. Exit 77 (ctest: skipped) without a Python that has matplotlib.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$(mktemp -d)}"
rm -rf "$out" && mkdir -p "$out"
py=""
for p in ${CPB_PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c "import matplotlib" >/dev/null 2>&1; then
    py=$p
    break
  fi
done
[[ -n $py ]] || { echo "SKIP: no Python with matplotlib"; exit 77; }
"$py" "$root/tests/plot/test_predicted.py"

sample="$root/tests/plot/sample_merged.json"
"$py" - "$sample" "$out/predicted.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cases = []
for i, c in enumerate(x for x in d["cases"] if x["status"] == "ok"):
    c = dict(c, predicted=True)
    c.pop("source", None)
    c["metrics"] = json.loads(json.dumps(c["metrics"]))
    st = c["metrics"]["step_seconds"]
    for k in ("median", "mean", "min", "max", "p10", "p90"):
        st[k] *= (0.8, 0.95, 1.1, 1.3)[i % 4]  # errors -20%, -5%, +10%, +30%
    cases.append(c)
prov = dict(d["sources"][0]["provenance"], model={"predicted": True})
json.dump({"schema": "cpbench-report", "schema_version": 1, "provenance": prov,
           "config": {}, "cases": cases}, open(sys.argv[2], "w"))
print(len(cases))
PY
"$root/scripts/plot" "$sample" "$out/predicted.json" --charts predicted,tflops \
  --out-dir "$out" > "$out/written.txt"
"$py" - "$out" <<'PY'
import os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
bad = []
for name in ("predicted_vs_measured", "tflops_vs_seqlen"):
    png, svg = os.path.join(out, name + ".png"), os.path.join(out, name + ".svg")
    if not os.path.exists(png) or open(png, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
        bad.append(f"{png}: missing or not a PNG")
    try:
        if not ET.parse(svg).getroot().tag.endswith("svg"):
            bad.append(f"{svg}: not an SVG")
    except (OSError, ET.ParseError) as e:
        bad.append(f"{svg}: {e}")
text = open(os.path.join(out, "predicted_vs_measured.svg"), encoding="utf-8").read()
# 42 ok cases: errors -20% and -5% (11 each), +10% and +30% (10 each); 21 inside the band.
for want in ("predicted = measured", "±15% of measured", "42 cases", "median |error| 20.0%",
             "21 within ±15%", "commit"):
    if want not in text:
        bad.append(f"predicted_vs_measured.svg lacks '{want}'")
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("predicted chart OK")
PY
# Asked for with measured cases only: exit 2, one line naming the chart.
set +e
"$root/scripts/plot" "$sample" --charts predicted --out-dir "$out/bad" > /dev/null 2> "$out/err.txt"
rc=$?
set -e
if [[ $rc != 2 || $(wc -l < "$out/err.txt") != 1 ]] || ! grep -q "predicted" "$out/err.txt"; then
  echo "FAIL: --charts predicted without predictions exited $rc:"; cat "$out/err.txt"; exit 1
fi
echo "no-prediction input OK: exit 2 with one line"
