#!/usr/bin/env python3
"""PyTorch anchors for cpbench: times torch's scaled_dot_product_attention (flash
and cuDNN backends) and FlexAttention on cpbench's shapes and masks, single GPU,
and writes a cpbench report (schema v1, reports/SCHEMA.md) so `cpbench compare`
and the charts put them beside cuda_flash.

Masks come as cpbench slices (each a rectangle cut by a diagonal band
lo <= q - k <= hi, see masks/mask.h). SDPA runs only `full` and `causal` (it takes
no other mask on its fast backends: other masks are recorded `unsupported`).
FlexAttention gets the mask as per-row key intervals, which is exact for every
cpbench mask and compiles to index loads instead of a per-slice loop.

Inputs, either:
  --cases FILE  JSON {"cases": [{"params": {...cpbench case params...},
                "mask_slices": {"seq_q", "seq_k", "slices": [{q_begin, ...}]}}]}
                (a cpbench report also works: its cases' params are read; masks
                without slices are generated here for full, causal,
                sliding_window and causal_sliding_window, and for every other
                kind by --slices-tool, cpbench's export_mask_slices)
  or the axes on the command line (--mask, --seq, --heads, ...).

Timing: CUDA events around each iteration after warm-up; median of N.
FLOPs as cpbench: fwd 4 * area * D * Hq, bwd 2.5x, fwd+bwd 3.5x.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time

import numpy as np

NO_BOUND = (2**63 - 1) // 4  # masks/mask.h kNoBound
KERNELS = ("torch_sdpa_flash", "torch_sdpa_cudnn", "torch_flex")
FLOP_FACTOR = {"fwd": 1.0, "bwd": 2.5, "fwd+bwd": 3.5}


# ---------------------------------------------------------------- masks


def simple_slices(spec, seq):
    """cpbench's generators for the kinds that need no document sampling."""
    kind = spec["kind"]
    full = {"q_begin": 0, "q_end": seq, "k_begin": 0, "k_end": seq,
            "diag_lo": -NO_BOUND, "diag_hi": NO_BOUND}
    if kind == "full":
        return [full]
    if kind == "causal":
        return [dict(full, diag_lo=0)]
    if kind == "sliding_window":
        w = int(spec["window"])
        return [dict(full, diag_lo=-w, diag_hi=w)]
    if kind == "causal_sliding_window":
        w = int(spec["window"])
        return [dict(full, diag_lo=0, diag_hi=w)]
    return None


def row_intervals(slices, seq_q, seq_k):
    """Per query row, the visible keys as merged half-open intervals.

    Returns (lo, hi), int64 arrays [K, seq_q]; unused entries are empty (lo == hi
    == 0). Each slice gives each of its rows at most one interval, so K is small
    for every cpbench kind (1 for most)."""
    rows = np.arange(seq_q, dtype=np.int64)
    per_slice = []
    for s in slices:
        lo = np.maximum(s["k_begin"], rows - min(s["diag_hi"], NO_BOUND))
        hi = np.minimum(s["k_end"], rows - max(s["diag_lo"], -NO_BOUND) + 1)
        inside = (rows >= s["q_begin"]) & (rows < s["q_end"]) & (hi > lo)
        per_slice.append((np.where(inside, lo, seq_k), np.where(inside, hi, seq_k)))
    if not per_slice:
        z = np.zeros((1, seq_q), dtype=np.int64)
        return z, z.copy()
    lo = np.stack([p[0] for p in per_slice])
    hi = np.stack([p[1] for p in per_slice])
    # Slices are disjoint, so one row's intervals are too: after sorting by start,
    # neighbours merge exactly when one ends where the next begins.
    order = np.argsort(lo, axis=0, kind="stable")
    lo = np.take_along_axis(lo, order, axis=0)
    hi = np.take_along_axis(hi, order, axis=0)
    nonempty = hi > lo
    touches = np.zeros_like(nonempty)
    touches[1:] = nonempty[1:] & nonempty[:-1] & (lo[1:] == hi[:-1])
    starts = nonempty & ~touches
    group = np.cumsum(starts, axis=0) - 1  # merged interval index of each piece
    k_max = max(int(starts.sum(axis=0).max()), 1)
    out_lo = np.zeros((k_max, seq_q), dtype=np.int64)
    out_hi = np.zeros((k_max, seq_q), dtype=np.int64)
    for g in range(k_max):
        member = nonempty & (group == g)
        has = member.any(axis=0)
        out_lo[g] = np.where(has, np.where(member, lo, seq_k).min(axis=0), 0)
        out_hi[g] = np.where(has, np.where(member, hi, 0).max(axis=0), 0)
    return out_lo, out_hi


