"""The engine protocol and the request/result types shared by the runtime and every engine.

Only `runtime.py` calls an engine. Engines own model weights and never see queues, threads,
the database or the UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class EngineUnavailable(RuntimeError):
    """The engine cannot run (weights missing, extra not installed). The message says how to fix it."""


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


class Engine(Protocol):
    """What the runtime expects of an engine. All methods run on the runtime's worker thread."""

    name: str
    sample_rate: int

    def load(self, progress: Any = None) -> EngineInfo: ...

    def estimate_frames(self, voice: VoiceRef, text: str, speed: float) -> tuple[int, int]:
        """(total frames, reference frames) the duration rule gives for this text and voice."""
        ...

    def prepare_voice(self, voice: VoiceRef) -> bool:
        """Build the cached reference for a voice; True when it came from a cache."""
        ...

    def forget_voice(self, voice: VoiceRef) -> None: ...

    def synthesize(self, jobs: list[ChunkJob]) -> list[ChunkAudio]:
        """Run compatible jobs (same `GenerationParams.batch_key`) as one batch."""
        ...

    def warmup(self, progress: Any = None) -> None: ...

    def memory_stats(self) -> dict[str, float]: ...

    def cache_stats(self) -> dict[str, int]: ...
