"""EngineRuntime: the one shared engine, its bounded queue and the single worker that owns the GPU.

Every tab and API call goes through `submit` (synthesis) or `call` (anything else that touches the
engine, such as preparing a voice). One worker thread takes requests from a bounded queue, splits
them into chunk jobs, groups compatible jobs (same NFE, CFG and sway) from different requests into
one batch, runs the engine and streams each request's audio back in order, cross-faded.

Several engines (F5-TTS, IndexTTS) can be registered; the one worker serialises them on the GPU. The
default engine loads at start; the others load on first use, and at most `max_loaded` stay loaded: the
least recently used is unloaded to make room (and all others when loading runs out of memory).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ishowtts_studio.chunk_schedule import PendingChunk, chunk_deadlines, pick_batch
from ishowtts_studio.engines.base import ChunkJob, EngineInfo, EngineUnavailable, GenerationParams, VoiceRef

log = logging.getLogger(__name__)

HOP = 256  # mel frames -> samples (F5-TTS's hop length), for estimating a chunk's seconds


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
    # who asked: "live" (a person or an API client), "nfe" (NFE-compare renders) or "bench" (the benchmark); the
    # Performance tab's live figures count "live" only, so a benchmark does not pass for user traffic
    source: str = "live"


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
    source: str = "live"

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

    # worker side
    def _emit(self, piece: np.ndarray) -> None:
        if piece.size:
            if not self._pieces:
                self.stats.ttfa_s = time.perf_counter() - self.submitted
            self._pieces.append(piece)
            self._events.put(piece)

    def _finish(self, error: BaseException | None = None) -> None:
        self._error = error
        self._finished.set()
        self._events.put(_DONE)


@dataclass
class _Active:
    """A request the worker has accepted: its chunk jobs, results so far and the cross-fade tail."""

    handle: RequestHandle
    jobs: list[ChunkJob]
    frames: list[int]
    ready: dict[int, np.ndarray] = field(default_factory=dict)
    next_emit: int = 0
    tail: np.ndarray | None = None
    started: bool = False


@dataclass
class _Call:
    fn: Callable[[Any], Any]
    future: Future
    engine: str = ""
    load: bool = True


class EngineRuntime:
    def __init__(
        self,
        engine: Any,
        *,
        queue_size: int = 32,
        max_batch: int = 8,
        batch_wait_s: float = 0.004,
        extra_engines: dict[str, Any] | None = None,
        max_loaded: int = 2,
    ) -> None:
        self.engine = engine
        self.engines: dict[str, Any] = {engine.name: engine, **(extra_engines or {})}
        self.max_loaded = max(1, max_loaded)
        self._loaded: OrderedDict[str, None] = OrderedDict()  # loaded engines, least recently used first
        self._load_errors: dict[str, str] = {}
        self.loading: str | None = None
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self._queue: queue.Queue[SynthesisRequest | None] = queue.Queue(maxsize=queue_size)
        # engine calls (voice preparation, metrics, benchmarks) have their own channel: they must never
        # take a user's place in the bounded request queue
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._handles: dict[int, RequestHandle] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.status = "loading"
        self.message = "Loading the engine..."
        self.progress = 0.0
        self.info: EngineInfo | None = None
        self.listeners: list[Callable[[RequestStats], None]] = []
        self.recent: deque[RequestStats] = deque(maxlen=2000)
        self.completed = 0
        self.failed = 0
        self.rejected_busy = 0
        self.ready_event = threading.Event()

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self, warmup: Callable[[Any, Callable[[float, str], None]], None] | None = None) -> None:
        """Start the worker: it loads the engine, warms it up, then serves the queue."""
        self._thread = threading.Thread(target=self._run, args=(warmup,), name="engine-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        self.ready_event.wait(timeout)
        return self.status == "ready"

    def _progress(self, fraction: float, message: str) -> None:
        self.progress = fraction
        self.message = message
        log.info("engine %3.0f%%: %s", fraction * 100, message)

    def _run(self, warmup: Callable[[Any, Callable[[float, str], None]], None] | None) -> None:
        try:
            self.info = self.engine.load(self._progress)
            self._loaded[self.engine.name] = None
            if warmup is not None:
                started = time.perf_counter()
                warmup(self.engine, self._progress)
                log.info("warm-up finished in %.1f s", time.perf_counter() - started)
            self.info = self.engine.info()
            self.status, self.message, self.progress = "ready", "Ready.", 1.0
        except EngineUnavailable as exc:
            self.status, self.message = "unavailable", str(exc)
            log.error("engine unavailable: %s", exc)
        except Exception as exc:  # a crash while loading must still leave a studio that explains itself
            self.status = "unavailable"
            self.message = f"The engine failed to load: {type(exc).__name__}: {exc}"
            log.exception("engine failed to load")
        finally:
            self.ready_event.set()
        self._serve()

    # ---- public API -------------------------------------------------------------------------------
    def submit(self, request: SynthesisRequest) -> RequestHandle:
        engine = self.engine_for(request.engine)
        request.engine = engine.name
        info = self.info
        stats = RequestStats(
            engine=engine.name, device=info.device if info else "?", voice=request.voice.slug,
            nfe=request.params.nfe, seed=request.seed, text_chars=request.text_chars, chunks=len(request.chunks),
            source=request.source,
        )
        handle = RequestHandle(request, engine.sample_rate, stats)
        self._handles[id(request)] = handle  # before the put: the worker may take it at once
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._handles.pop(id(request), None)
            self.rejected_busy += 1
            raise BusyError(
                f"The studio is busy: {self._queue.maxsize} requests are already waiting. Try again in a moment."
            ) from None
        return handle

    def call(self, fn: Callable[[Any], Any], timeout: float | None = 600, engine: str = "", load: bool = True) -> Any:
        """Run `fn(engine)` on the worker thread (between batches) and return its result. An engine that is
        not loaded is loaded first, unless `load` is False (reading statistics must not reload a model)."""
        name = self.engine_for(engine).name
        future: Future = Future()
        self._calls.put(_Call(fn, future, name, load))
        return future.result(timeout)

    def engine_for(self, name: str) -> Any:
        """The registered engine called `name` ("" = default), or EngineUnavailable saying why not. Another
        engine stays usable when the default one could not load (say, F5-TTS weights are missing)."""
        if self._stop.is_set():
            raise EngineUnavailable("The studio is shutting down.")
        engine = self.engines.get(name or self.engine.name)
        if engine is None:
            raise EngineUnavailable(f"Unknown engine {name!r}. Choose one of: {', '.join(self.engines)}.")
        if engine is self.engine:
            self._check_available()
        elif engine.name not in self._loaded:
            engine.check()  # cheap: says at once what is missing, before the request waits in the queue
        return engine

    def engine_status(self) -> list[dict[str, Any]]:
        """Every registered engine: name, label, and whether it is loaded, loading or unavailable (and why)."""
        out = []
        for name, engine in self.engines.items():
            if engine is self.engine:
                status, message = self.status, self.message
            elif name == self.loading:
                status, message = "loading", f"Loading {getattr(engine, 'label', name)}..."
            elif name in self._loaded:
                status, message = "ready", "Loaded."
            else:
                try:
                    engine.check()
                    status, message = "available", self._load_errors.get(name, "Loads on first use.")
                except EngineUnavailable as exc:
                    status, message = "unavailable", str(exc)
            out.append({"name": name, "label": getattr(engine, "label", name), "status": status, "message": message,
                        "loaded": name in self._loaded, "default": engine is self.engine})
        return out

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _check_available(self) -> None:
        if self.status == "unavailable":
            raise EngineUnavailable(self.message)
        if self._stop.is_set():
            raise EngineUnavailable("The studio is shutting down.")

    # ---- worker -----------------------------------------------------------------------------------
    def _serve(self) -> None:
        active: list[_Active] = []
        while not self._stop.is_set():
            self._take(active, block=not active)
            if self._stop.is_set():
                break
            active = [a for a in active if not a.handle.cancelled or self._drop(a)]
            batch = self._choose(active)
            if batch:
                self._run_batch(batch)
            active = [a for a in active if not a.handle._finished.is_set()]
        for a in active:
            a.handle._finish(EngineUnavailable("The studio is shutting down."))
        while not self._calls.empty():
            self._calls.get_nowait().future.set_exception(EngineUnavailable("The studio is shutting down."))

    def _drop(self, a: _Active) -> bool:
        a.handle._finish(SynthesisError("cancelled"))
        return False

    def _take(self, active: list[_Active], block: bool) -> None:
        """Move waiting requests into the active set (bounded, so the queue applies back-pressure)."""
        deadline = time.perf_counter() + self.batch_wait_s
        while len(active) < 4 * self.max_batch:
            self._run_calls()
            try:
                if block:
                    item = self._queue.get(timeout=0.1)
                    block = False
                else:
                    remaining = deadline - time.perf_counter()
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                return
            accepted = self._accept(item)
            if accepted is not None:
                active.append(accepted)

    def _run_calls(self) -> None:
        """Run the engine calls waiting now, between batches (the worker owns the engine)."""
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                name = call.engine or self.engine.name
                engine = self._ensure_loaded(name) if call.load else self.engines[name]
                call.future.set_result(call.fn(engine))
            except BaseException as exc:
                call.future.set_exception(exc)

    def _ensure_loaded(self, name: str) -> Any:
        """On the worker: the named engine, loaded; the least recently used others are unloaded to keep at
        most `max_loaded`, and all others when loading runs out of memory."""
        engine = self.engines[name]
        if name in self._loaded:
            if getattr(engine, "loaded", True):
                self._loaded.move_to_end(name)
                return engine
            log.warning("engine %s is no longer loaded (its worker exited); loading it again", name)
            del self._loaded[name]
        while len(self._loaded) >= self.max_loaded:
            self._unload(next(iter(self._loaded)))
        self.loading = name
        try:
            try:
                engine.load(None)
            except Exception as exc:
                if not _is_oom(exc) or not self._loaded:
                    raise
                log.warning("out of GPU memory loading %s; unloading the other engines and retrying", name)
                for other in list(self._loaded):
                    self._unload(other)
                engine.load(None)
        except EngineUnavailable as exc:
            self._load_errors[name] = str(exc)
            raise
        finally:
            self.loading = None
        self._load_errors.pop(name, None)
        self._loaded[name] = None
        return engine

    def _unload(self, name: str) -> None:
        log.info("unloading engine %s to make room", name)
        self._loaded.pop(name, None)
        try:
            self.engines[name].unload()
        except Exception:
            log.exception("unloading %s failed", name)
        _empty_cache()

    def _accept(self, req: SynthesisRequest) -> _Active | None:
        handle = self._handles.pop(id(req))
        handle.stats.queue_wait_s = time.perf_counter() - handle.submitted
        try:
            engine = self._ensure_loaded(req.engine)
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
        except Exception as exc:
            handle._finish(self._wrap(exc))
            self.failed += 1
            return None
        handle.stats.estimated_audio_s = sum(frames) * HOP / engine.sample_rate
        return _Active(handle=handle, jobs=jobs, frames=frames)

    def _choose(self, active: list[_Active]) -> list[tuple[_Active, int]]:
        """The next batch, by when playback needs each chunk (`chunk_schedule.pick_batch`): first audio of new
        requests and the next chunk of playing ones before later chunks, one chunk per request per batch, up to
        max_batch (or the engine's own limit) jobs with the urgent job's key (engine, NFE, CFG, sway)."""
        pending = []
        for n, a in enumerate(active):
            if a.handle.cancelled:
                continue
            h = a.handle
            # playback starts when the first audio went out; until then the request is already due
            start = h.submitted + h.stats.ttfa_s if h._pieces else h.submitted
            seconds = [f * HOP / h.sample_rate for f in a.frames]
            for i, due in enumerate(chunk_deadlines(start, seconds)):
                if i not in a.ready:
                    pending.append(PendingChunk(owner=n, index=i, key=(h.request.engine, *a.jobs[i].params.batch_key()),
                                                deadline=due))

        def limit(key: Any) -> int:
            return min(self.max_batch, getattr(self.engines[key[0]], "max_batch", self.max_batch))

        return [(active[p.owner], p.index) for p in pick_batch(pending, limit)]

    def _run_batch(self, batch: list[tuple[_Active, int]]) -> None:
        jobs = [a.jobs[i] for a, i in batch]
        try:
            outputs = self._synthesize(self._ensure_loaded(batch[0][0].handle.request.engine), jobs)
        except Exception as exc:
            err = self._wrap(exc)
            for a, _ in batch:
                if not a.handle._finished.is_set():
                    self.failed += 1
                    a.handle._finish(err)
            return
        for (a, i), out in zip(batch, outputs):
            a.handle.stats.batch_size = max(a.handle.stats.batch_size, len(batch))
            a.ready[i] = out.audio
            self._emit_ready(a)

    def _synthesize(self, engine: Any, jobs: list[ChunkJob]) -> list[Any]:
        try:
            return engine.synthesize(jobs)
        except Exception as exc:
            if not _is_oom(exc) or len(jobs) == 1:
                raise
            # out of GPU memory with a batch: free what we can and run the jobs one at a time
            log.warning("GPU out of memory on a batch of %d; retrying one by one", len(jobs))
            _empty_cache()
            return [engine.synthesize([job])[0] for job in jobs]

    def _emit_ready(self, a: _Active) -> None:
        sr = a.handle.sample_rate
        fade = int(a.handle.request.crossfade_s * sr)
        last = len(a.jobs) - 1
        while a.next_emit in a.ready:
            i = a.next_emit
            cur = a.ready[i]
            start = 0
            if a.tail is not None:
                f = min(len(a.tail), len(cur) // 2)
                if len(a.tail) > f:
                    a.handle._emit(a.tail[: len(a.tail) - f])
                if f:
                    ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
                    a.handle._emit(a.tail[len(a.tail) - f :] * (1 - ramp) + cur[:f] * ramp)
                start = f
                a.tail = None
            if i < last and fade > 0:
                keep = min(fade, (len(cur) - start) // 2)
                a.handle._emit(cur[start : len(cur) - keep])
                a.tail = cur[len(cur) - keep :]
            else:
                a.handle._emit(cur[start:])
            a.ready[i] = np.zeros(0, np.float32)  # keep the key (done), free the samples
            a.next_emit += 1
        if a.next_emit > last:
            self._complete(a)

    def _complete(self, a: _Active) -> None:
        st = a.handle.stats
        st.latency_s = time.perf_counter() - a.handle.submitted
        st.audio_s = sum(len(p) for p in a.handle._pieces) / a.handle.sample_rate
        st.rtf = st.latency_s / st.audio_s if st.audio_s else 0.0
        st.finished_at = time.time()
        self.completed += 1
        self.recent.append(st)
        a.handle._finish()
        for listener in self.listeners:
            try:
                listener(st)
            except Exception:
                log.exception("metrics listener failed")

    @staticmethod
    def _wrap(exc: Exception) -> Exception:
        if isinstance(exc, (EngineUnavailable, SynthesisError)):
            return exc
        if _is_oom(exc):
            _empty_cache()
            return SynthesisError("The GPU ran out of memory on this request. Try a shorter text, or try again.")
        log.error("synthesis failed:\n%s", traceback.format_exc())
        return SynthesisError(f"Synthesis failed ({type(exc).__name__}: {exc}). The engine is still running; "
                              "try again.")


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return "out of memory" in str(exc).lower()


def _empty_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
