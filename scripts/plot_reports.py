"""Charts from cpbench reports (schema v1 or merged): PNG and SVG.

Run through scripts/plot, which picks a Python that has matplotlib. Charts:
  tflops     TFLOP/s per rank vs sequence length, one line per kernel x mask (x method, P)
  scaling    CP throughput (total TFLOP/s) vs world size, one line per method x mask x
             setting (pass, kernel, shape when they vary), one panel per sequence length
             (strong scaling), plus a weak-scaling panel when some cases keep tokens per
             rank fixed across world sizes
  memory     peak RSS per rank vs sequence length
  breakdown  stacked median step time: compute / exposed communication / other, per method
  speedup    new vs --base: base median step / new median step, per matched case
  predicted  predicted vs measured step time per case (scatter with y = x and a +/-15% band,
             colour per method, marker per mask) and the error per case, when the reports
             hold predicted cases ("predicted": true: cpbench model, plan --measure) and
             measured cases with the same parameters; the other charts then draw the
             measured cases only
Every chart carries a title, axis units, a legend and the runs' provenance as a footnote.
A method is labelled by its name plus the degrees that tell its layouts apart (those
taking two values at one world size; see reports/SCHEMA.md, "Tables"), so a method
whose degrees follow the world size (u = P, or a rule such as min(P, 8)) is one line.
"""

import argparse
import collections
import json
import math
import os
import sys
import warnings

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

CHARTS = ["tflops", "scaling", "memory", "breakdown", "speedup", "predicted"]
BAND = 0.15  # the predicted chart's band: +/-15% of the measurement (docs/model.md)
RUN_CONTROLS = {"warmup", "iters", "iterations", "seed", "verify", "repeat", "keep_samples",
                "timeout_s", "timeout_seconds", "min_time_s", "max_cv", "max_repeat"}


def die(msg):
    print(f"scripts/plot: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    """Cases and sources of a report or merged report; exits 2 on a bad file."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read '{path}': {e}")
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema not in ("cpbench-report", "cpbench-merged-report"):
        die(f"'{path}' is not a cpbench report (schema {schema!r})")
    if doc.get("schema_version") != 1:
        die(f"'{path}' has schema_version {doc.get('schema_version')!r}; this script reads 1")
    try:
        if schema == "cpbench-report":
            sources = [{"file": path, "provenance": doc["provenance"]}]
            cases = [dict(c, source=0) for c in doc["cases"]]
        else:
            sources, cases = doc["sources"], doc["cases"]
    except (KeyError, TypeError, ValueError) as e:
        die(f"'{path}' lacks a field every report has: {e!r}")
    check_values(path, cases)
    return sources, cases


NUMBERS = ["tflops_per_rank", "tflops_total", "peak_rss_bytes_max", "compute_seconds",
           "exposed_comm_seconds", "step_seconds.median"]


def check_values(path, cases):
    """Every value a chart reads from an ok case must be a number: one line naming it, exit 2."""
    for i, c in enumerate(cases):
        if not isinstance(c, dict):
            die(f"'{path}': case {i} is not an object")
        if c.get("status") != "ok":
            continue
        m, p = c.get("metrics"), c.get("params")
        if not isinstance(m, dict) or not isinstance(p, dict):
            die(f"'{path}': case {i} (status ok) has no metrics/params object")
        if not isinstance(p.get("seq"), int) or isinstance(p.get("seq"), bool):
            die(f"'{path}': case {i}: params.seq is {p.get('seq')!r}; want an integer")
        for name in NUMBERS:
            v = m
            for part in name.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                die(f"'{path}': case {i}: metrics.{name} is {v!r}; want a finite number")


def world_of(case):
    p = case.get("params", {})
    if isinstance(p.get("world_size"), int):
        return p["world_size"]
    d = p.get("degrees", {})
    return max(1, d.get("ulysses", 1)) * max(1, d.get("ring", 1))


def mask_label(mask):
    if not isinstance(mask, dict):
        return str(mask)
    extra = [f"{k}={v}" for k, v in mask.items() if k != "kind"]
    return mask.get("kind", "?") + (f"({','.join(extra)})" if extra else "")


DEGREE_NAMES = [("ulysses", "u"), ("ring", "r"), ("inner_ring", "w")]


