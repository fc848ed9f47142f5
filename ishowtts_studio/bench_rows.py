"""The benchmark's timed rows: one known text through our engine (and optionally f5-tts's own pipeline),
the sampler-vs-CFM mel check, the compute floor, the per-stage profile and concurrent short requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ishowtts_studio.bench_config import TEXTS, BenchConfig, builtin_voice, summarise
from ishowtts_studio.engines.base import ChunkJob, GenerationParams, VoiceRef
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest


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
    from ishowtts_studio.engines.f5_refs import preprocess_ref_text

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

    item, _ = engine.sample_item(voice, text, speed=params.speed, seed=seed)
    ours = engine.sampler.sample(
        [item], nfe=params.nfe, cfg_strength=params.cfg_strength, sway_coef=params.sway_coef,
    )[0].float()
    with torch.inference_mode():
        ref, _ = engine.cfm.sample(
            cond=item.cond_mel[None].to(engine.dtype), text=item.text_ids[None], duration=item.duration,
            steps=params.nfe,
            cfg_strength=params.cfg_strength, sway_sampling_coef=params.sway_coef, seed=seed,
        )
    ref = ref[0].float()
    same = ours.shape == ref.shape
    err = float((ours - ref).norm() / ref.norm()) if same else float("nan")
    return {"mel_rel_err": err, "same_duration": same, "frames": int(ours.shape[0])}


def fp8_check(engine: Any, voice: VoiceRef, text: str, params: GenerationParams, seed: int) -> dict[str, Any]:
    """With `engine.fp8_gemms`: the serving sampler (FP8 GEMMs) against a plain sampler over the same model
    without FP8 (no graphs, no compile), on the same noise: the error FP8 adds to the mel."""
    from ishowtts_studio.engines.f5_sampler import F5Sampler

    item, _ = engine.sample_item(voice, text, speed=params.speed, seed=seed)
    kw = {"nfe": params.nfe, "cfg_strength": params.cfg_strength, "sway_coef": params.sway_coef}
    fp8 = engine.sampler.sample([item], **kw)[0].float()
    plain = F5Sampler(engine.cfm, attention=engine.attention).sample([item], **kw)[0].float()
    return {"fp8_mel_rel_err": float((fp8 - plain).norm() / plain.norm())}


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

    parts: dict[str, list[float]] = {"prep_ms": [], "sample_ms": [], "vocoder_ms": []}
    p = job.params
    for _ in range(reps):
        _sync()
        t0 = time.perf_counter()
        item, prepared = engine.sample_item(job.voice, job.text, speed=p.speed, seed=job.seed)
        ref_frames = prepared.ref_frames
        _sync()
        t1 = time.perf_counter()
        # the engine's own serving path (exact or bucketed graph), as a request would take it
        mel = engine.sample_mels([item], p)[0]
        _sync()
        t2 = time.perf_counter()
        engine.decoder.decode([mel[ref_frames:]])  # the serving path's vocoder (compiled or not), to the host
        _sync()
        t3 = time.perf_counter()
        for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[key].append(value * 1e3)
    return {k: float(np.median(v)) for k, v in parts.items()}


def measure_row(engine: Any, runtime: EngineRuntime, cfg: BenchConfig, lang: str, size: str, nfe: int,
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
        # a known length: met before, and the preparation a live server does between requests (the runtime's
        # idle hook: exact graphs for lengths met again) has run, as it would once this worker waits
        while eng.prepare_next_shape(min_idle_s=0):
            pass
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
        if getattr(eng.sampler, "fp8", False):
            row.update(fp8_check(eng, voice, text, params, cfg.seed))
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
                                                     origin="bench"))
            handle.result()
            ttfa.append(handle.stats.ttfa_s)
            served.append(handle.stats.latency_s)
        row["ours_ttfa"] = summarise(ttfa)
        row["ours_served_latency"] = summarise(served)
    return row


def measure_concurrent(runtime: EngineRuntime, cfg: BenchConfig, nfe: int) -> dict[str, Any]:
    voice = builtin_voice("en")
    text = TEXTS["en"]["short"]
    params = GenerationParams(nfe=nfe, cfg_strength=cfg.cfg_strength, sway_coef=cfg.sway_coef, speed=1.0)
    rates, walls, batches = [], [], []
    for rep in range(cfg.warmup + max(3, cfg.runs // 2)):
        t0 = time.perf_counter()
        handles = [
            runtime.submit(SynthesisRequest(voice=voice, chunks=[text], params=params, seed=cfg.seed + i,
                                            origin="bench"))
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

