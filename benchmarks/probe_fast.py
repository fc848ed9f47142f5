"""Probe the fast-path options on the full-size random-weight model, one process, on the device machine:

    python benchmarks/probe_fast.py --out probe.json [--variants eager cudnn compile compile_cudnn]

For each variant (attention backend x torch.compile of head/block/tail) it times the sampler alone (CUDA
graphs on; median of --runs calls after warm-up) for short and long text at batch 1 and for 16 short
requests in one batch, the first-call time (graph capture + compilation) per shape, the mel's relative
error against `CFM.sample` on the same noise, and one engine.synthesize of 16 jobs split into stages.
Then the vocoder in fp32 against bf16 autocast (time, relative error of the waveform).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from ishowtts_studio.bench import TEXTS, builtin_voice
from ishowtts_studio.engines.base import ChunkJob, GenerationParams
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem


def sync_time(fn, *a):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn(*a)
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--precision", default="bf16")
    p.add_argument("--nfe", type=int, default=8)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--variants", nargs="+", default=["eager", "cudnn", "compile", "compile_cudnn"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--skip-vocoder", action="store_true")
    p.add_argument("--conv-check", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    t_start = time.perf_counter()
    eng = F5Engine(checkpoint="", vocab="", vocoder="", device="cuda", precision=args.precision,
                   cache_dir=Path("~/.cache/ishowtts-studio"), random_weights="full", cuda_graphs=True)
    eng.load()
    print(f"load {time.perf_counter() - t_start:.1f} s; inductor cache {os.environ.get('TORCHINDUCTOR_CACHE_DIR')}",
          flush=True)
    voice = builtin_voice("en")
    items = {size: eng.sample_item(voice, TEXTS["en"][size], seed=1)[0] for size in ("short", "medium", "long")}
    refs = {}
    with torch.inference_mode():
        for size, it in items.items():
            ref, _ = eng.cfm.sample(cond=it.cond_mel[None].to(eng.dtype), text=it.text_ids[None],
                                    duration=it.duration, steps=args.nfe, cfg_strength=2.0, sway_sampling_coef=-1.0,
                                    seed=it.seed)
            refs[size] = ref[0].float()
    short = items["short"]
    batch_items = [SampleItem(cond_mel=short.cond_mel, text_ids=short.text_ids, duration=short.duration,
                              seed=100 + i) for i in range(args.batch)]
    mixed = [items["short"], items["medium"]]  # a padded batch of two lengths
    pair = [items["short"], SampleItem(cond_mel=items["short"].cond_mel, text_ids=items["short"].text_ids,
                                       duration=items["short"].duration, seed=2)]  # two of one length
    near = [items["short"], SampleItem(cond_mel=items["short"].cond_mel, text_ids=items["short"].text_ids,
                                       duration=items["short"].duration - 8, seed=2)]  # 8 frames apart
    results: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "nfe": args.nfe,
                     "variants": {}}
    for variant in args.variants:
        torch._dynamo.reset()  # compiled code is cached per function: start each variant afresh
        sampler = F5Sampler(eng.cfm, cuda_graphs=True, compile_model="compile" in variant,
                            attention="cudnn" if "cudnn" in variant else "flash", triton_conv="tconv" in variant,
                            gelu_epilogue="gelu" in variant)

        def run(its, s=sampler):
            return s.sample(its, nfe=args.nfe, cfg_strength=2.0, sway_coef=-1.0)

        row: dict = {"first_call_s": {}, "median_ms": {}, "p95_ms": {}, "mel_rel_err": {}}
        try:
            for name, its in (("short", [items["short"]]), ("long", [items["long"]]), ("medium", [items["medium"]]),
                              (f"batch{args.batch}", batch_items), ("mixed", mixed), ("pair", pair),
                              ("near", near)):
                first, out = sync_time(run, its)
                row["first_call_s"][name] = first
                times = []
                for _ in range(args.runs if name != f"batch{args.batch}" else max(3, args.runs // 2)):
                    t, out = sync_time(run, its)
                    times.append(t * 1e3)
                row["median_ms"][name] = float(np.median(times))
                row["p95_ms"][name] = float(np.percentile(times, 95))
                if name in refs:
                    o = out[0].float()
                    row["mel_rel_err"][name] = float((o - refs[name]).norm() / refs[name].norm()) \
                        if o.shape == refs[name].shape else float("nan")
                if name == "mixed":  # padding must not change a request's result
                    solo = {"short": run([items["short"]])[0].float(), "medium": run([items["medium"]])[0].float()}
                    row["mixed_vs_solo_rel_err"] = [float((o.float() - solo[k]).norm() / solo[k].norm())
                                                    for o, k in zip(out, ("short", "medium"))]
                print(f"{variant:14} {name:8} first {first:6.1f} s  median {row['median_ms'][name]:7.1f} ms  "
                      f"err {row['mel_rel_err'].get(name, float('nan')):.1e}", flush=True)
            # one engine.synthesize of `batch` short jobs, split into stages
            eng.sampler = sampler
            params = GenerationParams(nfe=args.nfe, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
            jobs = [ChunkJob(voice=voice, text=TEXTS["en"]["short"], params=params, seed=i) for i in range(args.batch)]
            eng.synthesize(jobs)
            stages = []
            for _ in range(3):
                t0 = time.perf_counter()
                its = []
                for job in jobs:
                    item, prep = eng.sample_item(job.voice, job.text, seed=job.seed)
                    its.append(item)
                    ref_frames = prep.ref_frames
                t1 = time.perf_counter()
                ts, mels = sync_time(run, its)
                tv, _ = sync_time(eng.decoder.decode, [m[ref_frames:] for m in mels])
                tall, _ = sync_time(eng.synthesize, jobs)
                stages.append(((t1 - t0) * 1e3, ts * 1e3, tv * 1e3, tall * 1e3))
            row["synth_batch_stages_ms"] = dict(zip(("prep", "sample", "vocode", "synthesize"),
                                                    np.median(np.array(stages), axis=0).tolist()))
            print(f"{variant:14} synthesize x{args.batch}: {row['synth_batch_stages_ms']}", flush=True)
        except Exception as exc:  # record and go on to the next variant
            import traceback

            traceback.print_exc()
            row["error"] = f"{type(exc).__name__}: {exc}"
        results["variants"][variant] = row
        del sampler
        torch.cuda.empty_cache()

    if args.conv_check:  # the Triton position convolution against the unfold + bmm path, random inputs
        from ishowtts_studio.engines.f5_blocks import _grouped_conv
        from ishowtts_studio.engines.f5_kernels import arrange_weight, gconv_mish

        conv = eng.cfm.transformer.input_embed.conv_pos_embed.conv1d[0]
        groups = conv.groups
        wt = arrange_weight(conv.weight.detach(), groups)
        checks = {}
        with torch.inference_mode():
            for b, n in ((2, 863), (2, 2082), (32, 863)):
                x = torch.randn(b, n, conv.weight.shape[0], device="cuda", dtype=eng.dtype)
                keep = torch.arange(n, device="cuda")[None] < torch.randint(n // 2, n + 1, (b, 1), device="cuda")
                ref = torch.nn.functional.mish(_grouped_conv(x, conv.weight, conv.bias, groups).masked_fill(
                    ~keep.unsqueeze(-1), 0.0)).float()
                row = {}
                for block_n in (32, 64, 128):
                    out = gconv_mish(x, wt, conv.bias, keep.to(torch.uint8), block_n).float()
                    err = float((out - ref).norm() / ref.norm())
                    for _ in range(3):
                        gconv_mish(x, wt, conv.bias, None, block_n)
                    t = np.median([sync_time(gconv_mish, x, wt, conv.bias, None, block_n)[0] * 1e3 for _ in range(20)])
                    row[f"block{block_n}"] = {"rel_err": err, "ms": float(t)}
                def torch_conv(x=x):
                    return torch.nn.functional.mish(_grouped_conv(x, conv.weight, conv.bias, groups))

                torch_t = np.median([sync_time(torch_conv)[0] * 1e3 for _ in range(20)])
                row["torch_unfold_bmm_ms"] = float(torch_t)
                checks[f"b{b}_n{n}"] = row
                print("conv", b, n, row, flush=True)
        results["conv_check"] = checks

    if not args.skip_vocoder:
        mel = refs["long"][items["long"].cond_mel.shape[0]:]
        voc = {}
        with torch.inference_mode():
            x = mel.T.unsqueeze(0).contiguous()
            ref_wave = eng.vocoder.decode(x)
            for name, ctx in (("fp32", torch.autocast("cuda", enabled=False)),
                              ("bf16_autocast", torch.autocast("cuda", dtype=torch.bfloat16))):
                try:
                    with ctx:
                        for _ in range(3):
                            eng.vocoder.decode(x)
                        times = [sync_time(eng.vocoder.decode, x)[0] * 1e3 for _ in range(10)]
                        wave = eng.vocoder.decode(x).float()
                    voc[name] = {"median_ms": float(np.median(times)),
                                 "rel_err": float((wave - ref_wave).norm() / ref_wave.norm())}
                except Exception as exc:
                    voc[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print("vocoder", name, voc[name], flush=True)
        results["vocoder_long"] = voc
    results["total_s"] = time.perf_counter() - t_start
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
