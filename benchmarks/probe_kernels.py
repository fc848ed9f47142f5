"""How close are the DiT step's GEMMs and attention to what this GPU can do, at the step's own shapes? Run on the
device machine (no model needed):

    python benchmarks/probe_kernels.py --out probe_kernels.json [--autotune]

Each kernel is timed inside a CUDA graph of 20 back-to-back calls (so launch cost is out), median of 7 replays.
1. The block's four GEMMs (bf16, with bias) as the compiled block calls them (cuBLASLt), as plain `mm` without the
   bias epilogue, and with cuBLAS preferred over cuBLASLt; TFLOP/s for each.
2. With --autotune: inductor's max-autotune of the same GEMMs (Triton templates against ATen), whose timing table
   goes to stderr: is there a faster kernel for these shapes than the one cuBLAS picks?
3. Attention at the step's shapes (batch x 2 for CFG, 16 heads of 64) with q, k, v laid out as the block makes
   them: cuDNN, FlashAttention-2, memory-efficient.
5. With --triton-attention: `f5_attention.attention` (the Triton kernel) at each tile size, warp count and pipeline
   depth, against cuDNN on the same q, k, v, with its largest difference from cuDNN's output.
4. With --conv: the position embedding's Triton convolution (`f5_kernels.gconv_mish`) at each tile size, warp
   count and pipeline depth, against the configuration it ships with (64 frames, 4 warps, 3 stages).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# packed rows (2 x frames for CFG) of the benchmark's short, medium, long texts and 16 concurrent shorts
ROWS = {"short": 1726, "medium": 2 * 1437, "long": 2 * 2082, "b16": 16 * 1726}
# (text, packed rows, frames) for attention and the convolution, which see rows and frames apart
FRAMES = {"short": 863, "medium": 1437, "long": 2082, "b16": 863}
SHAPES = [(text, m // FRAMES[text], FRAMES[text]) for text, m in ROWS.items()]
GEMMS = {"qkv": (1024, 3072), "o": (1024, 1024), "ff1": (1024, 2048), "ff2": (2048, 1024)}


def graph_us(fn: Callable[..., object], *args: object, calls: int = 20, replays: int = 7) -> float:
    """Median time of one call `fn(*args)`, from CUDA graphs of `calls` calls."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn(*args)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn(*args)
    times = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000 / calls)
    return statistics.median(times)


def gemms(autotune: bool) -> list[dict]:
    out = []
    for text, m in ROWS.items():
        for name, (k, n) in GEMMS.items():
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / k**0.5
            b = torch.randn(n, device="cuda", dtype=torch.bfloat16)
            flop = 2 * m * k * n
            row = {"text": text, "gemm": name, "m": m, "k": k, "n": n}
            row["lt_bias_us"] = graph_us(F.linear, x, w, b)
            row["mm_us"] = graph_us(torch.mm, x, w.t())
            torch.backends.cuda.preferred_blas_library("cublas")
            row["cublas_bias_us"] = graph_us(F.linear, x, w, b)
            torch.backends.cuda.preferred_blas_library("cublaslt")
            if autotune:
                torch._dynamo.reset()
                fn = torch.compile(F.linear, mode="max-autotune-no-cudagraphs", dynamic=False)
                fn(x, w, b)
                row["autotuned_us"] = graph_us(fn, x, w, b)
            for key in [k2 for k2 in row if k2.endswith("_us")]:
                row[key.replace("_us", "_tflops")] = round(flop / row[key] / 1e6, 1)
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


def packed_qkv(batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """q, k, v of 16 heads of 64 as the block has them: (batch, frames, heads, 64) views of one packed tensor; and
    the attention's FLOPs."""
    qkv = torch.randn(batch, frames, 3, 16, 64, device="cuda", dtype=torch.bfloat16)
    return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], 4 * batch * 16 * frames * frames * 64


