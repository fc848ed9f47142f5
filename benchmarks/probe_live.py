"""Probe what a new length costs, on the device machine (full-size random weights, bf16, compile + graphs):

    python benchmarks/probe_live.py --out probe_live.json

1. Attention alone (heads 16, head dim 64) at chat lengths: unmasked against a key-padding mask through
   each SDPA backend, so we know what padding costs in attention.
2. The sampler at batch 1 and 8: exact length (unpadded) against the same requests padded to a bucket,
   first call (capture, maybe compile) and warm median, and the padded result's error against the exact one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench

from ishowtts_studio.bench import builtin_voice
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.workloads import chat_lines


def attention_probe(dtype: torch.dtype) -> list[dict]:
    rows = []
    for packed, length, valid in ((2, 896, 870), (2, 1024, 1000), (16, 1024, 900)):
        q, k, v = (torch.randn(packed, 16, length, 64, device="cuda", dtype=dtype) for _ in range(3))
        keep = torch.zeros(packed, length, dtype=torch.bool, device="cuda")
        keep[:, :valid] = True
        bias = torch.zeros(packed, 1, 1, length, device="cuda", dtype=dtype).masked_fill(
            ~keep.view(packed, 1, 1, length), float("-inf"))
        boolmask = keep.view(packed, 1, 1, length)
        cases = {
            "none_cudnn": ([SDPBackend.CUDNN_ATTENTION], None),
            "none_flash": ([SDPBackend.FLASH_ATTENTION], None),
            "bias_cudnn": ([SDPBackend.CUDNN_ATTENTION], bias),
            "bias_efficient": ([SDPBackend.EFFICIENT_ATTENTION], bias),
            "bool_efficient": ([SDPBackend.EFFICIENT_ATTENTION], boolmask),
            "bias_expanded_cudnn": ([SDPBackend.CUDNN_ATTENTION], bias.expand(packed, 16, length, length)),
        }
        row = {"packed": packed, "length": length, "valid": valid}
        ref = F.scaled_dot_product_attention(q.float()[:, :, :, :], k.float()[:, :, :valid], v.float()[:, :, :valid])
        for name, (backends, mask) in cases.items():
            try:
                with sdpa_kernel(backends):
                    ms = do_bench(lambda m=mask, q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                                  warmup=25, rep=100, return_mode="median")
                    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).float()
                err = float((out - ref).norm() / ref.norm()) if mask is not None else None
                row[name] = {"ms": ms, "rel_err_vs_valid_only": err}
            except Exception as exc:  # a backend that refuses the case says why
                row[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def timed(fn) -> tuple[float, object]:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def sampler_probe(eng: F5Engine, nfe: int, runs: int) -> list[dict]:
    voice = builtin_voice("en")
    lines = chat_lines(8, seed=99, languages=("en",))
    items = [eng.sample_item(voice, text, seed=i)[0] for i, text in enumerate(lines)]
    sampler = eng.sampler
    kw = {"nfe": nfe, "cfg_strength": 2.0, "sway_coef": -1.0}
    rows = []
    for label, batch, bucket in (("b1_exact", items[:1], 1), ("b1_bucket32", items[1:2], 32),
                                 ("b1_bucket32_again_newlen", items[2:3], 32), ("b8_exact_groups", items, 1),
                                 ("b8_padded_bucket32", items, 32)):
        sampler.bucket_frames = bucket
        if label == "b8_exact_groups":
            fn = lambda b=batch: eng.sample_mels(b, type("P", (), kw | {"nfe": nfe})())  # noqa: E731
        else:
            fn = lambda b=batch: sampler.sample(b, **kw)  # noqa: E731
        first, out = timed(fn)
        times = [timed(fn)[0] for _ in range(runs)]
        times.sort()
        row = {"case": label, "frames": [it.duration for it in batch], "first_ms": first * 1e3,
               "median_ms": times[len(times) // 2] * 1e3, "min_ms": times[0] * 1e3}
        if bucket > 1:  # padded against each alone, exact
            sampler.bucket_frames = 1
            errs = []
            for it, mel in zip(batch, out):
                solo = sampler.sample([it], **kw)[0].float()
                errs.append(float((mel.float() - solo).norm() / solo.norm()))
            row["padded_vs_alone_max_rel_err"] = max(errs)
        rows.append(row)
        print(json.dumps(row), flush=True)
    sampler.bucket_frames = 1
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--precision", default="bf16")
    p.add_argument("--nfe", type=int, default=8)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float16
    result = {"attention": attention_probe(dtype)}
    eng = F5Engine(checkpoint="", vocab="", vocoder="", device="cuda", precision=args.precision,
                   cache_dir=Path("~/.cache/ishowtts-studio"), random_weights="full", cuda_graphs=True,
                   compile_model=args.compile, attention="cudnn", fused_kernels=True)
    eng.load()
    result["sampler"] = sampler_probe(eng, args.nfe, args.runs)
    result["memory"] = eng.memory_stats()
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
