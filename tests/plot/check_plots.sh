#!/usr/bin/env bash
# Renders every chart of scripts/plot from the sample report (a real 1- and 2-rank CPU
# sweep, merged) and checks each file: PNG magic bytes and a non-trivial size, SVG
# that parses as XML with an <svg> root. Exit 77 (ctest: skipped) without matplotlib.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$(mktemp -d)}"
rm -rf "$out" && mkdir -p "$out"
sample="$root/tests/plot/sample_merged.json"
set +e
"$root/scripts/plot" "$sample" --out-dir "$out" > "$out/written.txt"
rc=$?
set -e
if [[ $rc == 3 ]]; then echo "SKIP: no Python with matplotlib"; exit 77; fi
[[ $rc == 0 ]] || { echo "FAIL: scripts/plot exited $rc"; exit 1; }
# A "new" run 10% faster than the sample, for the speed-up chart.
/usr/bin/env python3 - "$sample" "$out/faster.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    if c["status"] == "ok":
        st = c["metrics"]["step_seconds"]
        for k in ("median", "mean", "min", "max", "p10", "p90"):
            st[k] *= 0.9
json.dump(d, open(sys.argv[2], "w"))
PY
"$root/scripts/plot" "$out/faster.json" --base "$sample" --charts speedup --out-dir "$out" >> "$out/written.txt"
/usr/bin/env python3 - "$out" <<'PY'
import os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
want = ["tflops_vs_seqlen", "cp_scaling", "memory_vs_seqlen", "time_breakdown", "speedup"]
bad = []
for name in want:
    png, svg = os.path.join(out, name + ".png"), os.path.join(out, name + ".svg")
    if not os.path.exists(png) or open(png, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
        bad.append(f"{png}: missing or not a PNG")
    elif os.path.getsize(png) < 10000:
        bad.append(f"{png}: only {os.path.getsize(png)} bytes")
    try:
        root = ET.parse(svg).getroot()
        if not root.tag.endswith("svg"):
            bad.append(f"{svg}: root is {root.tag}")
        text = open(svg).read()
        if "commit" not in text:
            bad.append(f"{svg}: no provenance footnote")
    except (OSError, ET.ParseError) as e:
        bad.append(f"{svg}: {e}")
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print(f"plots OK: {len(want)} charts x PNG+SVG in {out}")
PY
# Bad input: exit 2 and one line naming the bad file or value, never a traceback.
/usr/bin/env python3 - "$sample" "$out/bad_value.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
next(c for c in d["cases"] if c["status"] == "ok")["metrics"]["step_seconds"]["median"] = "x"
json.dump(d, open(sys.argv[2], "w"))
PY
expect_bad() {  # expect_bad WORD ARGS...: exit 2, one stderr line that names WORD
  local word=$1; shift
  set +e
  "$root/scripts/plot" "$@" > /dev/null 2> "$out/err.txt"
  local rc=$?
  set -e
  if [[ $rc != 2 || $(wc -l < "$out/err.txt") != 1 ]] || ! grep -q -- "$word" "$out/err.txt"; then
    echo "FAIL: scripts/plot $* exited $rc, stderr:"; cat "$out/err.txt"; exit 1
  fi
}
expect_bad "step_seconds.median" "$out/bad_value.json" --out-dir "$out/bad"
expect_bad "no_such_report.json" "$out/no_such_report.json" --out-dir "$out/bad"
expect_bad "written.txt/sub" "$sample" --out-dir "$out/written.txt/sub"
echo "bad input OK: exit 2 with one line"
