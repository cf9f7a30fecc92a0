#!/usr/bin/env python3
"""Predicted vs measured step time, from the reports model_validation.sh writes.

    model_errors.py MEASURED.json PREDICTED.json [MEASURED.json PREDICTED.json ...]

Prints, per pair and over all pairs: a markdown table of every case (measured
median step, predicted step, error), the median absolute error, the worst case, and
pair ordering: for every two configurations of the same (mask, S, P, ranks per host), whether the
model orders their step times as the measurement does. Pairs the model calls a tie
(equal predicted steps to 0.01%: the same schedule under two names) are left out.
Only the standard library: runs with any python3.
"""
import itertools
import json
import statistics
import sys


def configuration(case):
    p = case["params"]
    return f'{p["method"]} ({p.get("layout", "")})'


def group_key(case):
    """(mask, S, P, ranks per host): a launch over two hosts is its own group."""
    p = case["params"]
    return (p["mask"]["kind"], p["seq"], p["world_size"], p.get("ranks_per_host", 0))


def steps(path):
    report = json.load(open(path))
    out = {}
    for c in report["cases"]:
        if c.get("status") == "ok":
            out[c["id"]] = (c, c["metrics"]["step_seconds"]["median"])
    return out


def compare(measured_path, predicted_path):
    measured, predicted = steps(measured_path), steps(predicted_path)
    rows = []
    for cid, (case, m) in measured.items():
        if cid in predicted:
            rows.append((case, m, predicted[cid][1]))
    missing = sorted(set(measured) ^ set(predicted))
    return rows, missing


def tied(a, b):
    return abs(a - b) <= 1e-4 * max(a, b)


def ordering(rows):
    """Pairs of one (mask, S, P). The measurement's own noise in a group is the largest
    relative difference between two configurations the model calls tied: the same
    schedule measured twice. A pair whose measured difference is within it is not
    resolved by the measurement and is counted apart."""
    groups = {}
    for case, m, p in rows:
        groups.setdefault(group_key(case), []).append((case, m, p))
    agree = total = ties = resolved = resolved_agree = 0
    wrong = []
    for key, members in groups.items():
        pairs = list(itertools.combinations(members, 2))
        noise = max([abs(ma - mb) / min(ma, mb) for (_, ma, pa), (_, mb, pb) in pairs
                     if tied(pa, pb)], default=0.0)
        for (ca, ma, pa), (cb, mb, pb) in pairs:
            if tied(pa, pb):
                ties += 1
                continue
            total += 1
            ok = (ma < mb) == (pa < pb)
            agree += ok
            if abs(ma - mb) / min(ma, mb) > noise:
                resolved += 1
                resolved_agree += ok
            if not ok:
                wrong.append((key, configuration(ca), ma, pa, configuration(cb), mb, pb))
    return agree, total, ties, wrong, resolved_agree, resolved


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        sys.exit("usage: model_errors.py MEASURED.json PREDICTED.json [...]")
    all_rows = []
    for measured_path, predicted_path in zip(argv[::2], argv[1::2]):
        rows, missing = compare(measured_path, predicted_path)
        all_rows += rows
        print(f"\n### {measured_path} vs {predicted_path}\n")
        if missing:
            print(f"cases in only one report (not ok in one of them): {', '.join(missing)}\n")
        print("| method (layout) | mask | S | measured step (ms, median) | predicted (ms) | error |")
        print("|---|---|---:|---:|---:|---:|")
        for case, m, p in sorted(rows, key=lambda r: (group_key(r[0]), configuration(r[0]))):
            k = group_key(case)
            print(f"| {configuration(case)} | {k[0]} | {k[1]} | {m * 1e3:.1f} | {p * 1e3:.1f} "
                  f"| {100 * (p - m) / m:+.1f}% |")
        summarise(rows)
    if len(argv) > 2:
        print("\n### all pairs together\n")
        summarise(all_rows)


def summarise(rows):
    if not rows:
        print("no case is ok in both reports")
        return
    errors = [abs(p - m) / m for _, m, p in rows]
    worst = max(rows, key=lambda r: abs(r[2] - r[1]) / r[1])
    agree, total, ties, wrong, resolved_agree, resolved = ordering(rows)
    print(f"\n- cases: {len(rows)}; median absolute error {100 * statistics.median(errors):.1f}%; "
          f"worst {configuration(worst[0])} / {group_key(worst[0])[0]} / S={group_key(worst[0])[1]}: "
          f"{100 * (worst[2] - worst[1]) / worst[1]:+.1f}%")
    share = f"{100 * agree / total:.0f}%" if total else "n/a"
    print(f"- ordering: {agree} of {total} pairs agree ({share}); {ties} tied pairs left out")
    share = f"{100 * resolved_agree / resolved:.0f}%" if resolved else "n/a"
    print(f"- ordering of the pairs the measurement resolves (measured difference above the "
          f"spread of tied schedules in the same group): {resolved_agree} of {resolved} ({share})")
    for key, a, ma, pa, b, mb, pb in wrong:
        print(f"  - disagree {key}: {a} {ma * 1e3:.1f}/{pa * 1e3:.1f} ms vs {b} "
              f"{mb * 1e3:.1f}/{pb * 1e3:.1f} ms (measured/predicted)")


if __name__ == "__main__":
    main(sys.argv[1:])
