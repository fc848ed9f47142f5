"""Where a live request's time goes, on the device machine (full-size random weights, the default config):

    python benchmarks/probe_path.py [--config extra.toml] --out probe_path.json

1. Engine alone, chat lines of new lengths one at a time (as the paced workload has them): host time to build the
   sampler input, host time to launch the sampler, the wait for the GPU, the vocoder, and the whole call; the
   GPU's own time for the sampler (CUDA events).
2. Padded (bucket graph) against exact (a graph for that length) for the same lines, and the padded result's
   error against the exact one: what a new length costs and whether it changes the audio.
3. The same kind of lines served through the runtime one at a time, 250 ms apart, with the configured batch
   window and without: the runtime's own cost on top of the engine.
0. Attention alone at chat lengths: dense (cuDNN, no padding), dense with a padding bias (cuDNN), and the padded
   rows as variable-length sequences through FlashAttention-2 and through cuDNN (ragged offsets).
4. A torch.profiler trace of three served requests: GPU kernel time against the requests' wall time, and the
   host functions that take longest (printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from ishowtts_studio.bench_config import builtin_voice
from ishowtts_studio.engine_factory import f5_engine
from ishowtts_studio.engines.base import ChunkJob, GenerationParams
from ishowtts_studio.engines.f5_sampler import round_up
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest
from ishowtts_studio.settings import load_settings
from ishowtts_studio.workloads import chat_lines

PARAMS = GenerationParams(nfe=8, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def attention_probe() -> list[dict]:
    rows = [attention_case(*shape) for shape in ((2, 896, 870), (2, 1056, 1030), (2, 2080, 2070), (16, 1024, 900))]
    return rows


def attention_case(packed: int, length: int, valid: int) -> dict:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from triton.testing import do_bench

    from ishowtts_studio.engines.f5_sampler import split_offsets

    dt = torch.bfloat16
    q, k, v = (torch.randn(packed, length, 16, 64, device="cuda", dtype=dt) for _ in range(3))
    bias = torch.zeros(packed, 1, 1, length, device="cuda", dtype=dt)
    bias[..., valid:] = float("-inf")
    cu = torch.tensor(split_offsets([valid] * packed, length), device="cuda", dtype=torch.int32)
    flat = [t.reshape(packed * length, 16, 64) for t in (q, k, v)]
    ref = F.scaled_dot_product_attention(*(t[:, :valid].float().transpose(1, 2) for t in (q, k, v)))
    ref = ref.transpose(1, 2)

    def dense(mask, backend):
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)),
                                                  attn_mask=mask).transpose(1, 2)

    cases = {
        "dense_cudnn_nomask": lambda: dense(None, SDPBackend.CUDNN_ATTENTION),
        "dense_cudnn_bias": lambda: dense(bias, SDPBackend.CUDNN_ATTENTION),
        "dense_flash_nomask": lambda: dense(None, SDPBackend.FLASH_ATTENTION),
        "varlen_flash": lambda: torch.ops.aten._flash_attention_forward(
            *flat, cu, cu, length, length, 0.0, False, False)[0].view(packed, length, 16, 64),
        "varlen_cudnn": lambda: torch.ops.aten._cudnn_attention_forward(
            *flat, None, cu, cu, length, length, False, 0.0, False, False)[0].view(packed, length, 16, 64),
    }
    row: dict = {"packed": packed, "length": length, "valid": valid}
    for name, fn in cases.items():
        try:
            out = fn().float()
            ms = do_bench(fn, warmup=25, rep=100, return_mode="median")
            err = float((out[:, :valid] - ref).norm() / ref.norm())
            row[name] = {"us": ms * 1e3, "rel_err_valid": err}
        except Exception as exc:  # a kernel that refuses the case says why
            row[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    print(json.dumps(row), flush=True)
    return row


def vocoder_probe(eng) -> list[dict]:
    """The vocoder alone at chat lengths: host time of the call (it ends with a copy to the host) and GPU time."""
    rows = []
    for frames in (150, 300, 600, 1200):
        mel = torch.randn(frames, 100, device="cuda", dtype=eng.dtype)
        runs = []
        for _ in range(12):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            eng.decoder.decode([mel])
            runs.append((time.perf_counter() - t0) * 1e3)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        batch = mel[None].float().transpose(1, 2)
        start.record()
        for _ in range(10):
            eng.vocoder.decode(batch)
        end.record()
        torch.cuda.synchronize()
        rows.append({"frames": frames, "call_ms": med(runs[2:]), "gpu_ms_per_decode": start.elapsed_time(end) / 10})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def engine_alone(eng, lines: list[str]) -> list[dict]:
    voice = builtin_voice("en")
    rows = []
    for i, text in enumerate(lines):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        item, prepared = eng.sample_item(voice, text, seed=i)
        t1 = time.perf_counter()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        mel = eng.sample_mels([item], PARAMS)[0]
        end.record()
        t2 = time.perf_counter()
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        eng.decoder.decode([mel[prepared.ref_frames:]])  # the engine's own stage
        t4 = time.perf_counter()
        job = ChunkJob(voice=voice, text=text, params=PARAMS, seed=i)
        torch.cuda.synchronize()
        t5 = time.perf_counter()
        eng.synthesize([job])  # the same length again, whole call (exact graph not prepared: padded again)
        t6 = time.perf_counter()
        rows.append({"frames": item.duration, "prep_host_ms": (t1 - t0) * 1e3, "launch_host_ms": (t2 - t1) * 1e3,
                     "gpu_wait_ms": (t3 - t2) * 1e3, "sampler_gpu_ms": start.elapsed_time(end),
                     "vocoder_ms": (t4 - t3) * 1e3, "synthesize_ms": (t6 - t5) * 1e3})
    return rows


def padded_vs_exact(eng, lines: list[str]) -> list[dict]:
    voice = builtin_voice("en")
    sampler = eng.sampler
    kw = {"nfe": PARAMS.nfe, "cfg_strength": PARAMS.cfg_strength, "sway_coef": PARAMS.sway_coef}
    rows = []
    for i, text in enumerate(lines):
        item, _ = eng.sample_item(voice, text, seed=100 + i)
        frames = sampler.duration_of(item)
        bucket = round_up(frames, sampler.bucket_frames)
        times = {}
        outs = {}
        for label, length, padded in (("padded", bucket, True), ("exact", frames, False)):
            outs[label] = sampler.sample([item], length=length, force_padded=padded, **kw)[0]  # captures if new
            runs = []
            for _ in range(5):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                sampler.sample([item], length=length, force_padded=padded, **kw)
                torch.cuda.synchronize()
                runs.append((time.perf_counter() - t0) * 1e3)
            times[label] = med(runs)
        a, b = outs["padded"].float(), outs["exact"].float()
        rows.append({"frames": frames, "bucket": bucket, "padded_ms": times["padded"], "exact_ms": times["exact"],
                     "rel_err": float((a - b).norm() / b.norm())})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def served(runtime: EngineRuntime, lines: list[str], gap_s: float) -> list[float]:
    voice = builtin_voice("en")
    out = []
    for i, text in enumerate(lines):
        handle = runtime.submit(SynthesisRequest(voice=voice, chunks=[text], params=PARAMS, seed=i, origin="bench"))
        handle.result(timeout=60)
        out.append(handle.stats.latency_s * 1e3)
        time.sleep(gap_s)
    return out


def profile(runtime: EngineRuntime, lines: list[str]) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        walls = served(runtime, lines, 0.0)
        wall = (time.perf_counter() - t0) * 1e3
    events = prof.key_averages()
    gpu_us = sum(e.self_device_time_total for e in events)
    print(events.table(sort_by="self_cpu_time_total", row_limit=25), flush=True)
    print(events.table(sort_by="self_device_time_total", row_limit=15), flush=True)
    return {"requests_ms": walls, "wall_ms": wall, "gpu_kernel_ms": gpu_us / 1e3}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path)
    p.add_argument("--lines", type=int, default=16)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    attention = attention_probe()
    settings = load_settings(args.config) if args.config else load_settings()
    eng_s = settings.engine
    eng = f5_engine(settings, "cuda", "full")
    voices = [builtin_voice("en"), builtin_voice("zh")]
    runtime = EngineRuntime(eng, max_batch=eng_s.max_batch, batch_wait_s=eng_s.batch_wait_ms / 1000)
    t0 = time.perf_counter()
    runtime.start(lambda e, say: e.warmup(voices, PARAMS.nfe, say))
    if not runtime.wait_ready(600):
        raise SystemExit(f"engine not ready: {runtime.message}")
    result: dict = {"warmup_s": time.perf_counter() - t0, "fast_path": eng.info().fast_path, "attention": attention}
    result["vocoder"] = runtime.call(vocoder_probe)
    lines = chat_lines(args.lines * 4, seed=4242, languages=("en",))
    # engine measurements run on the worker thread, between requests, as the runtime runs everything
    result["engine_alone"] = rows = runtime.call(lambda e: engine_alone(e, lines[: args.lines]))
    result["engine_alone_median"] = {k: med([r[k] for r in rows]) for k in rows[0]}
    print(json.dumps(result["engine_alone_median"]), flush=True)
    result["padded_vs_exact"] = runtime.call(lambda e: padded_vs_exact(e, lines[args.lines : args.lines + 6]))
    for n, wait_ms in enumerate((eng_s.batch_wait_ms, 0.0)):
        runtime.batch_wait_s = wait_ms / 1000
        lat = served(runtime, lines[(2 + n) * args.lines : (3 + n) * args.lines], 0.25)
        result[f"served_wait_{wait_ms:g}ms"] = {"median_ms": med(lat), "all_ms": lat}
        print(f"served, batch window {wait_ms} ms: median {med(lat):.1f} ms", flush=True)
    result["profile"] = profile(runtime, chat_lines(3, seed=777, languages=("en",)))
    print(json.dumps(result["profile"]), flush=True)
    result["memory"] = eng.memory_stats()
    runtime.stop()
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
