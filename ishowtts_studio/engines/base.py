"""The engine protocol and the request/result types shared by the runtime and every engine.

Only `runtime.py` calls an engine. Engines own model weights and never see queues, threads,
the database or the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class EngineUnavailable(RuntimeError):
    """The engine cannot run (weights missing, extra not installed). The message says how to fix it."""


class RequestRefused(ValueError):
    """The engine cannot serve this request as asked (e.g. more audio in one piece than the model holds); the
    message says what to change. The caller gets it as it is, and the worker keeps serving."""


@dataclass(frozen=True)
class VoiceRef:
    """What an engine needs to know about a voice; its content hash keys the reference cache."""

    slug: str
    audio_path: Path
    transcript: str
    content_hash: str


@dataclass(frozen=True)
class GenerationParams:
    nfe: int
    cfg_strength: float
    sway_coef: float
    speed: float

    def batch_key(self) -> tuple[int, float, float]:
        # requests with the same ODE schedule and guidance can share one batched sampler call
        return (self.nfe, round(self.cfg_strength, 6), round(self.sway_coef, 6))


@dataclass
class ChunkJob:
    """One text chunk of one request, as the engine sees it."""

    voice: VoiceRef
    text: str
    params: GenerationParams
    seed: int
    # total frames (reference + generated); None means the engine's own duration rule decides
    duration_frames: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChunkAudio:
    audio: np.ndarray  # float32 mono at the engine's sample rate
    duration_frames: int  # total frames the sampler ran over (reference + generated)
    ref_frames: int


@dataclass(frozen=True)
class EngineInfo:
    name: str
    device: str
    precision: str
    sample_rate: int
    smoke: bool
    random_weights: bool
    fast_path: dict[str, Any]


Progress = Callable[[float, str], None]
ReadyCallback = Callable[[int, ChunkAudio], None]  # (the job's index in its batch, its audio)


class Engine(Protocol):
    """Everything the runtime uses of an engine; the type of the runtime's engine table. Every method runs on
    the runtime's single worker thread, except `check` (cheap, called by `submit` on the caller's thread)."""

    name: str  # registered name ("f5", "indextts"): what a request asks for
    label: str  # shown to people ("F5-TTS")
    sample_rate: int  # of the audio `synthesize` returns
    max_batch: int  # most chunk jobs one `synthesize` call should get (the runtime's own limit applies too)
    hop_length: int  # samples per frame of `estimate_frames`: frames * hop_length / sample_rate = seconds
    # optional `batch_grid: int`: frames of one length cell of the engine's padded batches (`batch_grid()` below)

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory now (False again once a worker process died)."""
        ...

    def check(self) -> str:
        """Cheap: raise EngineUnavailable saying what is missing and how to fix it; else a short description."""
        ...

    def load(self, progress: Progress | None = None) -> EngineInfo: ...

    def unload(self) -> None:
        """Give the memory back (another engine needs it); `load` brings the engine back."""
        ...

    def info(self) -> EngineInfo: ...

    def estimate_frames(self, voice: VoiceRef, text: str, speed: float) -> tuple[int, int]:
        """(total frames, reference frames) the duration rule gives for this text and voice."""
        ...

    def prepare_voice(self, voice: VoiceRef) -> bool:
        """Build the cached reference for a voice; True when it came from a cache."""
        ...

    def forget_voice(self, voice: VoiceRef) -> None: ...

    def synthesize(self, jobs: list[ChunkJob], on_ready: ReadyCallback | None = None) -> list[ChunkAudio]:
        """Run compatible jobs (same `GenerationParams.batch_key`) as one batch. `on_ready(index, audio)` is called
        for each job as soon as its audio is ready (before the whole batch is), so the runtime can stream it."""
        ...

    def warmup(self, voices: list[VoiceRef], nfe: int, progress: Progress | None = None) -> None:
        """Prepare `voices` and run the shapes live traffic will need, so first requests are fast."""
        ...

    def idle_work(self) -> bool:
        """Prepare ahead one unit of work that would otherwise sit on a request's path (F5: a length's exact
        graph); True while more is left. Called only while the runtime's queue is empty."""
        ...

    def memory_stats(self) -> dict[str, float]: ...

    def cache_stats(self) -> dict[str, int]: ...


def batch_grid(engine: Engine) -> int:
    """Frames of one length cell in which the engine runs jobs of different lengths as one padded batch (its
    optional `batch_grid` attribute); 0: it batches equal lengths only, so lengths do not matter to the scheduler."""
    return max(0, int(getattr(engine, "batch_grid", 0) or 0))
