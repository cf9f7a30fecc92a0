#!/usr/bin/env python3
"""After a fault and a resume: every case of the launch is in the report exactly once, and
every case the journal held before the resume is there unchanged (kept, not re-run).

    check_resume.py REPORT EXPECTED_CASES JOURNAL_BEFORE [MAX_TIMEOUTS]

Cases must be ok, except up to MAX_TIMEOUTS (default 0) recorded as "timeout" (a case
the watchdog stopped is journaled as such and a resume skips it). Prints the number of
timeouts last, alone on its line, for the caller's exit-status check.
"""
import json
import sys


def journal_cases(path):
    out = {}
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            try:
                r = json.loads(raw)
            except ValueError:
                continue  # a torn line: not a finished case
            if isinstance(r, dict) and "id" in r and "status" in r:
                out[r["id"]] = r
    return out


report = json.load(open(sys.argv[1]))
expected = int(sys.argv[2])
ids = [c["id"] for c in report["cases"]]
dupes = sorted({i for i in ids if ids.count(i) > 1})
assert not dupes, f"cases present more than once: {dupes}"
assert len(ids) == expected, f"{len(ids)} cases in the report, expected {expected}"
max_timeouts = int(sys.argv[4]) if len(sys.argv) > 4 else 0
timeouts = [c["id"] for c in report["cases"] if c["status"] == "timeout"]
bad = [(c["id"], c["status"]) for c in report["cases"] if c["status"] not in ("ok", "timeout")]
assert not bad, f"cases not ok after resume: {bad}"
assert len(timeouts) <= max_timeouts, f"{len(timeouts)} timeout(s), at most {max_timeouts}"
kept = 0
by_id = {c["id"]: c for c in report["cases"]}
for cid, before in journal_cases(sys.argv[3]).items():
    assert cid in by_id, f"finished case {cid} lost by the resume"
    assert by_id[cid] == before, f"finished case {cid} was run again or changed"
    kept += 1
print(f"{len(ids)} cases, each once; {kept} finished before the fault kept unchanged; "
      f"{len(timeouts)} timeout(s)")
print(len(timeouts))