def dense_from_slices(slices, seq_q, seq_k):
    q = np.arange(seq_q)[:, None]
    k = np.arange(seq_k)[None, :]
    m = np.zeros((seq_q, seq_k), dtype=bool)
    for s in slices:
        d = q - k
        m |= ((q >= s["q_begin"]) & (q < s["q_end"]) & (k >= s["k_begin"]) & (k < s["k_end"])
              & (d >= s["diag_lo"]) & (d <= s["diag_hi"]))
    return m


def dense_from_intervals(lo, hi, seq_k):
    k = np.arange(seq_k)[None, :]
    m = np.zeros((lo.shape[1], seq_k), dtype=bool)
    for j in range(lo.shape[0]):
        m |= (k >= lo[j][:, None]) & (k < hi[j][:, None])
    return m


# ---------------------------------------------------------------- report


def time_stats(samples):
    """reports/SCHEMA.md statistics: linear-interpolated percentiles, population cv."""
    a = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(a)

    def pct(p):
        x = p * (n - 1)
        i = int(np.floor(x))
        j = min(i + 1, n - 1)
        return float(a[i] + (a[j] - a[i]) * (x - i))

    mean = float(a.mean())
    return {"iterations": n, "median": pct(0.5), "mean": mean, "min": float(a[0]),
            "max": float(a[-1]), "p10": pct(0.1), "p90": pct(0.9),
            "cv": float(a.std() / mean) if mean > 0 else 0.0}


def mask_id(spec):
    parts = [spec["kind"]]
    for k in sorted(spec):  # nlohmann::json objects iterate in key order
        if k != "kind":
            v = spec[k]
            parts.append(f"{k}={v if isinstance(v, str) else json.dumps(v)}")
    return ",".join(parts)


def case_params(kernel, c, args):
    return {"kernel": kernel, "mask": c["mask"], "seq": c["seq"], "heads_q": c["heads_q"],
            "heads_kv": c["heads_kv"], "head_dim": c["head_dim"], "dtype": c["dtype"],
            "pass": c["pass"], "warmup": args.warmup, "iters": args.iters, "seed": args.seed,
            "verify": args.verify, "method": "none", "world_size": 1,
            "degrees": {"ulysses": 1, "ring": 1, "inner_ring": 1},
            "placement": "contiguous", "sharding": "contiguous",
            "timeout_seconds": 0}


def case_id(p):
    return (f"none/{p['kernel']}/{mask_id(p['mask'])}/S{p['seq']}/H{p['heads_q']}-{p['heads_kv']}"
            f"/D{p['head_dim']}/{p['dtype']}/{p['pass']}/u1r1w1/contiguous/contiguous")


