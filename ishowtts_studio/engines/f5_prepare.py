"""What the F5 engine prepares ahead of live traffic, so no request waits for a compile or a capture: the warm-up
plan, the padded graph of every length bucket, and the unpadded graphs of every length a chat line can have with
the warm-up voices (queued, then captured between requests by the runtime's idle hook)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ishowtts_studio.engines.base import ChunkJob, GenerationParams, VoiceRef
from ishowtts_studio.engines.f5_batching import PADDED_BATCHES
from ishowtts_studio.engines.f5_refs import PreparedVoice
from ishowtts_studio.engines.f5_sampler import round_up

if TYPE_CHECKING:
    from ishowtts_studio.engines.f5 import F5Engine

Progress = Callable[[float, str], None]
WARMUP_TEXTS = ["Hello there.", "This is a warm-up sentence of ordinary length for the studio engine."]


def total_frames(prepared: PreparedVoice, gen_bytes: int, speed: float) -> int:
    """f5-tts's duration rule for a text of `gen_bytes` UTF-8 bytes after this reference."""
    local_speed = 0.3 if gen_bytes < 10 else speed
    ref_bytes = len(prepared.ref_text.encode("utf-8"))
    return prepared.ref_frames + int(prepared.ref_frames / ref_bytes * gen_bytes / local_speed)


def voice_lengths(engine: F5Engine, voice: VoiceRef, max_bytes: int, speed: float = 1.0) -> list[int]:
    """Every total length (frames) the duration rule gives this voice for a text of 1 to `max_bytes` bytes."""
    prepared, _ = engine.refs.get(voice)
    return sorted({total_frames(prepared, n, speed) for n in range(1, max_bytes + 1)})


def warmup(engine: F5Engine, voices: list[VoiceRef], nfe: int, progress: Progress | None = None) -> None:
    """Prepare references and run the sampler once per common length, capturing graphs early."""
    sampler = engine.sampler
    params = GenerationParams(nfe=nfe, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
    plan = [[ChunkJob(voice=v, text=t, params=params, seed=0)] for v in voices[:2] for t in WARMUP_TEXTS]
    if sampler is not None and sampler.compiled and voices:
        # compiled code is specialised for a single request: compile the batched variant now (two requests of one
        # length), not on a user's first batch; later batch sizes and lengths reuse it (dynamic shapes). Batches
        # are never padded with exact-length buckets (`sample_mels`); with larger buckets these warm-ups are padded
        # and compile that variant too.
        plan.append([ChunkJob(voice=voices[0], text=WARMUP_TEXTS[1], params=params, seed=s) for s in (0, 1)])
    if sampler is not None and sampler.bucket_frames > 1 and engine.exact_graphs and voices:
        # a length met twice gets its exact graph between requests: meet one twice now, so the unpadded
        # single-request variant is compiled here, not in the first idle moment of a live server
        plan.append([ChunkJob(voice=voices[0], text=WARMUP_TEXTS[0], params=params, seed=1)])
    for i, jobs in enumerate(plan):
        if progress:
            progress(0.7 + 0.2 * i / max(1, len(plan)), f"warm-up {i + 1}/{len(plan)}")
        engine.synthesize(jobs)
    if sampler is not None and engine.batch_grid and voices:
        # the padded batch of mixed lengths is one more compiled variant (and graph kind): made now, not in the
        # first idle moment of a live server (the rest of its shapes are queued below)
        n = engine.estimate_frames(voices[0], WARMUP_TEXTS[1], 1.0)[0]
        sampler.pin([(2, round_up(n, engine.batch_grid), True, True)])
    while engine.prepare_next_shape(min_idle_s=0):
        pass
    prepare_live_shapes(engine, progress)
    # the voices' chat-line lengths are prepared after start-up, while the engine is idle: ~60 ms a graph on an
    # H200 (~250 for two voices), too long to hold the studio's start (benchmarks/h200-2026-12-01/call3)
    queue_voice_lengths(engine, voices[: engine.prepare_exact_voices])
    engine.release_cached_memory()


def prepare_live_shapes(engine: F5Engine, progress: Progress | None = None) -> int:
    """Capture the padded single-request graph of every length bucket from `prepare_min_frames` to
    `prepare_max_frames` (CUDA graphs with buckets only), so a new length never waits for a capture."""
    sampler = engine.sampler
    if sampler is None or not sampler.use_graphs or sampler.bucket_frames <= 1 or engine.prepare_max_frames <= 0:
        return 0
    step = sampler.bucket_frames
    lengths = list(range(round_up(max(1, engine.prepare_min_frames), step), engine.prepare_max_frames + 1, step))

    def say(fraction: float, message: str) -> None:
        if progress:
            progress(0.9 + 0.1 * fraction, message)

    return sampler.prepare_buckets(lengths, progress=say)


def queue_voice_lengths(engine: F5Engine, voices: list[VoiceRef]) -> int:
    """Queue the unpadded graph of every length a text of up to `prepare_exact_bytes` bytes has with these voices
    (CUDA graphs only), prepared between requests (`F5Engine.idle_work`), so such a request runs as fast as a
    length met before; with `batch_padding`, also the padded batch graphs of those lengths' cells (every size
    of PADDED_BATCHES), so a burst of such lines runs in padded batches from the start. Returns how many were
    queued."""
    sampler = engine.sampler
    if sampler is None or engine.prepare_exact_bytes <= 0 or not voices:
        return 0
    lengths = {n for v in voices for n in voice_lengths(engine, v, engine.prepare_exact_bytes)}
    keys = [(1, n, True, False) for n in lengths]
    if engine.batch_grid:
        cells = {round_up(n, engine.batch_grid) for n in lengths}
        keys += [(b, n, True, True) for n in cells for b in PADDED_BATCHES]
    return sampler.queue_ahead(keys)
