"""Torch SDPA flash-backend anchor for cuda_flash, timed the same way as
cuda_flash_device bench (CUDA events, median of fixed repeats, FLOPs on the
mask area) and printing the same RESULT lines, so both land in one table.
GQA goes through enable_gqa=True when the flash backend accepts it; otherwise
K/V heads are repeated (the line says which as gqa=...). With --flex DIR it also
times FlexAttention (torch.compile'd, enable_gqa=True) on every mask, rebuilding
document masks from the segment lengths cuda_flash_device bench wrote to DIR.
One mask_mod reads the mask from tensors, so a sequence length compiles once."""
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


BIG = 1 << 30
FLEX_MASKS = {  # name -> (diag_lo, diag_hi, uses documents); visible iff lo <= q - k <= hi
    "full": (-BIG, BIG, False),
    "causal": (0, BIG, False),
    "sliding_window_4k": (-4096, 4096, False),
    "causal_sliding_window_4k": (0, 4096, False),
    "document_pile": (-BIG, BIG, True),
    "causal_document_pile": (0, BIG, True),
}


def run_flex(s, hq, hkv, d, doc_dir, reps):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    flex = torch.compile(flex_attention, dynamic=False)
    q = torch.randn(1, hq, s, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, hkv, s, d, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, hkv, s, d, device="cuda", dtype=torch.bfloat16)
    dout = torch.randn_like(q)
    doc = torch.zeros(s, device="cuda", dtype=torch.int32)
    lo = torch.zeros((), device="cuda", dtype=torch.int32)
    hi = torch.zeros((), device="cuda", dtype=torch.int32)

    def mask_mod(b, h, qi, ki):
        diff = qi - ki
        return (doc[qi] == doc[ki]) & (diff >= lo) & (diff <= hi)

    for name, (dlo, dhi, docs) in FLEX_MASKS.items():
        doc.zero_()
        if docs:
            with open(f"{doc_dir}/{name}_{s}.txt") as f:
                lens = [int(x) for x in f.read().split()]
            doc.copy_(torch.repeat_interleave(
                torch.arange(len(lens), device="cuda", dtype=torch.int32),
                torch.tensor(lens, device="cuda")))
        lo.fill_(dlo)
        hi.fill_(dhi)
        bm = create_block_mask(mask_mod, None, None, s, s, device="cuda")
        dd = doc.long()
        # Mask area for the FLOP count, exact: per document, pairs with lo <= q-k <= hi.
        idx = torch.arange(s, device="cuda")
        area = 0
        for start in range(0, s, 4096):
            qi = idx[start:start + 4096, None]
            diff = qi - idx[None, :]
            vis = (dd[start:start + 4096, None] == dd[None, :]) & (diff >= dlo) & (diff <= dhi)
            area += int(vis.sum())
        fwd = median_ms(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True), 2, reps)
        qg, kg, vg = (t.detach().requires_grad_() for t in (q, k, v))
        out = flex(qg, kg, vg, block_mask=bm, enable_gqa=True)
        bwd = median_ms(lambda: torch.autograd.grad(out, (qg, kg, vg), dout, retain_graph=True),
                        1, reps)
        flops = 4.0 * area * hq * d
        print(f"RESULT impl=torch_flex seq={s} mask={name} density={area / s / s:.4f} "
              f"fwd_ms={fwd:.3f} fwd_tflops={flops / fwd / 1e9:.1f} bwd_ms={bwd:.3f} "
              f"bwd_tflops={2.5 * flops / bwd / 1e9:.1f}", flush=True)
        del qg, kg, vg, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqs", default="16384,32768")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--flex", default="", help="dir with document lengths: also time FlexAttention")
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
    if args.flex:
        for s in [int(x) for x in args.seqs.split(",")]:
            run_flex(s, hq, hkv, d, args.flex, args.reps)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