def case_metrics(c, samples, peak_device_bytes):
    st = time_stats(samples)
    flops = FLOP_FACTOR[c["pass"]] * 4.0 * c["area"] * c["head_dim"] * c["heads_q"]
    tflops = flops / st["median"] / 1e12 if st["median"] > 0 else 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rank = {"rank": 0, "hostname": socket.gethostname(), "step_seconds": st,
            "compute_seconds": st["mean"], "comm_wait_seconds": 0.0, "overhead_seconds": 0.0,
            "bytes_sent": 0, "bytes_received": 0, "expected_bytes_sent": 0,
            "expected_bytes_received": 0, "ops": [], "local_tokens": c["seq"],
            "area": c["area"], "peak_rss_bytes": rss, "peak_rss_reset": False,
            "peak_device_bytes": peak_device_bytes}
    return {"mask_area": c["area"], "mask_density": c["area"] / float(c["seq"]) ** 2,
            "flops": flops, "step_seconds": st, "tflops_total": tflops,
            "tflops_per_rank": tflops, "tflops_per_rank_mean_time": tflops,
            "compute_seconds": st["mean"], "comm_wait_seconds": 0.0,
            "exposed_comm_seconds": 0.0, "overlap_efficiency": 1.0,
            "harness_overhead_seconds": 0.0, "harness_overhead_fraction": 0.0,
            "area_imbalance": 1.0, "time_imbalance": 1.0, "bytes_sent_max": 0,
            "bytes_received_max": 0, "expected_bytes_sent_max": 0,
            "expected_bytes_received_max": 0, "expected_volume_formula": "0 (single GPU)",
            "peak_rss_bytes_max": rss, "peak_device_bytes_max": peak_device_bytes,
            "ranks": [rank]}


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, check=True).stdout
        return commit, bool(dirty.strip())
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("CPB_GIT_COMMIT", "unknown"), None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_report(path, start, config, cases):
    """The one place that knows the schema (reports/report.h, SCHEMA.md)."""
    commit, dirty = git_commit()
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("NCCL_", "CUDA_", "TORCH_", "PYTORCH_", "OMP_NUM_THREADS"))}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    counts = {s: sum(1 for c in cases if c["status"] == s)
              for s in ("ok", "unsupported", "error", "timeout")}
    verify_failed = sum(1 for c in cases if c.get("verification") and
                        not c["verification"]["passed"] and
                        not c["verification"]["skipped_reason"])
    report = {
        "schema": "cpbench-report", "schema_version": 1,
        "provenance": {
            "tool": {"name": "torch_baseline", "version": config.get("torch_version", "")},
            "git_commit": commit, "git_dirty": dirty, "git_source": "runtime",
            "command_line": sys.argv, "start_time_utc": start, "end_time_utc": now,
            "world_size": 1, "hosts": [{"hostname": socket.gethostname(), "ranks": [0]}],
            "ranks_per_host": 1, "cpu_model": cpu_model(), "cpu_cores": os.cpu_count() or 0,
            "compiler": f"python {platform.python_version()}", "mpi_library": "none",
            "communicator": "self", "env": env},
        "conventions": {
            "time_unit": "s", "bytes_unit": "B",
            "flops_forward": "4 * mask_area * head_dim * heads_q",
            "flops_backward": "2.5 * flops_forward",
            "flops_forward_backward": "3.5 * flops_forward",
            "step_time": "per iteration, CUDA events around the torch call(s), one GPU",
            "percentiles": "linear interpolation between order statistics (p at rank p*(n-1))",
            "cv": "population stdev / mean",
            "memory": "peak_device_bytes: torch.cuda.max_memory_allocated over the case"},
        "config": config,
        "cases": cases,
        "summary": dict(cases=len(cases), verification_failed=verify_failed, **counts),
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, path)
    return report


# ---------------------------------------------------------------- cases


