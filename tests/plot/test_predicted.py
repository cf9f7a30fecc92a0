"""Pairing of the predicted-vs-measured chart (scripts/plot --charts predicted): which
cases pair, and the error convention (predicted - measured) / measured.
Run by tests/plot/check_predicted.sh with a Python that has matplotlib."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import plot_reports as pr  # noqa: E402


def case(method, mask, step, predicted=False, seq=4096, iters=3, extra=None):
    params = {"method": method, "kernel": "cpu_flash", "sharding": "zigzag",
              "placement": "contiguous", "mask": {"kind": mask}, "seq": seq, "heads_q": 8,
              "heads_kv": 8, "head_dim": 64, "dtype": "fp32", "pass": "fwd+bwd",
              "world_size": 2, "iters": iters,
              "degrees": {"ulysses": 1, "ring": 2, "inner_ring": 1}}
    params.update(extra or {})
    c = {"status": "ok", "params": params, "metrics": {"step_seconds": {"median": step}}}
    if predicted:
        c["predicted"] = True
    return c


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)


def test_pairs_and_error_convention():
    measured = [case("ring_p2p", "causal", 0.200, extra={"device": "cpu"}),
                case("ring_p2p", "full", 0.400, extra={"device": "cpu"}),
                case("ulysses", "causal", 0.100, extra={"device": "cpu"})]
    # The model's cases: other run controls (iters 1), no "device" param; one at another S.
    predicted = [case("ring_p2p", "causal", 0.180, True, iters=1),
                 case("ring_p2p", "full", 0.500, True, iters=1),
                 case("ulysses", "causal", 0.100, True, seq=8192, iters=1)]
    m, p = pr.split_predicted(measured + predicted)
    check(len(m) == 3 and len(p) == 3, f"split: {len(m)} measured, {len(p)} predicted")
    rows = pr.predicted_pairs(m, p)
    check(len(rows) == 2, f"want 2 pairs (ulysses at S=8192 has no measurement), got {rows}")
    errs = {r["mask"]: r["error"] for r in rows}
    check(abs(errs["causal"] - (-10.0)) < 1e-9, f"causal error {errs['causal']}, want -10%")
    check(abs(errs["full"] - 25.0) < 1e-9, f"full error {errs['full']}, want +25%")
    check(rows[0]["error"] <= rows[1]["error"], "rows sorted by error")
    check(all(r["method"] == "ring_p2p/zigzag" for r in rows), f"labels: {rows}")


def test_nothing_pairs_without_predictions():
    measured = [case("ring_p2p", "causal", 0.2)]
    m, p = pr.split_predicted(measured)
    check(p == [] and pr.predicted_pairs(m, p) == [], "no predicted case, no pair")


if __name__ == "__main__":
    test_pairs_and_error_convention()
    test_nothing_pairs_without_predictions()
    print("plot predicted pairs OK")
