"""One request inside a device worker: its chunk jobs, the chunks ready so far and the cross-fade tail, streamed
to the caller's handle in order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ishowtts_studio.audio import crossfade
from ishowtts_studio.engines.base import ChunkJob
from ishowtts_studio.request import RequestHandle


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
