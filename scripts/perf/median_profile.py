#!/usr/bin/env python3
"""The element-wise median of kernel profiles measured side by side.

    median_profile.py OUT.json IN.json [IN.json ...]

model_validation.sh calibrates the kernel with P concurrent `cpbench calibrate
--kernel` processes, so that each sees the share of a core a measured rank sees.
Their profiles differ: a process that runs a phase while another has finished runs
it faster, and the partial-tile factor, a difference of two timings, swings from
0.1 to 4 between processes. The median of each figure over the processes (rate at
each S, partial factor, memory bandwidth) is the profile the model reads; the rate
coordinate (rate_by) is chosen again from the median of the processes' evidence; the
first input gives everything else. Only the standard library: runs with any python3.
"""
import json
import statistics
import sys


def rate_by_error(profile, pass_):
    """calibrate's evidence for a pass: the table's error read at the keys / the rows."""
    for m in profile.get("measurements", []):
        if m.get("pass") == pass_ and "rate_by_error" in m:
            return m["rate_by_error"]
    return None


def decide_rate_by(entry, errors):
    """The reading with the smaller median error over the processes (calibrate's rule:
    seq_q only when it is strictly closer), so one noisy process does not decide."""
    errors = [e for e in errors if e]
    if not errors:
        return
    keys = statistics.median(e["keys_per_row"] for e in errors)
    rows = statistics.median(e["seq_q"] for e in errors)
    entry["rate_by"] = "seq_q" if rows < keys else "keys_per_row"


def main(out, paths):
    profiles = [json.load(open(p)) for p in paths]
    merged = profiles[0]
    merged["memory_bandwidth_GBps"] = statistics.median(
        p["memory_bandwidth_GBps"] for p in profiles)
    for i, entry in enumerate(merged["entries"]):
        peers = [p["entries"][i] for p in profiles]
        for peer in peers:
            if (peer["pass"], peer["dtype"], [s for s, _ in peer["tflops_by_seq_k"]]) != (
                    entry["pass"], entry["dtype"], [s for s, _ in entry["tflops_by_seq_k"]]):
                sys.exit(f"median_profile.py: the profiles measured different grids ({paths})")
        entry["partial_cost"] = statistics.median(p["partial_cost"] for p in peers)
        entry["tflops_by_seq_k"] = [
            [s, statistics.median(p["tflops_by_seq_k"][j][1] for p in peers)]
            for j, (s, _) in enumerate(entry["tflops_by_seq_k"])]
        decide_rate_by(entry, [rate_by_error(p, entry["pass"]) for p in profiles])
        entry["source"] += f"; median of {len(paths)} processes measured side by side"
    merged["sources"].append(
        f"median_profile.py: element-wise median of {len(paths)} concurrent calibrations")
    json.dump(merged, open(out, "w"), indent=1)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: median_profile.py OUT.json IN.json [IN.json ...]")
    main(sys.argv[1], sys.argv[2:])
