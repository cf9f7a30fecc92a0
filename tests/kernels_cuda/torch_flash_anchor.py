"""Torch SDPA flash-backend anchor for cuda_flash, timed the same way as
cuda_flash_device bench (CUDA events, median of fixed repeats, FLOPs on the
mask area) and printing the same RESULT lines, so both land in one table.
GQA goes through enable_gqa=True when the flash backend accepts it; otherwise
K/V heads are repeated (the line says which as gqa=...)."""
import argparse

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqs", default="16384,32768")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    hq, hkv, d = 64, 8, 128
    print(f"torch {torch.__version__} device={torch.cuda.get_device_name()}")
    for s in [int(x) for x in args.seqs.split(",")]:
        # THD memory layout [S, H, D] viewed as [1, H, S, D], as cpbench stores it.
        def thd(h):
            return torch.randn(s, h, d, device="cuda", dtype=torch.bfloat16).transpose(0, 1)[None]

        q, k, v, dout = thd(hq), thd(hkv), thd(hkv), thd(hq)
        for causal in (False, True):
            area = s * (s + 1) / 2 if causal else float(s) * s
            gqa = "enable_gqa"
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                try:
                    F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
                    kk, vv, extra = k, v, {"enable_gqa": True}
                except RuntimeError:
                    gqa = "repeat_kv"
                    kk = k.repeat_interleave(hq // hkv, dim=1)
                    vv = v.repeat_interleave(hq // hkv, dim=1)
                    extra = {}
                fwd = median_ms(
                    lambda: F.scaled_dot_product_attention(q, kk, vv, is_causal=causal, **extra),
                    2, args.reps)
                qg, kg, vg = (t.detach().requires_grad_() for t in (q, kk, vv))
                out = F.scaled_dot_product_attention(qg, kg, vg, is_causal=causal, **extra)
                bwd = median_ms(
                    lambda: torch.autograd.grad(out, (qg, kg, vg), dout, retain_graph=True),
                    1, args.reps)
            flops = 4.0 * area * hq * d
            name = "causal" if causal else "full"
            print(f"RESULT impl=torch_sdpa_flash seq={s} mask={name} gqa={gqa} fwd_ms={fwd:.3f} "
                  f"fwd_tflops={flops / fwd / 1e9:.1f} bwd_ms={bwd:.3f} "
                  f"bwd_tflops={2.5 * flops / bwd / 1e9:.1f}", flush=True)
            del qg, kg, vg, out
        del q, k, v, dout
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
