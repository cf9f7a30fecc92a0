"""Series keys of scripts/plot: each assertion fails on the keys the script had before
(series keyed by method and mask only; method labelled by its exact degrees).
Run by tests/plot/check_series.sh with a Python that has matplotlib."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import plot_reports as pr  # noqa: E402


def case(method, world, ulysses, ring, tokens_per_rank=1024, pass_="fwd", tflops=1.0,
         mask="causal"):
    return {
        "status": "ok",
        "params": {"method": method, "kernel": "cpu_flash", "sharding": "zigzag",
                   "placement": "contiguous", "mask": {"kind": mask},
                   "seq": tokens_per_rank * world, "heads_q": 8, "heads_kv": 8,
                   "head_dim": 64, "dtype": "fp32", "pass": pass_, "world_size": world,
                   "degrees": {"ulysses": ulysses, "ring": ring, "inner_ring": 1}},
        "metrics": {"tflops_total": tflops * world, "tflops_per_rank": tflops},
    }


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)


def test_passes_are_separate_lines():
    # Strong scaling at S = 4096: fwd and bwd of one method and mask at P = 2, 4.
    cases = [case("ring_p2p", w, 1, w, 4096 // w, p, t)
             for w in (2, 4) for p, t in (("fwd", 1.0), ("bwd", 3.0))]
    by_seq, _, _ = pr.scaling_series(cases)
    lines = by_seq[4096]
    check(len(lines) == 2, f"fwd and bwd must be two lines, got {sorted(lines)}")
    for key, pts in lines.items():
        check(len(pts) == 2 and len({y / w for w, y in pts}) == 1,
              f"line {key} mixes passes: {pts}")
        check(("fwd" in key[0]) != ("bwd" in key[0]), f"line {key} does not name its pass")


def test_rule_driven_degrees_stay_one_weak_line():
    # Weak scaling at 1024 tokens per rank; usp with u = min(P, 2), ulysses with u = P.
    cases = [case("usp", w, min(w, 2), w // min(w, 2)) for w in (2, 4, 8)]
    cases += [case("ulysses", w, w, 1) for w in (2, 4, 8)]
    _, weak, _ = pr.scaling_series(cases)
    methods = {label[0]: pts for (label, tpr), pts in weak.items()}
    check(set(methods) == {"usp/zigzag", "ulysses/zigzag"},
          f"weak-scaling lines: want usp and ulysses once each, got {sorted(methods)}")
    check(all(sorted(w for w, _ in pts) == [2, 4, 8] for pts in methods.values()),
          f"each weak line must span P = 2, 4, 8: {methods}")


def test_layout_choices_stay_apart():
    # Two usp splits at each world: told apart by u (never by r, since U x R = P).
    cases = [case("usp", w, u, w // u) for w in (2, 4) for u in (1, 2)]
    by_seq, _, _ = pr.scaling_series([dict(c, params=dict(c["params"], seq=4096))
                                      for c in cases])
    names = sorted(label[0] for label in by_seq[4096])
    check(names == ["usp u=1/zigzag", "usp u=2/zigzag"], f"usp layouts: {names}")


if __name__ == "__main__":
    test_passes_are_separate_lines()
    test_rule_driven_degrees_stay_one_weak_line()
    test_layout_choices_stay_apart()
    print("plot series OK")
