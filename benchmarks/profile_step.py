"""Where does one sampler call spend its GPU time? Profiles our sampler with the default config's fast path but
no CUDA graphs (so each kernel is visible) on the full-size random-weight model and prints the top CUDA kernels.
Until 2026-12-01 (round 4) it built the engine without the fused kernels (unfold + bmm convolution, separate
GELU). Run on the device machine:
    python benchmarks/profile_step.py [--precision bf16] [--text long] [--compile] [--attention cudnn] [--batch 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from ishowtts_studio.bench import TEXTS, builtin_voice
from ishowtts_studio.engine_factory import f5_engine
from ishowtts_studio.engines.f5_sampler import SampleItem
from ishowtts_studio.settings import load_settings

p = argparse.ArgumentParser()
p.add_argument("--precision", default="bf16")
p.add_argument("--text", default="short")
p.add_argument("--nfe", type=int, default=8)
p.add_argument("--out", type=Path)
p.add_argument("--buckets", type=int, nargs="+", default=[1])
p.add_argument("--compile", action="store_true")
p.add_argument("--attention", choices=["flash", "cudnn"], help="default: the config's")
p.add_argument("--batch", type=int, default=1)
p.add_argument("--rows", type=int, default=25)
p.add_argument("--config", type=Path, help="a config.toml instead of the default one")
args = p.parse_args()
# the default config's fast path (Triton convolution, GELU in the GEMM epilogue, ...) as the studio serves it,
# without CUDA graphs so that each kernel shows; --compile / --attention / --precision override the config
settings = load_settings(args.config) if args.config else load_settings()
eng = f5_engine(settings, "cuda", "full", cache_dir=Path("~/.cache/ishowtts-studio").expanduser(),
                precision=args.precision, cuda_graphs=False, compile_model=args.compile,
                attention=args.attention or settings.engine.attention,
                exact_graphs=False, prepare_exact_bytes=0)
eng.load()
voice = builtin_voice("en")
one, _ = eng.sample_item(voice, TEXTS["en"][args.text])
items = [SampleItem(cond_mel=one.cond_mel, text_ids=one.text_ids, duration=one.duration, seed=1 + i)
         for i in range(args.batch)]
for bucket in args.buckets:
    eng.sampler.bucket_frames = bucket
    for _ in range(3):
        eng.sampler.sample(items, nfe=args.nfe, cfg_strength=2.0, sway_coef=-1.0)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        eng.sampler.sample(items, nfe=args.nfe, cfg_strength=2.0, sway_coef=-1.0)
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=args.rows, max_name_column_width=70)
    kernels = sum(1 for e in prof.events() if e.device_type.name == "CUDA")
    head = (f"=== {args.text} batch {args.batch} bucket {bucket} frames {one.duration} precision {args.precision} "
            f"compile {eng.sampler.compiled} attention {args.attention} CUDA kernels per call {kernels}")
    print(f"{head}\n{table}")
    if args.out:
        with args.out.open("a") as fh:
            fh.write(f"{head}\n{table}\n")