def method_labeler(cases):
    """method_label(params) for these cases: the method's name, the degrees that take two
    values among its cases at one world size (a layout choice; ring is left out beside
    ulysses since U x R = P), 'strided', and the sharding. Degrees with one value per
    world are implied by the world, so the method stays one series across world sizes."""
    seen = collections.defaultdict(set)
    for c in cases:
        p = c.get("params", {})
        d = p.get("degrees")
        if isinstance(d, dict):
            for k, v in d.items():
                seen[(p.get("method"), world_of(c), k)].add(json.dumps(v))
    varying = collections.defaultdict(set)
    for (method, _, k), values in seen.items():
        if len(values) > 1:
            varying[method].add(k)

    def label(p):
        method = p.get("method", "?")
        out = method
        d = p.get("degrees") if isinstance(p.get("degrees"), dict) else {}
        keys = [k for k, _ in DEGREE_NAMES if k in d] + sorted(
            k for k in d if k not in dict(DEGREE_NAMES))
        short = dict(DEGREE_NAMES)
        for k in keys:
            if k in varying[method] and not (k == "ring" and "ulysses" in varying[method]):
                out += f" {short.get(k, k)}={d[k]}"
        if p.get("placement") == "strided":
            out += " strided"
        if p.get("sharding"):
            out += f"/{p['sharding']}"
        return out

    return label


SETTING_KEYS = ["kernel", "pass", "heads_q", "heads_kv", "head_dim", "dtype"]


def setting_labeler(cases):
    """setting_label(params): the run settings (pass, kernel, shape) that differ among
    these cases, e.g. 'fwd' or 'bwd Hq=8': lines of different settings are never joined."""
    varying = [k for k in SETTING_KEYS
               if len({json.dumps(c.get("params", {}).get(k)) for c in cases}) > 1]
    short = {"heads_q": "Hq=", "heads_kv": "Hkv=", "head_dim": "D="}

    def label(p):
        return " ".join(f"{short.get(k, '')}{p.get(k)}" for k in varying)

    return label


def multi_world_methods(cases):
    """Methods with cases at two or more world sizes: the context-parallel ones."""
    worlds = collections.defaultdict(set)
    for c in cases:
        worlds[c.get("params", {}).get("method")].add(world_of(c))
    return {m for m, w in worlds.items() if len(w) > 1}


def common_keys(cases):
    """Params every case carries (a param added to the schema later is ignored)."""
    keys = None
    for c in cases:
        k = set(c.get("params", {}))
        keys = k if keys is None else keys & k
    return keys or set()


def key_of(case, keys=None):
    p = {k: v for k, v in case.get("params", {}).items()
         if k not in RUN_CONTROLS and (keys is None or k in keys)}
    p.pop("world", None)
    p["world_size"] = world_of(case)
    return json.dumps(p, sort_keys=True)


def ok(cases):
    return [c for c in cases if c.get("status") == "ok" and isinstance(c.get("metrics"), dict)]


def shape_label(p):
    return (f"Hq={p.get('heads_q')} Hkv={p.get('heads_kv')} D={p.get('head_dim')} "
            f"{p.get('dtype')} {p.get('pass')}")


LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v", "P"]


class Styler:
    """Colour per group (kernel or method), line style per mask: legible with many lines."""

    def __init__(self):
        self.colors, self.styles = {}, {}

    def __call__(self, group, mask):
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        c = self.colors.setdefault(group, cycle[len(self.colors) % len(cycle)])
        i = self.styles.setdefault(mask, len(self.styles))
        return {"color": c, "linestyle": LINESTYLES[i % len(LINESTYLES)],
                "marker": MARKERS[i % len(MARKERS)]}


def footnote(fig, sources):
    parts = []
    for s in sources:
        pv = s.get("provenance", {})
        commit = pv.get("git_commit", "unknown")[:10]
        dirty = {True: "+dirty", False: "", None: "?"}.get(pv.get("git_dirty"), "")
        hosts = ",".join(sorted({h.get("hostname", "?") for h in pv.get("hosts", [])})) or "?"
        date = pv.get("start_time_utc", "?")
        parts.append(f"{os.path.basename(s.get('file', '?'))}: commit {commit}{dirty}, "
                     f"host {hosts} ({pv.get('world_size', '?')} ranks), {date}")
    cpu = {s.get("provenance", {}).get("cpu_model", "") for s in sources} - {""}
    text = "cpbench " + "; ".join(parts[:3]) + (f"; +{len(parts) - 3} more" if len(parts) > 3 else "")
    if cpu:
        text += "\nCPU: " + "; ".join(sorted(cpu))
    # Below the figure: savefig's tight bounding box takes it in, so it never covers a label.
    fig.text(0.01, -0.01, text, fontsize=6.5, color="#555555", ha="left", va="top")


