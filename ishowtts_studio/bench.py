"""Benchmark: our engine against f5-tts's own pipeline, same weights, same process, alternating runs.

    python -m ishowtts_studio.bench --random-weights full --compare-stock --nfe 8 16 32 --json out.json
    python -m ishowtts_studio.bench --smoke --runs 2 --json /tmp/smoke.json

Every measured row is text + voice in, full waveform in host memory out, batch 1, warm, timed with a
device synchronisation (the engine copies the waveform to the host). The stock side calls
`f5_tts.infer.utils_infer.infer_batch_process` on the same CFM and Vocos objects with the same NFE,
CFG and sway. All engine work runs on the runtime's worker thread (`EngineRuntime.call`).

No gradio here: the Performance tab calls `run_benchmark` through the Studio.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.engines.base import ChunkJob, GenerationParams, VoiceRef
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest

log = logging.getLogger(__name__)

# English short/medium/long give 3.9 / 9.6 / 16.9 s of audio with the English reference clip under f5-tts's
# duration rule: the rows of the stock measurements in ARCHITECTURE.md, so figures compare.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "short": "Really, I don't care what you call me.",
        "medium": "I don't really care what you call me. I have been a silent spectator, watching species evolve.",
        "long": "I don't really care what you call me. I've been a silent spectator, watching species evolve, "
        "empires rise and fall. But always remember, I am mighty and so enduring.",
    },
    "zh": {
        "short": "你好，欢迎来到直播间。",
        "medium": "今天我们一起聊聊语音合成，看看它到底有多快，效果怎么样。",
        "long": "我不在乎你怎么称呼我。我一直是一个沉默的旁观者，看着物种进化，帝国兴衰。但请永远记住，我强大而持久。",
    },
}
VOICES = {
    "en": ("basic_ref_en.wav", "Some call me nature, others call me mother nature."),
    "zh": ("basic_ref_zh.wav", "对，这就是我，万人敬仰的太乙真人。"),
}


def builtin_voice(lang: str) -> VoiceRef:
    import hashlib

    name, transcript = VOICES[lang]
    path = Path(str(files("f5_tts").joinpath(f"infer/examples/basic/{name}")))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return VoiceRef(slug=f"builtin-{lang}", audio_path=path, transcript=transcript, content_hash=digest)


def summarise(values: list[float]) -> dict[str, float]:
    """mean, median, p95, min, max and coefficient of variation (sample std / mean)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {}
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {
        "mean": mean,
        "median": float(np.median(arr)),
        "p95": float(np.percentile(arr, 95)),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "cv": std / mean if mean else 0.0,
        "n": int(arr.size),
    }


@dataclass
class BenchConfig:
    nfes: list[int] = field(default_factory=lambda: [8, 16, 32])
    texts: list[str] = field(default_factory=lambda: ["short", "medium", "long"])
    langs: list[str] = field(default_factory=lambda: ["en"])
    runs: int = 10
    warmup: int = 2
    compare_stock: bool = False
    cfg_strength: float = 2.0
    sway_coef: float = -1.0
    seed: int = 1234
    concurrency: int = 0  # >0: also time that many concurrent short requests through the queue
    streaming: bool = True  # also time the first audio chunk through the runtime
    peak_tflops: float = 790.0  # dense bf16/fp16 rate measured on the device machine's H100/H200


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_mib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def _ours_once(engine: Any, job: ChunkJob) -> tuple[float, np.ndarray]:
    _sync()
    t0 = time.perf_counter()
    out = engine.synthesize([job])[0]  # ends with a copy to the host: synchronised
    return time.perf_counter() - t0, out.audio


