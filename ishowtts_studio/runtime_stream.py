"""One request inside a device worker: its chunk jobs, the chunks ready so far and the cross-fade tail, streamed
to the caller's handle in order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ishowtts_studio.audio import crossfade
from ishowtts_studio.engines.base import ChunkJob, Engine
from ishowtts_studio.request import RequestHandle, SynthesisRequest


def chunk_jobs(req: SynthesisRequest, engine: Engine) -> tuple[list[ChunkJob], list[int]]:
    """The request's chunks as engine jobs, each with its total duration (frames), and each chunk's new frames."""
    jobs, frames = [], []
    for i, text in enumerate(req.chunks):
        total, ref = engine.estimate_frames(req.voice, text, req.params.speed)
        if req.duration_frames:
            total = req.duration_frames[i]
        frames.append(total - ref)
        seed = (req.seed + i) % (2**31)
        # the job carries its duration, so the engine does not apply the rule a second time
        jobs.append(ChunkJob(voice=req.voice, text=text, params=req.params, seed=seed, duration_frames=total,
                             extra=dict(req.extra)))
    return jobs, frames


@dataclass
class ActiveRequest:
    """A request the worker has accepted: its chunk jobs, results so far and the cross-fade tail."""

    handle: RequestHandle
    jobs: list[ChunkJob]
    frames: list[int]
    ready: dict[int, np.ndarray] = field(default_factory=dict)
    next_emit: int = 0
    tail: np.ndarray | None = None
    started: bool = False

    def deliver(self, index: int, audio: np.ndarray, batch_size: int) -> bool:
        """Chunk `index`'s audio from a batch of `batch_size`: stream what is now in order; True once all are out."""
        self.handle.stats.batch_size = max(self.handle.stats.batch_size, batch_size)
        self.ready[index] = audio
        return self.emit_ready()

    def emit_ready(self) -> bool:
        """Stream the chunks that are ready, in order, cross-fading neighbours; True once all are out."""
        sr = self.handle.sample_rate
        fade = int(self.handle.request.crossfade_s * sr)
        last = len(self.jobs) - 1
        while self.next_emit in self.ready:
            i = self.next_emit
            cur = self.ready[i]
            start = 0
            if self.tail is not None:
                f = min(len(self.tail), len(cur) // 2)
                if len(self.tail) > f:
                    self.handle.emit(self.tail[: len(self.tail) - f])
                if f:
                    self.handle.emit(crossfade(self.tail[len(self.tail) - f :], cur[:f], curve="linear"))
                start = f
                self.tail = None
            if i < last and fade > 0:
                keep = min(fade, (len(cur) - start) // 2)
                self.handle.emit(cur[start : len(cur) - keep])
                self.tail = cur[len(cur) - keep :]
            else:
                self.handle.emit(cur[start:])
            self.ready[i] = np.zeros(0, np.float32)  # keep the key (done), free the samples
            self.next_emit += 1
        return self.next_emit > last