def legend(ax, n):
    """Outside on the right of the axes, so it never covers data; savefig keeps it whole."""
    ax.legend(fontsize=7 if n <= 6 else 6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0)


def new_figure(*args, **kw):
    return plt.subplots(*args, layout="constrained", **kw)


def save(fig, out_dir, name, formats, written):
    for fmt in formats:
        path = os.path.join(out_dir, f"{name}.{fmt}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # layout hints, not errors
                fig.savefig(path, dpi=130, bbox_inches="tight", pad_inches=0.1)
        except OSError as e:
            die(f"cannot write '{path}': {e.strerror or e}")
        written.append(path)
    plt.close(fig)


def chart_tflops(cases, sources, out_dir, formats, written):
    cs = ok(cases)
    # Kernel throughput is read from single-rank cases when the reports have them.
    single = [c for c in cs if world_of(c) == 1]
    if single:
        cs = single
    method_label, setting = method_labeler(cs), setting_labeler(cs)
    series = collections.defaultdict(list)
    shapes = set()
    for c in cs:
        p = c["params"]
        group = " ".join(x for x in (p.get("kernel"), setting(p)) if x)
        if not single:
            group += f" · {method_label(p)} P={world_of(c)}"
        elif len({x["params"].get("method") for x in cs}) > 1:
            group += f" · {method_label(p)}"
        series[(group, mask_label(p.get("mask")))].append(
            (p["seq"], c["metrics"]["tflops_per_rank"]))
        shapes.add(shape_label(p))
    what = "single rank" if single else "all methods"
    return chart_vs_seq(series, "TFLOP/s per rank (mask-area FLOPs)",
                        f"Attention throughput vs sequence length, per kernel and mask, {what}\n"
                        + "; ".join(sorted(shapes)),
                        sources, out_dir, "tflops_vs_seqlen", formats, written)


def chart_vs_seq(series, ylabel, title, sources, out_dir, name, formats, written):
    """One line per (group, mask) of series[(group, mask)] = [(S, y)], S on a log axis."""
    if not series:
        return False
    fig, ax = new_figure(figsize=(8 + (3 if len(series) > 6 else 0), 5))
    style = Styler()
    for (group, mask), pts in sorted(series.items()):
        pts.sort()
        ax.plot([x for x, _ in pts], [y for _, y in pts], label=f"{group} · {mask}",
                **style(group, mask))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length S (tokens)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    legend(ax, len(series))
    footnote(fig, sources)
    save(fig, out_dir, name, formats, written)
    return True


def scaling_series(cases):
    """The scaling chart's data: (by_seq, weak, worlds). by_seq[S][(method, mask)] and
    weak[((method, mask), tokens per rank)] are lists of (P, TFLOP/s); `method` carries
    the method label and the setting (pass, kernel, shape) when those vary, so no line
    joins two passes, and a method whose degrees follow P stays one line."""
    cs = ok(cases)
    cp_methods = multi_world_methods(cs)
    cp = [c for c in cs if c["params"].get("method") in cp_methods]
    method_label, setting = method_labeler(cp), setting_labeler(cp)
    by_seq = collections.defaultdict(lambda: collections.defaultdict(list))
    weak = collections.defaultdict(list)
    for c in cp:
        p = c["params"]
        w = world_of(c)
        name = " · ".join(x for x in (method_label(p), setting(p)) if x)
        label = (name, mask_label(p.get("mask")))
        by_seq[p["seq"]][label].append((w, c["metrics"]["tflops_total"]))
        weak[(label, p["seq"] // w)].append((w, c["metrics"]["tflops_per_rank"]))
    weak = {k: v for k, v in weak.items() if len({w for w, _ in v}) >= 2}
    return by_seq, weak, {world_of(c) for c in cp}


def chart_scaling(cases, sources, out_dir, formats, written):
    by_seq, weak_series, worlds = scaling_series(cases)
    if len(worlds) < 2:
        return False
    seqs = sorted(by_seq)[-4:]
    panels = len(seqs) + (1 if weak_series else 0)
    fig, axes = new_figure(1, panels, figsize=(4.2 * panels, 4.6), squeeze=False)
    style = Styler()
    for ax, seq in zip(axes[0], seqs):
        for (method, mask), pts in sorted(by_seq[seq].items()):
            pts.sort()
            ax.plot([w for w, _ in pts], [y for _, y in pts], label=f"{method} · {mask}",
                    **style(method, mask))
        ax.set_title(f"strong scaling, S={seq}", fontsize=10)
        ax.set_xlabel("world size P (ranks)")
        ax.set_ylabel("total TFLOP/s (all ranks)")
        ax.set_xticks(sorted(worlds))
        ax.grid(True, alpha=0.3)
    if weak_series:
        ax = axes[0][-1]
        for ((method, mask), tpr), pts in sorted(weak_series.items()):
            pts.sort()
            st = style(method, mask)
            st["linewidth"] = 0.8 + 0.6 * math.log2(max(tpr, 1)) / 10
            ax.plot([w for w, _ in pts], [y for _, y in pts],
                    label=f"{method} · {mask} · {tpr} tok/rank", **st)
        ax.set_title("weak scaling (tokens per rank fixed)", fontsize=10)
        ax.set_xlabel("world size P (ranks)")
        ax.set_ylabel("TFLOP/s per rank")
        ax.set_xticks(sorted(worlds))
        ax.grid(True, alpha=0.3)
    # One legend for all panels, right of them: inside a panel it covered titles and lines.
    handles, labels = {}, []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, fontsize=6, loc="upper left",
               bbox_to_anchor=(1.0, 1.0), borderaxespad=0.3)
    fig.suptitle("Context-parallel throughput vs world size, per method and mask", fontsize=11)
    footnote(fig, sources)
    save(fig, out_dir, "cp_scaling", formats, written)
    return True


def chart_memory(cases, sources, out_dir, formats, written):
    series = collections.defaultdict(list)
    method_label, setting = method_labeler(ok(cases)), setting_labeler(ok(cases))
    for c in ok(cases):
        p = c["params"]
        group = " ".join(x for x in (method_label(p), f"P={world_of(c)}", setting(p)) if x)
        series[(group, mask_label(p.get("mask")))].append(
            (p["seq"], c["metrics"]["peak_rss_bytes_max"] / 2**20))
    return chart_vs_seq(series, "peak memory per rank (MiB, max over ranks)",
                        "Peak memory vs sequence length (host RSS high-water mark)",
                        sources, out_dir, "memory_vs_seqlen", formats, written)


def chart_breakdown(cases, sources, out_dir, formats, written):
    cs = ok(cases)
    if not cs:
        return False
    # Largest world and sequence length present: where the breakdown matters most.
    wmax = max(world_of(c) for c in cs)
    cs = [c for c in cs if world_of(c) == wmax]
    smax = max(c["params"]["seq"] for c in cs)
    cs = [c for c in cs if c["params"]["seq"] == smax]
    method_label, setting = method_labeler(cs), setting_labeler(cs)
    cs.sort(key=lambda c: (mask_label(c["params"].get("mask")), method_label(c["params"]),
                           setting(c["params"])))
    labels, comp, comm, other = [], [], [], []
    for c in cs:
        m = c["metrics"]
        med = m["step_seconds"]["median"] * 1e3
        cpt = min(m["compute_seconds"] * 1e3, med)
        exp = min(m["exposed_comm_seconds"] * 1e3, med - cpt)
        labels.append(" ".join(x for x in (method_label(c["params"]), setting(c["params"])) if x)
                      + f"\n{mask_label(c['params'].get('mask'))}")
        comp.append(cpt)
        comm.append(exp)
        other.append(max(med - cpt - exp, 0.0))
    fig, ax = new_figure(figsize=(max(6, 1.1 * len(labels) + 2), 5))
    x = range(len(labels))
    ax.bar(x, comp, label="compute (kernel)", color="#4c72b0")
    ax.bar(x, comm, bottom=comp, label="exposed communication", color="#dd8452")
    ax.bar(x, other, bottom=[a + b for a, b in zip(comp, comm)], label="other (harness)",
           color="#a0a0a0")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=7, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_ylabel("median step time (ms), slowest rank")
    ax.set_title(f"Step time breakdown per method, P={wmax}, S={smax}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    legend(ax, 3)
    footnote(fig, sources)
    save(fig, out_dir, "time_breakdown", formats, written)
    return True


def chart_speedup(base_cases, base_sources, cases, sources, out_dir, formats, written):
    keys = common_keys(base_cases) & common_keys(cases)
    base = {key_of(c, keys): c for c in ok(base_cases)}
    method_label, setting = method_labeler(ok(cases)), setting_labeler(ok(cases))
    rows = []
    for c in ok(cases):
        b = base.get(key_of(c, keys))
        if not b:
            continue
        p = c["params"]
        label = (f"{method_label(p)} P={world_of(c)} {mask_label(p.get('mask'))} S={p['seq']}"
                 + (f" {setting(p)}" if setting(p) else ""))
        rows.append((label, b["metrics"]["step_seconds"]["median"]
                     / c["metrics"]["step_seconds"]["median"]))
    if not rows:
        die("speedup: no case of the new report matches a case of --base")
    rows.sort(key=lambda r: r[1])
    fig, ax = new_figure(figsize=(8, max(3, 0.28 * len(rows) + 1.5)))
    colors = ["#55a868" if s >= 1 else "#c44e52" for _, s in rows]
    ax.barh(range(len(rows)), [s for _, s in rows], color=colors)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r for r, _ in rows], fontsize=6)
    ax.set_xlabel("speed-up (base median step / new median step; >1 = new is faster)")
    ax.set_title(f"Speed-up of new vs base ({len(rows)} matched cases, "
                 f"geomean {math.exp(sum(math.log(s) for _, s in rows) / len(rows)):.3f}x)",
                 fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    footnote(fig, base_sources + sources)
    save(fig, out_dir, "speedup", formats, written)
    return True


def split_predicted(cases):
    """(measured, predicted) cases: "predicted": true marks a model's case (reports/SCHEMA.md)."""
    predicted = [c for c in cases if c.get("predicted") is True]
    return [c for c in cases if c.get("predicted") is not True], predicted


def predicted_pairs(measured, predicted):
    """[(case label, measured s, predicted s, error %)] for every ok measured case with an ok
    predicted case of the same parameters (run controls such as iterations aside), sorted
    by error. error = (predicted - measured) / measured x 100."""
    ok_m, ok_p = ok(measured), ok(predicted)
    keys = common_keys(ok_m) & common_keys(ok_p)
    by_key = {key_of(c, keys): c for c in ok_p}
    method_label, setting = method_labeler(ok_m), setting_labeler(ok_m)
    seqs, worlds = {c["params"]["seq"] for c in ok_m}, {world_of(c) for c in ok_m}
    rows = []
    for c in ok_m:
        p = by_key.get(key_of(c, keys))
        if p is None:
            continue
        m_s = c["metrics"]["step_seconds"]["median"]
        p_s = p["metrics"]["step_seconds"]["median"]
        if m_s <= 0:
            continue
        par = c["params"]
        where = (f" S={par['seq']}" if len(seqs) > 1 else "") + (
            f" P={world_of(c)}" if len(worlds) > 1 else "")
        rows.append({"method": method_label(par), "mask": mask_label(par.get("mask")),
                     "label": f"{method_label(par)} · {mask_label(par.get('mask'))}{where}"
                              + (f" {setting(par)}" if setting(par) else ""),
                     "measured": m_s, "predicted": p_s, "error": 100.0 * (p_s - m_s) / m_s})
    rows.sort(key=lambda r: r["error"])
    return rows


def chart_predicted(measured, predicted, sources, out_dir, formats, written):
    rows = predicted_pairs(measured, predicted)
    if not rows:
        return False
    fig, (sc, er) = new_figure(1, 2, figsize=(13, max(5, 0.25 * len(rows) + 2)),
                               gridspec_kw={"width_ratios": [1.1, 1]})
    lo = min(min(r["measured"], r["predicted"]) for r in rows) * 1e3 / 1.3
    hi = max(max(r["measured"], r["predicted"]) for r in rows) * 1e3 * 1.3
    xs = [lo * (hi / lo) ** (i / 50) for i in range(51)]
    sc.fill_between(xs, [x * (1 - BAND) for x in xs], [x * (1 + BAND) for x in xs],
                    color="#cccccc", alpha=0.5, label=f"±{BAND:.0%} of measured")
    sc.plot(xs, xs, color="black", linewidth=0.8, label="predicted = measured")
    style = Styler()
    seen = set()
    for r in rows:
        st = style(r["method"], r["mask"])
        key = (r["method"], r["mask"])
        sc.plot([r["measured"] * 1e3], [r["predicted"] * 1e3], linestyle="none",
                color=st["color"], marker=st["marker"], markersize=6,
                label=f"{r['method']} · {r['mask']}" if key not in seen else None)
        seen.add(key)
    if hi / lo > 10:
        sc.set_xscale("log")
        sc.set_yscale("log")
    sc.set_xlim(lo, hi)
    sc.set_ylim(lo, hi)
    sc.set_aspect("equal", adjustable="box")
    sc.set_xlabel("measured step time (ms, median, slowest rank)")
    sc.set_ylabel("predicted step time (ms, model replay)")
    sc.grid(True, alpha=0.3)
    sc.legend(fontsize=6.5, loc="upper left")
    within = sum(abs(r["error"]) <= 100 * BAND for r in rows)
    errors = sorted(abs(r["error"]) for r in rows)
    sc.set_title(f"Predicted vs measured step time, {len(rows)} cases\n"
                 f"median |error| {errors[len(errors) // 2]:.1f}%, {within} within ±{BAND:.0%}",
                 fontsize=10)
    er.barh(range(len(rows)), [r["error"] for r in rows],
            color=["#55a868" if abs(r["error"]) <= 100 * BAND else "#c44e52" for r in rows])
    for x in (-100 * BAND, 100 * BAND):
        er.axvline(x, color="#888888", linestyle="--", linewidth=0.8)
    er.axvline(0, color="black", linewidth=0.8)
    er.set_yticks(range(len(rows)))
    er.set_yticklabels([r["label"] for r in rows], fontsize=6)
    er.set_xlabel("error (%) = (predicted − measured) / measured; <0: model too fast")
    er.set_title(f"Error per case (dashed: ±{BAND:.0%})", fontsize=10)
    er.grid(True, axis="x", alpha=0.3)
    footnote(fig, sources)
    save(fig, out_dir, "predicted_vs_measured", formats, written)
    return True


def main():
    ap = argparse.ArgumentParser(prog="scripts/plot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", help="report(s) or merged report(s)")
    ap.add_argument("--out-dir", default="plots", help="output folder (default plots/)")
    ap.add_argument("--charts", default="all",
                    help="comma list of " + ", ".join(CHARTS) + " (default all that apply)")
    ap.add_argument("--base", help="baseline report for the speedup chart")
    ap.add_argument("--formats", default="png,svg", help="comma list of png, svg")
    a = ap.parse_args()
    charts = CHARTS if a.charts == "all" else a.charts.split(",")
    for c in charts:
        if c not in CHARTS:
            die(f"unknown chart '{c}'; allowed: {', '.join(CHARTS)}")
    formats = a.formats.split(",")
    for f in formats:
        if f not in ("png", "svg"):
            die(f"unknown format '{f}'; allowed: png, svg")
    if "speedup" in charts and not a.base:
        if a.charts != "all":
            die("the speedup chart needs --base BASE.json")
        charts = [c for c in charts if c != "speedup"]
    sources, cases = [], []
    for path in a.reports:
        s, c = load(path)
        offset = len(sources)
        sources += s
        cases += [dict(x, source=x.get("source", 0) + offset) for x in c]
    try:
        os.makedirs(a.out_dir, exist_ok=True)
    except OSError as e:
        die(f"--out-dir '{a.out_dir}': cannot create it: {e.strerror or e}")
    if not os.access(a.out_dir, os.W_OK | os.X_OK):
        die(f"--out-dir '{a.out_dir}': not writable")
    written = []
    measured, predicted = split_predicted(cases)
    if measured and predicted:
        cases = measured  # the other charts: measurements only, never mixed with the model
    for name in charts:
        if name == "predicted":
            if not chart_predicted(measured, predicted, sources, a.out_dir, formats, written):
                if a.charts != "all":
                    die("predicted: no predicted case (\"predicted\": true) has a measured case "
                        "with the same parameters; give the measured report and the predicted "
                        "one (cpbench model, or plan --measure --out)")
            continue
        if name == "speedup":
            bs, bc = load(a.base)
            chart_speedup(bc, bs, cases, sources, a.out_dir, formats, written)
            continue
        fn = {"tflops": chart_tflops, "scaling": chart_scaling, "memory": chart_memory,
              "breakdown": chart_breakdown}[name]
        if not fn(cases, sources, a.out_dir, formats, written):
            print(f"scripts/plot: skipped '{name}': the reports have no data for it "
                  "(e.g. one world size only)", file=sys.stderr)
    for w in written:
        print(w)


if __name__ == "__main__":
    main()