def attention() -> list[dict]:
    out = []
    for text, batch, frames in SHAPES:
        q, k, v, flop = packed_qkv(batch, frames)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (batch, heads, frames, 64), as SDPA takes them
        row = {"text": text, "batch": batch, "frames": frames}
        for label, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
                               ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    row[f"{label}_us"] = graph_us(F.scaled_dot_product_attention, q, k, v)
                row[f"{label}_tflops"] = round(flop / row[f"{label}_us"] / 1e6, 1)
            except RuntimeError as exc:
                row[f"{label}_error"] = str(exc)[:200]
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def conv() -> list[dict]:
    import triton

    from ishowtts_studio.engines.f5_kernels import _gconv_mish_kernel

    out = []
    for text, batch, frames in SHAPES:
        x = torch.randn(batch, frames, 1024, device="cuda", dtype=torch.bfloat16)
        wt = torch.randn(16, 31, 64, 64, device="cuda", dtype=torch.bfloat16) / 40
        bias = torch.randn(1024, device="cuda", dtype=torch.bfloat16)
        y = torch.empty_like(x)
        flop = 2 * batch * frames * 1024 * 64 * 31
        for block_n in (32, 64, 128):
            for warps in (2, 4, 8):
                for stages in (2, 3, 4):
                    grid = (triton.cdiv(frames, block_n), 16, batch)

                    run = partial(_gconv_mish_kernel[grid], x, wt, bias, x, y, frames, C=1024, CG=64, K=31,
                                  HAS_KEEP=False, BLOCK_N=block_n, num_warps=warps, num_stages=stages)
                    try:
                        us = graph_us(run)
                    except Exception as exc:  # a configuration that does not fit the SM's shared memory
                        us = float("nan")
                        print(f"conv {text} {block_n}/{warps}/{stages}: {str(exc)[:80]}", flush=True)
                    out.append({"text": text, "block_n": block_n, "warps": warps, "stages": stages, "us": us,
                                "tflops": round(flop / us / 1e6, 1) if us == us else None})
        mine = [r for r in out if r["text"] == text]
        shipped = next(r for r in mine if (r["block_n"], r["warps"], r["stages"]) == (64, 4, 3))
        best = min((r for r in mine if r["us"] == r["us"]), key=lambda r: r["us"])
        print(json.dumps({"conv": text, "shipped": shipped, "best": best}), flush=True)
    return out


def triton_attention() -> list[dict]:
    from ishowtts_studio.engines.f5_attention import attention as triton_attention_fn

    out = []
    for text, batch, frames in SHAPES:
        q, k, v, flop = packed_qkv(batch, frames)
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            ref = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v))).transpose(1, 2)
            cudnn_us = graph_us(F.scaled_dot_product_attention, *(t.transpose(1, 2) for t in (q, k, v)))
        rows = []
        for block_m in (64, 128):
            for block_n in (32, 64, 128):
                for warps in (4, 8):
                    for stages in (2, 3, 4):
                        cfg = {"block_m": block_m, "block_n": block_n, "warps": warps, "stages": stages}
                        try:
                            err = (triton_attention_fn(q, k, v, **cfg).float() - ref.float()).abs().max().item()
                            us = graph_us(partial(triton_attention_fn, q, k, v, **cfg))
                        except Exception as exc:  # e.g. out of shared memory for this tile
                            print(f"attention {text} {cfg}: {str(exc)[:80]}", flush=True)
                            continue
                        rows.append({"text": text, **cfg, "us": us, "tflops": round(flop / us / 1e6, 1),
                                     "max_abs_diff_vs_cudnn": err})
        best = min(rows, key=lambda r: r["us"])
        print(json.dumps({"attention": text, "cudnn_us": cudnn_us,
                          "cudnn_tflops": round(flop / cudnn_us / 1e6, 1), "best": best}), flush=True)
        out.extend(rows)
        out.append({"text": text, "cudnn_us": cudnn_us})
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--autotune", action="store_true")
    p.add_argument("--conv", action="store_true", help="only the position embedding's convolution")
    p.add_argument("--triton-attention", action="store_true", help="only the Triton attention against cuDNN")
    args = p.parse_args()
    result: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    if args.conv:
        result["conv"] = conv()
    elif args.triton_attention:
        result["triton_attention"] = triton_attention()
    else:
        result |= {"attention": attention(), "gemms": gemms(args.autotune)}
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
