"""A synthesis request as the runtime takes it, its figures, and the handle the caller streams it from."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ishowtts_studio.engines.base import GenerationParams, VoiceRef


class BusyError(RuntimeError):
    """The request queue is full."""


class SynthesisError(RuntimeError):
    """The engine failed on this request; the runtime keeps serving the next ones."""


@dataclass
class SynthesisRequest:
    voice: VoiceRef
    chunks: list[str]
    params: GenerationParams
    seed: int
    text_chars: int = 0
    crossfade_s: float = 0.15
    # fixed total frames per chunk (NFE comparisons need identical durations); None = engine's rule
    duration_frames: list[int] | None = None
    engine: str = ""  # registered engine name; "" = the default engine
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific options, handed to every chunk job
    origin: str = "ui"  # who asked (ui, api, cli, nfe, bench, chat): carried into history, metrics and Prometheus


@dataclass
class RequestStats:
    engine: str
    device: str
    voice: str
    nfe: int
    seed: int
    text_chars: int
    chunks: int
    batch_size: int = 0
    queue_wait_s: float = 0.0
    ttfa_s: float = 0.0
    latency_s: float = 0.0
    audio_s: float = 0.0
    estimated_audio_s: float = 0.0
    rtf: float = 0.0
    finished_at: float = 0.0
    origin: str = "ui"
    worker: str = ""  # which device worker ran it ("cuda:1"; "cpu#0" when one device has several workers)
    replica: str = ""  # the Ray Serve replica that served it (serve/); "" = this process's runtime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_DONE = object()


class RequestHandle:
    """What `submit` returns: iterate for audio chunks as they are ready, or wait for `result()`."""

    def __init__(self, request: SynthesisRequest, sample_rate: int, stats: RequestStats) -> None:
        self.request = request
        self.sample_rate = sample_rate
        self.stats = stats
        self.submitted = time.perf_counter()
        self._events: queue.Queue[Any] = queue.Queue()
        self._pieces: list[np.ndarray] = []
        self._error: BaseException | None = None
        self._finished = threading.Event()
        self.cancelled = False

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self._events.get()
            if item is _DONE:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def result(self, timeout: float | None = None) -> tuple[np.ndarray, RequestStats]:
        """Block until the whole utterance is ready; raises what the worker raised."""
        if not self._finished.wait(timeout):
            raise TimeoutError("synthesis did not finish in time")
        if self._error is not None:
            raise self._error
        audio = np.concatenate(self._pieces) if self._pieces else np.zeros(0, np.float32)
        return audio, self.stats

    def cancel(self) -> None:
        self.cancelled = True

    # ---- the worker's side -------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def samples(self) -> int:
        """Samples streamed so far."""
        return sum(len(p) for p in self._pieces)

    def emit(self, piece: np.ndarray) -> None:
        if piece.size:
            if not self._pieces:
                self.stats.ttfa_s = time.perf_counter() - self.submitted
            self._pieces.append(piece)
            self._events.put(piece)

    def complete(self) -> RequestStats:
        """All audio is out: fill in the request's figures, then finish it."""
        st = self.stats
        st.latency_s = time.perf_counter() - self.submitted
        st.audio_s = self.samples / self.sample_rate
        st.rtf = st.latency_s / st.audio_s if st.audio_s else 0.0
        st.finished_at = time.time()
        self.finish()
        return st

    def finish(self, error: BaseException | None = None) -> None:
        self._error = error
        self._finished.set()
        self._events.put(_DONE)