def _stock_once(engine: Any, voice: VoiceRef, text: str, params: GenerationParams) -> tuple[float, np.ndarray]:
    import torch
    from f5_tts.infer.utils_infer import infer_batch_process

    from ishowtts_studio.audio import read_audio
    from ishowtts_studio.engines.f5 import preprocess_ref_text

    wav, sr = read_audio(voice.audio_path, target_sr=engine.sample_rate)
    ref = (torch.from_numpy(wav)[None], sr)
    _sync()
    t0 = time.perf_counter()
    gen = infer_batch_process(
        ref, preprocess_ref_text(voice.transcript), [text], engine.cfm, engine.vocoder, nfe_step=params.nfe,
        cfg_strength=params.cfg_strength, sway_sampling_coef=params.sway_coef, speed=params.speed,
        device=str(engine.device), progress=None,
    )
    audio, _, _ = next(gen)
    return time.perf_counter() - t0, np.asarray(audio, dtype=np.float32)


def _mel_check(engine: Any, voice: VoiceRef, text: str, params: GenerationParams, seed: int) -> dict[str, Any]:
    """Our sampler against `CFM.sample` on the same noise: relative error of the mel, same duration."""
    import torch

    from ishowtts_studio.engines.f5_sampler import SampleItem

    prepared, _ = engine._prepared(voice)
    total, _ = engine.estimate_frames(voice, text, params.speed)
    ids = engine._text_ids(prepared.ref_text + text)
    ours = engine.sampler.sample(
        [SampleItem(cond_mel=prepared.mel, text_ids=ids, duration=total, seed=seed)],
        nfe=params.nfe, cfg_strength=params.cfg_strength, sway_coef=params.sway_coef,
    )[0].float()
    with torch.inference_mode():
        ref, _ = engine.cfm.sample(
            cond=prepared.mel[None].to(engine.dtype), text=ids[None], duration=total, steps=params.nfe,
            cfg_strength=params.cfg_strength, sway_sampling_coef=params.sway_coef, seed=seed,
        )
    ref = ref[0].float()
    same = ours.shape == ref.shape
    err = float((ours - ref).norm() / ref.norm()) if same else float("nan")
    return {"mel_rel_err": err, "same_duration": same, "frames": int(ours.shape[0])}


def compute_floor_ms(engine: Any, total_frames: int, nfe: int, peak_tflops: float, batch: int = 1) -> float:
    """Milliseconds the sampler's matrix arithmetic needs at `peak_tflops`: every linear layer of the DiT on
    every frame of the CFG-packed batch, attention's two products, the position convolutions, per step."""
    from torch import nn

    dit = engine.cfm.transformer
    per_token = sum(m.weight.numel() for blk in dit.transformer_blocks for name, m in blk.named_modules()
                    if isinstance(m, nn.Linear) and not name.startswith("attn_norm"))
    per_token += dit.input_embed.proj.weight.numel() + dit.proj_out.weight.numel()
    conv = dit.input_embed.conv_pos_embed.conv1d
    per_token += sum(layer.weight.numel() for layer in (conv[0], conv[2]))
    sequences = 2 * batch  # conditional and unconditional passes
    linear = 2 * per_token * total_frames * sequences
    attention = 4 * total_frames**2 * dit.dim * sequences * len(dit.transformer_blocks)
    return (linear + attention) * nfe / (peak_tflops * 1e12) * 1e3


def _profile_parts(engine: Any, job: ChunkJob, reps: int = 5) -> dict[str, float]:
    """Median milliseconds of each stage of one synthesis, to see where the time goes."""
    import torch

    from ishowtts_studio.engines.f5_sampler import SampleItem

    parts: dict[str, list[float]] = {"prep_ms": [], "sample_ms": [], "vocoder_ms": []}
    p = job.params
    for _ in range(reps):
        _sync()
        t0 = time.perf_counter()
        prepared, _ = engine._prepared(job.voice)
        total, ref_frames = engine.estimate_frames(job.voice, job.text, p.speed)
        ids = engine._text_ids(prepared.ref_text + job.text)
        _sync()
        t1 = time.perf_counter()
        mel = engine.sampler.sample([SampleItem(cond_mel=prepared.mel, text_ids=ids, duration=total, seed=job.seed)],
                                    nfe=p.nfe, cfg_strength=p.cfg_strength, sway_coef=p.sway_coef)[0]
        _sync()
        t2 = time.perf_counter()
        with torch.inference_mode():
            engine.vocoder.decode(mel[ref_frames:].float().T.unsqueeze(0))
        _sync()
        t3 = time.perf_counter()
        for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[key].append(value * 1e3)
    return {k: float(np.median(v)) for k, v in parts.items()}