def load_cases(args):
    """Case dicts: mask (spec), seq, heads_q, heads_kv, head_dim, dtype, pass, slices."""
    cases = []
    if args.cases:
        with open(args.cases) as f:
            doc = json.load(f)
        for entry in doc["cases"]:
            p = entry.get("params", entry)
            slices = (entry.get("mask_slices") or {}).get("slices")
            passes = [p.get("pass", "fwd")]
            if passes[0] == "fwd+bwd" and args.split_passes:
                passes = ["fwd", "bwd"]
            for ps in passes:
                cases.append({"mask": p["mask"], "seq": int(p["seq"]),
                              "heads_q": int(p["heads_q"]),
                              "heads_kv": int(p.get("heads_kv") or p["heads_q"]),
                              "head_dim": int(p["head_dim"]), "dtype": p.get("dtype", "bf16"),
                              "pass": ps, "slices": slices, "cpb_area": entry.get("area")})
    else:
        for mask in args.mask:
            spec = json.loads(mask) if mask.startswith("{") else {"kind": mask}
            for seq in args.seq:
                for ps in args.passes:
                    cases.append({"mask": spec, "seq": seq, "heads_q": args.heads,
                                  "heads_kv": args.kv_heads or args.heads,
                                  "head_dim": args.head_dim, "dtype": args.dtype, "pass": ps,
                                  "slices": None})
    # Deduplicate (a cpbench report lists one case per kernel/method).
    seen, unique = set(), []
    for c in cases:
        key = json.dumps({k: v for k, v in c.items() if k not in ("slices", "cpb_area")},
                         sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    for c in unique:
        if c["slices"] is None and args.slices_tool:
            exported = export_slices(args.slices_tool, c)
            c["mask"], c["slices"] = exported["params"]["mask"], exported["mask_slices"]["slices"]
            c["cpb_area"] = exported["area"]
        if c["slices"] is None:
            c["slices"] = simple_slices(c["mask"], c["seq"])
        if c["slices"] is not None:
            lo, hi = row_intervals(c["slices"], c["seq"], c["seq"])
            c["lo"], c["hi"] = lo, hi
            c["area"] = int((hi - lo).sum())
    return unique


def export_slices(tool, c):
    """cpbench's own mask (document sampling included) through export_mask_slices."""
    cmd = [tool, str(c["seq"]), str(c["heads_q"]), str(c["heads_kv"]), str(c["head_dim"]),
           c["dtype"], c["pass"], json.dumps(c["mask"])]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"torch_baseline: {' '.join(cmd)} failed: {res.stderr.strip()}")
    return json.loads(res.stdout)["cases"][0]


# ---------------------------------------------------------------- torch


