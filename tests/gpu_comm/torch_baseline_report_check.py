"""The torch anchors' report writer against cpbench's own validator: builds the
report torch_baseline.py would write for two cases (one ok, one unsupported) from
its own functions, with durations given here instead of timed, and writes it.
Usage: torch_baseline_report_check.py REPO OUT.json  (then `cpbench validate OUT.json`)"""
import importlib.util
import os
import sys

repo, out = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location(
    "torch_baseline", os.path.join(repo, "scripts", "torch_baseline.py"))
tb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tb)

args = tb.parse_args(["--mask", "causal", "--mask", '{"kind":"sliding_window","window":64}',
                      "--seq", "512", "--heads", "8", "--kv-heads", "2", "--head-dim", "64",
                      "--iters", "4"])
cases = tb.load_cases(args)
assert [c["area"] for c in cases] == [512 * 513 // 2, 512 * 129 - 64 * 65], \
    [c["area"] for c in cases]
results = []
for c, status in zip(cases, ["ok", "unsupported"]):
    p = tb.case_params("torch_sdpa_flash", c, args)
    ok = status == "ok"
    results.append({"id": tb.case_id(p), "params": p, "status": status,
                    "reason": "" if ok else "SDPA takes no sliding_window mask",
                    "wall_seconds": 0.5,
                    "metrics": tb.case_metrics(c, [1e-3, 1.2e-3, 0.9e-3, 1.1e-3], 12345)
                    if ok else None,
                    "verification": None})
report = tb.write_report(out, "2026-11-23T00:00:00Z", {"kernels": ["torch_sdpa_flash"]},
                         results)
m = report["cases"][0]["metrics"]
assert abs(m["step_seconds"]["median"] - 1.05e-3) < 1e-12, m["step_seconds"]
assert abs(m["flops"] - 4.0 * cases[0]["area"] * 64 * 8) < 1, m["flops"]
assert report["summary"] == {"cases": 2, "ok": 1, "unsupported": 1, "error": 0, "timeout": 0,
                             "verification_failed": 0}, report["summary"]
print(f"wrote {out}: ids {[r['id'] for r in results]}")