def _row(engine: Any, runtime: EngineRuntime, cfg: BenchConfig, lang: str, size: str, nfe: int,
         chunker: Callable[[str], list[str]] | None) -> dict[str, Any]:
    voice = builtin_voice(lang)
    text = TEXTS[lang][size]
    params = GenerationParams(nfe=nfe, cfg_strength=cfg.cfg_strength, sway_coef=cfg.sway_coef, speed=1.0)
    job = ChunkJob(voice=voice, text=text, params=params, seed=cfg.seed)

    def measure(eng: Any) -> dict[str, Any]:
        _reset_peak()
        for _ in range(cfg.warmup):
            _ours_once(eng, job)
            if cfg.compare_stock:
                _stock_once(eng, voice, text, params)
        ours, stock, audio_s, stock_audio_s = [], [], 0.0, 0.0
        stock_error = None
        for _ in range(cfg.runs):  # alternate so drift hits both sides alike
            t, audio = _ours_once(eng, job)
            ours.append(t)
            audio_s = len(audio) / eng.sample_rate
            if cfg.compare_stock and stock_error is None:
                try:
                    t, audio = _stock_once(eng, voice, text, params)
                except Exception as exc:  # the stock pipeline has failure modes of its own; record, go on
                    stock_error = f"{type(exc).__name__}: {exc}"
                    continue
                stock.append(t)
                stock_audio_s = len(audio) / eng.sample_rate
        row: dict[str, Any] = {"peak_mem_mib": _peak_mib(), "parts": _profile_parts(eng, job)}
        total, _ = eng.estimate_frames(voice, text, params.speed)
        row["total_frames"] = total
        row["compute_floor_ms"] = compute_floor_ms(eng, total, nfe, cfg.peak_tflops)
        if stock_error:
            row["stock_error"] = stock_error
        row["ours_latency"] = summarise(ours)
        row["ours_rtf"] = summarise([t / audio_s for t in ours])
        row["audio_s"] = audio_s
        if cfg.compare_stock and stock:
            row["stock_latency"] = summarise(stock)
            row["stock_rtf"] = summarise([t / stock_audio_s for t in stock])
            row["stock_audio_s"] = stock_audio_s
            row["ratio_stock_over_ours"] = row["stock_latency"]["median"] / row["ours_latency"]["median"]
            row["same_audio_length"] = abs(stock_audio_s - audio_s) < 1e-9
            try:
                row.update(_mel_check(eng, voice, text, params, cfg.seed))
            except Exception as exc:
                row["mel_check_error"] = f"{type(exc).__name__}: {exc}"
        return row

    row = {"lang": lang, "text": size, "nfe": nfe, "chars": len(text)}
    row.update(runtime.call(measure))
    if cfg.streaming and chunker is not None:
        # TTFA is measured as a user gets it: through the runtime's queue, the text split into chunks. The same
        # requests' total latency ("served") is kept next to it: "ours" above times the engine alone, and a
        # TTFA beside an engine-only latency looked larger than the whole request
        ttfa, served = [], []
        for _ in range(max(3, cfg.runs // 2)):
            handle = runtime.submit(SynthesisRequest(voice=voice, chunks=chunker(text), params=params, seed=cfg.seed,
                                                     source="bench"))
            handle.result()
            ttfa.append(handle.stats.ttfa_s)
            served.append(handle.stats.latency_s)
        row["ours_ttfa"] = summarise(ttfa)
        row["ours_served_latency"] = summarise(served)
    return row


def _concurrent(runtime: EngineRuntime, cfg: BenchConfig, nfe: int) -> dict[str, Any]:
    voice = builtin_voice("en")
    text = TEXTS["en"]["short"]
    params = GenerationParams(nfe=nfe, cfg_strength=cfg.cfg_strength, sway_coef=cfg.sway_coef, speed=1.0)
    rates, walls, batches = [], [], []
    for rep in range(cfg.warmup + max(3, cfg.runs // 2)):
        t0 = time.perf_counter()
        handles = [
            runtime.submit(SynthesisRequest(voice=voice, chunks=[text], params=params, seed=cfg.seed + i,
                                            source="bench"))
            for i in range(cfg.concurrency)
        ]
        total = sum(h.result()[0].size for h in handles) / runtime.engine.sample_rate
        wall = time.perf_counter() - t0
        if rep >= cfg.warmup:
            rates.append(total / wall)
            walls.append(wall)
            batches.append(max(h.stats.batch_size for h in handles))
    return {"requests": cfg.concurrency, "nfe": nfe, "audio_s_per_s": summarise(rates), "wall_s": summarise(walls),
            "max_batch_seen": max(batches)}


def run_benchmark(runtime: EngineRuntime, cfg: BenchConfig,
                  progress: Callable[[float, str], None] | None = None,
                  chunker: Callable[[str], list[str]] | None = None) -> dict[str, Any]:
    """Run the configured rows through a started, ready runtime and return the result dict."""
    info = runtime.info
    rows = []
    plan = [(lang, size, nfe) for lang in cfg.langs for size in cfg.texts for nfe in cfg.nfes]
    for i, (lang, size, nfe) in enumerate(plan):
        if progress:
            progress(i / max(1, len(plan)), f"{lang} {size} NFE {nfe}")
        rows.append(_row(runtime.engine, runtime, cfg, lang, size, nfe, chunker))
    result: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": info.device if info else "?",
        "precision": info.precision if info else "?",
        "random_weights": bool(info.random_weights) if info else None,
        "weights_label": runtime.engine.random_weights or "real",
        "fast_path": info.fast_path if info else {},
        "config": cfg.__dict__,
        "rows": rows,
    }
    if cfg.concurrency:
        if progress:
            progress(0.95, f"{cfg.concurrency} concurrent requests")
        result["concurrent"] = [_concurrent(runtime, cfg, nfe) for nfe in cfg.nfes[:1]]
    result["memory"] = runtime.call(lambda eng: eng.memory_stats())
    return result


def compare(result: dict[str, Any], baseline: dict[str, Any], tolerance: float = 0.05) -> list[dict[str, Any]]:
    """Rows whose median latency is more than `tolerance` slower than the baseline's same row."""
    base = {(r["lang"], r["text"], r["nfe"]): r for r in baseline.get("rows", [])}
    slower = []
    for r in result["rows"]:
        b = base.get((r["lang"], r["text"], r["nfe"]))
        if not b:
            continue
        now, then = r["ours_latency"]["median"], b["ours_latency"]["median"]
        if then > 0 and now > then * (1 + tolerance):
            slower.append({"lang": r["lang"], "text": r["text"], "nfe": r["nfe"], "baseline_s": then, "now_s": now,
                           "slower_by": now / then - 1})
    return slower


def _cell(value: Any, width: int, spec: str, scale: float = 1.0) -> str:
    """A right-aligned table cell; a figure that was not measured is a dash, never "nan"."""
    try:
        v = float(value) * scale
    except (TypeError, ValueError):
        return f"{'—':>{width}}"
    return f"{'—':>{width}}" if not math.isfinite(v) else f"{v:>{width}{spec}}"


def format_table(result: dict[str, Any]) -> str:
    label = result.get("weights_label", "real")
    lines = [f"device: {result['device']}  precision: {result['precision']}  weights: {label}"
             + ("  (random weights: speed only, the audio is noise)" if result.get("random_weights") else "")]
    head = f"{'lang':4} {'text':6} {'nfe':>3} {'audio s':>7} {'ours ms':>8} {'p95 ms':>7} {'cv':>5} {'RTF':>7}"
    head += f" {'TTFA ms':>8} {'served ms':>9} {'stock ms':>9} {'stock/ours':>10} {'mel err':>8} {'peak MiB':>9}"
    head += f" {'floor ms':>8}  prep/sample/voc ms"
    lines.append(head)
    for r in result["rows"]:
        ol = r["ours_latency"]
        lines.append(
            f"{r['lang']:4} {r['text']:6} {r['nfe']:>3} {r['audio_s']:>7.2f} {_cell(ol['median'], 8, '.1f', 1e3)} "
            f"{_cell(ol['p95'], 7, '.1f', 1e3)} {_cell(ol['cv'], 5, '.2f')} {_cell(r['ours_rtf']['median'], 7, '.4f')} "
            f"{_cell(r.get('ours_ttfa', {}).get('median'), 8, '.1f', 1e3)} "
            f"{_cell(r.get('ours_served_latency', {}).get('median'), 9, '.1f', 1e3)} "
            f"{_cell(r.get('stock_latency', {}).get('median'), 9, '.1f', 1e3)} "
            f"{_cell(r.get('ratio_stock_over_ours'), 10, '.1f')} {_cell(r.get('mel_rel_err'), 8, '.1e')} "
            f"{_cell(r.get('peak_mem_mib'), 9, '.0f')} {_cell(r.get('compute_floor_ms'), 8, '.1f')}  "
            + "/".join(f"{v:.1f}" for v in r.get("parts", {}).values())
            + (f"  stock failed: {r['stock_error'][:60]}" if r.get("stock_error") else "")
        )
    lines.append("ours = the engine alone; TTFA and served = the same text through the queue as a user sends it, "
                 "chunked (first audio, whole request); — = not measured in this run")
    for c in result.get("concurrent", []):
        lines.append(f"{c['requests']} concurrent short requests, NFE {c['nfe']}: "
                     f"{c['audio_s_per_s']['median']:.1f} s of audio per second (largest batch {c['max_batch_seen']})")
    if "startup" in result:
        up = result["startup"]
        lines.append(f"start-up: load {up.get('load_s', 0):.1f} s, warm-up {up.get('warmup_s', 0):.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ishowtts_studio.engines.f5 import F5Engine
    from ishowtts_studio.settings import ConfigError, load_settings
    from ishowtts_studio.store import Store
    from ishowtts_studio.textproc import chunk_for_engine

    p = argparse.ArgumentParser(prog="python -m ishowtts_studio.bench", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="config.toml to read (default: $ISHOWTTS_CONFIG, else built-in defaults)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--smoke", action="store_true", help="tiny random model (CPU-friendly; figures meaningless)")
    weights.add_argument("--random-weights", choices=["full"], help="full-size architecture with random weights")
    p.add_argument("--nfe", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--texts", nargs="+", default=["short", "medium", "long"], choices=["short", "medium", "long"])
    p.add_argument("--langs", nargs="+", default=["en"], choices=sorted(TEXTS))
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compare-stock", action="store_true", help="also time f5-tts's own pipeline, alternating")
    p.add_argument("--concurrency", type=int, default=0, help="also time N concurrent short requests (micro-batching)")
    p.add_argument("--max-batch", type=int, help="override engine.max_batch")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"])
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"])
    p.add_argument("--no-graphs", action="store_true", help="disable CUDA graphs")
    p.add_argument("--compile", action="store_true", help="torch.compile the per-step forward")
    p.add_argument("--attention", choices=["cudnn", "flash"], help="override engine.attention")
    p.add_argument("--no-fused-kernels", action="store_true", help="disable the hand-written kernels")
    p.add_argument("--peak-tflops", type=float, default=790.0, help="dense matrix rate for the compute floor")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--plots", type=Path, help="write PNG plots into this folder")
    p.add_argument("--save-baseline", metavar="NAME")
    p.add_argument("--against", metavar="NAME", help="compare with a saved baseline; exit 3 on a >5%% slowdown")
    p.add_argument("--baseline-dir", type=Path, help="folder for baseline JSON (default: <samples>/baselines)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    overrides: dict[str, object] = {}
    if args.device:
        overrides["engine.device"] = args.device
    if args.precision:
        overrides["engine.precision"] = args.precision
    if args.max_batch:
        overrides["engine.max_batch"] = args.max_batch
    if args.attention:
        overrides["engine.attention"] = args.attention
    if args.no_fused_kernels:
        overrides["engine.fused_kernels"] = False
    try:
        settings = load_settings(args.config, overrides=overrides, smoke=args.smoke)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    eng_s, f5 = settings.engine, settings.f5
    store = Store(settings.paths.database_url) if (args.save_baseline or args.against) else None
    baseline = None
    if args.against:  # fail before spending minutes on a run that cannot be compared
        baseline = store.get_baseline(args.against)
        if baseline is None:
            names = ", ".join(store.list_baseline_names()) or "none yet"
            print(f"no baseline named {args.against!r} (saved: {names}); save one with --save-baseline",
                  file=sys.stderr)
            return 2
    kind = "smoke" if args.smoke else args.random_weights
    engine = F5Engine(
        checkpoint=f5.checkpoint, vocab=f5.vocab, vocoder=f5.vocoder, model_name=f5.model, device=eng_s.device,
        precision=eng_s.precision, cache_dir=settings.paths.cache, random_weights=kind,
        cuda_graphs=eng_s.cuda_graphs and not args.no_graphs, compile_model=args.compile or eng_s.compile,
        bucket_frames=eng_s.bucket_frames, ref_cache_items=eng_s.ref_cache_items, attention=eng_s.attention,
        fused_kernels=eng_s.fused_kernels,
    )
    runtime = EngineRuntime(engine, queue_size=max(eng_s.queue_size, args.concurrency + 1),
                            max_batch=max(eng_s.max_batch, args.concurrency), batch_wait_s=eng_s.batch_wait_ms / 1000)
    cfg = BenchConfig(nfes=args.nfe, texts=args.texts, langs=args.langs, runs=args.runs, warmup=args.warmup,
                      compare_stock=args.compare_stock, concurrency=args.concurrency, peak_tflops=args.peak_tflops)
    timings: dict[str, float] = {}

    def warm(eng: Any, progress: Callable[[float, str], None]) -> None:
        timings["load_s"] = time.perf_counter() - t_start
        t_warm = time.perf_counter()
        eng.warmup([builtin_voice(lang) for lang in args.langs], args.nfe[0], progress)
        timings["warmup_s"] = time.perf_counter() - t_warm

    t_start = time.perf_counter()
    runtime.start(warm)
    if not runtime.wait_ready(3600):
        print(f"engine unavailable: {runtime.message}", file=sys.stderr)
        return 2

    result = run_benchmark(runtime, cfg, chunker=lambda text: chunk_for_engine(text, eng_s))
    result["startup"] = timings
    runtime.stop()
    print(format_table(result))

    status = 0
    if baseline is not None:
        slower = compare(result, baseline)
        result["regressions"] = slower
        for row in slower:
            print(f"REGRESSION {row['lang']} {row['text']} NFE {row['nfe']}: {row['baseline_s'] * 1e3:.1f} ms -> "
                  f"{row['now_s'] * 1e3:.1f} ms (+{row['slower_by'] * 100:.1f}%)")
        if slower:
            status = 3
        else:
            print(f"no row more than 5% slower than baseline {args.against!r}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    if args.plots:
        from ishowtts_studio.bench_plots import save_plots

        save_plots(result, args.plots)
    if store is not None:
        if args.save_baseline:
            store.add_benchmark_run(result, name=args.save_baseline, baseline=True, device=result["device"])
            base_dir = args.baseline_dir or settings.paths.samples / "baselines"
            base_dir.mkdir(parents=True, exist_ok=True)
            (base_dir / f"{args.save_baseline}.json").write_text(json.dumps(result, indent=2, default=str))
            print(f"saved baseline {args.save_baseline!r}")
        store.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