def run_case(torch, c, kernel, args, flex_fns):
    """Returns (status, reason, samples, peak_device_bytes, verification)."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if c["slices"] is None:
        return ("unsupported", f"mask kind '{c['mask']['kind']}' needs slices exported by "
                "cpbench (mask_slices in the cases file)", None, 0, None)
    kind = c["mask"]["kind"]
    if kernel.startswith("torch_sdpa") and kind not in ("full", "causal"):
        return ("unsupported", f"SDPA's flash/cuDNN backends take no '{kind}' mask "
                "(only full and causal)", None, 0, None)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[c["dtype"]]
    S, hq, hkv, d = c["seq"], c["heads_q"], c["heads_kv"], c["head_dim"]
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)
    need_grad = c["pass"] != "fwd"

    # cpbench's THD layout [S, H, D] is SDPA's [B, H, S, D] through a transpose view.
    def make(h):
        t = torch.randn(1, S, h, d, device=dev, dtype=dtype, generator=gen).transpose(1, 2)
        return t.requires_grad_(need_grad)

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    q, k, v = make(hq), make(hkv), make(hkv)

    if kernel == "torch_flex":
        flex_attention, create_block_mask = flex_fns
        lo = torch.as_tensor(c["lo"], device=dev, dtype=torch.int32)
        hi = torch.as_tensor(c["hi"], device=dev, dtype=torch.int32)
        n_int = lo.shape[0]

        los = [lo[j].contiguous() for j in range(n_int)]
        his = [hi[j].contiguous() for j in range(n_int)]

        def mask_mod(b, h, q_idx, kv_idx):
            vis = (kv_idx >= los[0][q_idx]) & (kv_idx < his[0][q_idx])
            for j in range(1, n_int):
                vis = vis | ((kv_idx >= los[j][q_idx]) & (kv_idx < his[j][q_idx]))
            return vis

        try:  # compiled mask evaluation: the eager one materialises S x S temporaries
            block_mask = create_block_mask(mask_mod, None, None, S, S, device=dev, _compile=True)
        except TypeError:
            block_mask = create_block_mask(mask_mod, None, None, S, S, device=dev)

        def attn():
            return flex_attention(q, k, v, block_mask=block_mask, enable_gqa=hkv != hq)
    else:
        backend = (SDPBackend.FLASH_ATTENTION if kernel == "torch_sdpa_flash"
                   else SDPBackend.CUDNN_ATTENTION)

        def attn():
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=kind == "causal",
                                                      enable_gqa=hkv != hq)

    kv_expanded = False
    try:
        out = attn()
    except Exception as e:  # backend refuses the shape/dtype: a result, not a crash
        first = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        if kernel == "torch_flex" or hkv == hq:
            return "unsupported", first, None, 0, None
        # An SDPA backend without GQA: give it K/V expanded to Hq heads (made
        # outside the timed region; same FLOPs, more bytes), and say so.
        rep = hq // hkv
        k = k.detach().repeat_interleave(rep, 1).requires_grad_(need_grad)
        v = v.detach().repeat_interleave(rep, 1).requires_grad_(need_grad)
        hkv = hq
        try:
            out = attn()
            kv_expanded = True
        except Exception as e2:
            return ("unsupported", f"{first}; with K/V expanded: {type(e2).__name__}: "
                    f"{str(e2).splitlines()[0][:300] if str(e2) else ''}", None, 0, None)
    grad = torch.randn(out.shape, device=dev, dtype=dtype, generator=gen)

    verification = None
    if args.verify:
        verification = verify(torch, c, q, k, v, out, kind)

    if c["pass"] == "fwd":
        def step():
            with torch.no_grad():
                attn()
    elif c["pass"] == "bwd":
        out = attn()

        def step():
            torch.autograd.grad(out, (q, k, v), grad, retain_graph=True)
    else:
        def step():
            torch.autograd.grad(attn(), (q, k, v), grad)

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
    for i in range(args.iters):
        starts[i].record()
        step()
        ends[i].record()
    torch.cuda.synchronize()
    samples = [s.elapsed_time(e) * 1e-3 for s, e in zip(starts, ends)]
    reason = "K/V expanded to Hq heads (backend has no GQA)" if kv_expanded else ""
    return "ok", reason, samples, int(torch.cuda.max_memory_allocated()), verification


def verify(torch, c, q, k, v, out, kind):
    """Against fp32 math-backend SDPA with the dense mask; small sizes only."""
    S = c["seq"]
    result = {"reference": "torch_sdpa_math_fp32", "passed": False, "atol": 2e-2,
              "rtol": 2e-2, "tensors": [], "skipped_reason": ""}
    if S > 4096:
        result["skipped_reason"] = f"seq {S} > 4096: dense reference mask too large"
        return result
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    mask = torch.as_tensor(dense_from_intervals(c["lo"], c["hi"], S), device=q.device)
    rep = q.shape[1] // k.shape[1]
    with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]):
        ref = F.scaled_dot_product_attention(
            q.float(), k.float().repeat_interleave(rep, 1), v.float().repeat_interleave(rep, 1),
            attn_mask=mask)
    # Rows that see no key: torch's math backend gives NaN, flash kernels give 0.
    ref = torch.nan_to_num(ref, nan=0.0)
    err = (out.detach().float() - ref).abs().max().item()
    scale = ref.abs().max().item()
    tol = result["atol"] + result["rtol"] * scale
    result["tensors"].append({"tensor": "out", "max_abs_error": err,
                              "max_rel_error": err / scale if scale else err,
                              "tolerance": tol, "passed": err <= tol})
    result["passed"] = err <= tol
    return result


# ---------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", help="cases JSON (see above) or a cpbench report")
    ap.add_argument("--mask", action="append", help="mask kind or spec JSON (repeatable)")
    ap.add_argument("--seq", type=int, action="append", help="sequence length (repeatable)")
    ap.add_argument("--heads", type=int, default=64)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--pass", dest="passes", action="append", choices=list(FLOP_FACTOR))
    ap.add_argument("--split-passes", action="store_true",
                    help="time a fwd+bwd case from --cases as separate fwd and bwd cases")
    ap.add_argument("--kernels", default=",".join(KERNELS),
                    help=f"comma list of {', '.join(KERNELS)}")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true", help="check outputs (seq <= 4096)")
    ap.add_argument("--out", default="torch_baseline.json")
    ap.add_argument("--slices-tool", help="export_mask_slices binary (tests/gpu_comm): masks "
                    "of every kind exactly as cpbench builds them")
    ap.add_argument("--check-masks", action="store_true",
                    help="only check the slice -> interval conversion (no torch, no GPU)")
    args = ap.parse_args(argv)
    args.mask = args.mask or ["causal"]
    args.seq = args.seq or [4096]
    args.passes = args.passes or ["fwd"]
    args.kernels = [k for k in args.kernels.split(",") if k]
    bad = [k for k in args.kernels if k not in KERNELS]
    if bad:
        ap.error(f"unknown kernel(s) {bad}; allowed: {', '.join(KERNELS)}")
    if args.warmup < 0 or args.iters < 1:
        ap.error("--warmup must be >= 0 and --iters >= 1")
    return args


def check_masks(cases):
    """Exactness of the interval form against the slices, on dense matrices."""
    ok = True
    for c in cases:
        if c["slices"] is None:
            print(f"check-masks: {mask_id(c['mask'])}: no slices, skipped")
            continue
        S = c["seq"]
        if S > 8192:
            continue
        a = dense_from_slices(c["slices"], S, S)
        b = dense_from_intervals(c["lo"], c["hi"], S)
        same = bool((a == b).all()) and int(a.sum()) == c["area"]
        if c.get("cpb_area") is not None:  # cpbench's closed-form area, when exported
            same &= c["cpb_area"] == c["area"]
        ok &= same
        print(f"check-masks: {mask_id(c['mask'])} S={S}: intervals={c['lo'].shape[0]} "
              f"area={c['area']} {'OK' if same else 'MISMATCH'}")
    return ok


def main(argv):
    args = parse_args(argv)
    start = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cases = load_cases(args)
    if args.check_masks:
        return 0 if check_masks(cases) else 1

    import torch
    import torch._dynamo

    if not torch.cuda.is_available():
        print("torch_baseline: no CUDA device; nothing timed", file=sys.stderr)
        return 3
    # One compile per (shape, mask form, grad mode): more than dynamo's default cache.
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)
    flex_fns = None
    if "torch_flex" in args.kernels:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        flex_fns = (torch.compile(flex_attention, dynamic=False), create_block_mask)
    prop = torch.cuda.get_device_properties(0)
    config = {"kernels": args.kernels, "warmup": args.warmup, "iters": args.iters,
              "seed": args.seed, "torch_version": torch.__version__,
              "torch_cuda": torch.version.cuda,
              "cudnn_version": torch.backends.cudnn.version(), "gpu": prop.name,
              "gpu_capability": f"{prop.major}.{prop.minor}",
              "gpu_multiprocessors": prop.multi_processor_count,
              "gpu_memory_bytes": prop.total_memory}
    results = []
    for c in cases:
        for kernel in args.kernels:
            p = case_params(kernel, c, args)
            t0 = time.time()
            try:
                status, reason, samples, peak, ver = run_case(torch, c, kernel, args, flex_fns)
            except torch.cuda.OutOfMemoryError as e:
                status, reason, samples, peak, ver = "error", f"out of memory: {e}"[:300], None, 0, None
            except Exception as e:
                status, reason, samples, peak, ver = ("error", f"{type(e).__name__}: {e}"[:500],
                                                      None, 0, None)
            if status == "ok" and reason:  # SCHEMA: reason is empty when ok
                p["note"], reason = reason, ""
            res = {"id": case_id(p), "params": p, "status": status, "reason": reason,
                   "wall_seconds": time.time() - t0,
                   "metrics": case_metrics(c, samples, peak) if status == "ok" else None,
                   "verification": ver}
            results.append(res)
            line = f"{res['id']}: {status}"
            if status == "ok":
                m = res["metrics"]
                line += (f" median {m['step_seconds']['median'] * 1e3:.3f} ms"
                         f" {m['tflops_total']:.1f} TFLOP/s")
                if ver:
                    line += " verify " + ("PASS" if ver["passed"] else
                                          ver["skipped_reason"] or "FAIL")
            else:
                line += f" ({reason})"
            print(line, flush=True)
            write_report(args.out, start, config, results)  # after each case: a crash loses nothing
    write_report(args.out, start, config, results)
    print(f"torch_baseline: wrote {args.out}")
    failed = [r for r in results if r["status"] == "error" or
              (r["verification"] and not r["verification"]["passed"] and
               not r["verification"]["skipped_reason"])]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
