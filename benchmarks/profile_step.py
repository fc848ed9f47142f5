"""Where does one sampler call spend its GPU time? Profiles our sampler (no graphs) on the full-size
random-weight model and prints the top CUDA kernels. Run on the device machine:
    python benchmarks/profile_step.py [--precision bf16] [--text long] [--compile] [--attention cudnn] [--batch 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from ishowtts_studio.bench import TEXTS, builtin_voice
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.f5_sampler import SampleItem

p = argparse.ArgumentParser()
p.add_argument("--precision", default="bf16")
p.add_argument("--text", default="short")
p.add_argument("--nfe", type=int, default=8)
p.add_argument("--out", type=Path)
p.add_argument("--buckets", type=int, nargs="+", default=[1])
p.add_argument("--compile", action="store_true")
p.add_argument("--attention", default="flash", choices=["flash", "cudnn"])
p.add_argument("--batch", type=int, default=1)
p.add_argument("--rows", type=int, default=25)
args = p.parse_args()
eng = F5Engine(checkpoint="", vocab="", vocoder="", device="cuda", precision=args.precision,
               cache_dir=Path("~/.cache/ishowtts-studio"), random_weights="full", cuda_graphs=False,
               compile_model=args.compile, attention=args.attention)
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
