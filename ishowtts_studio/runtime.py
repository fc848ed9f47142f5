"""EngineRuntime: the one shared engine, its bounded queue and the single worker that owns the GPU.

Every tab and API call goes through `submit` (synthesis) or `call` (anything else that touches the
engine, such as preparing a voice). One worker thread takes requests from a bounded queue, splits
them into chunk jobs, groups compatible jobs (same NFE, CFG and sway) from different requests into
one batch, runs the engine and streams each request's audio back in order, cross-faded.

Several engines (F5-TTS, IndexTTS) can be registered; the one worker serialises them on the GPU. The
default engine loads at start; the others load on first use (`EnginePool`: at most `max_loaded` stay
loaded). Which requests come in and which jobs run together is `BatchScheduler`'s pure policy; this module
is the loop around it: queue, worker thread, engine calls, streaming.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ishowtts_studio.chunk_schedule import chunk_deadlines
from ishowtts_studio.device_routing import queued_audio_s
from ishowtts_studio.engine_pool import EnginePool, bind_thread_to, synthesize_with_retry, user_error
from ishowtts_studio.engines.base import ChunkAudio, Engine, EngineInfo, EngineUnavailable, batch_grid
from ishowtts_studio.request import BusyError, RequestHandle, RequestStats, SynthesisError, SynthesisRequest
from ishowtts_studio.runtime_status import RuntimeStatus
from ishowtts_studio.runtime_stream import ActiveRequest, chunk_jobs
from ishowtts_studio.scheduler import BatchScheduler, Job

log = logging.getLogger(__name__)

# the request types live in request.py; importing them from here keeps working
__all__ = ["BusyError", "EngineRuntime", "RequestHandle", "RequestStats", "SynthesisError", "SynthesisRequest"]


@dataclass
class _Call:
    fn: Callable[[Any], Any]
    future: Future
    engine: str = ""
    load: bool = True


class EngineRuntime(RuntimeStatus):
    def __init__(
        self,
        engine: Engine,
        *,
        queue_size: int = 32,
        max_batch: int = 8,
        batch_wait_s: float = 0.004,
        extra_engines: dict[str, Engine] | None = None,
        max_loaded: int = 2,
        device: str = "",
    ) -> None:
        self.engine = engine
        # the worker's device as configured ("cuda:1", "cpu#0"): the `device` label of its figures; a "cuda:N"
        # worker makes that GPU its thread's current device, so streams, graphs and caches land there
        self.device = device or "default"
        self.engines: dict[str, Engine] = {engine.name: engine, **(extra_engines or {})}
        self.pool = EnginePool(self.engines, max_loaded)
        self.scheduler = BatchScheduler(max_batch, {n: e.max_batch for n, e in self.engines.items()},
                                        engine_grids={n: batch_grid(e) for n, e in self.engines.items()})
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self._queue: queue.Queue[SynthesisRequest | None] = queue.Queue(maxsize=queue_size)
        # engine calls (voice preparation, metrics, benchmarks) have their own channel: they must never
        # take a user's place in the bounded request queue
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._handles: dict[int, RequestHandle] = {}
        self._active: list[ActiveRequest] = []  # the worker's accepted requests (read by queued_audio_s)
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

    def queued_audio_s(self) -> float:
        """Seconds of audio the requests submitted here still have to produce (estimated until accepted)."""
        # read from the caller's thread: copies of the worker's current lists, no lock on the worker's path
        handles = list(self._handles.values()) + [a.handle for a in self._active]
        # the chunks' UTF-8 bytes, not `text_chars`: callers such as the benchmark leave that at 0
        return queued_audio_s([(h.stats.estimated_audio_s, h.samples / h.sample_rate,
                                sum(len(c.encode()) for c in h.request.chunks))
                               for h in handles if not h.done])

    def alive(self) -> bool:
        """False once the worker thread has ended (a fatal error or a stop): it will take no request again."""
        thread = self._thread
        return thread is None or thread.is_alive()

    def wait_ready(self, timeout: float | None = None) -> bool:
        self.ready_event.wait(timeout)
        return self.status == "ready"

    def _progress(self, fraction: float, message: str) -> None:
        self.progress = fraction
        self.message = message
        log.info("engine %3.0f%%: %s", fraction * 100, message)

    def _run(self, warmup: Callable[[Any, Callable[[float, str], None]], None] | None) -> None:
        try:
            bind_thread_to(self.device)
            self.info = self.engine.load(self._progress)
            self.pool.mark_loaded(self.engine.name)
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
            origin=request.origin, worker=self.device,
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

    def call(self, fn: Callable[[Engine], Any], timeout: float | None = 600, engine: str = "",
             load: bool = True) -> Any:
        """Run `fn(engine)` on the worker thread (between batches) and return its result. An engine that is
        not loaded is loaded first, unless `load` is False (reading statistics must not reload a model)."""
        name = self.engine_for(engine).name
        future: Future = Future()
        self._calls.put(_Call(fn, future, name, load))
        return future.result(timeout)

    def call_all(self, fn: Callable[[Engine], Any], timeout: float | None = 600, engine: str = "",
                 load: bool = True) -> list[Any]:
        """`fn(engine)` on every device worker (here: this one), one result each (e.g. forgetting a voice)."""
        return [self.call(fn, timeout, engine, load)]

    def engine_for(self, name: str) -> Engine:
        """The registered engine called `name` ("" = default), or EngineUnavailable saying why not. Another
        engine stays usable when the default one could not load (say, F5-TTS weights are missing)."""
        if self._stop.is_set():
            raise EngineUnavailable("The studio is shutting down.")
        engine = self.engines.get(name or self.engine.name)
        if engine is None:
            raise EngineUnavailable(f"Unknown engine {name!r}. Choose one of: {', '.join(self.engines)}.")
        if engine is self.engine:
            self._check_available()
        elif not self.pool.is_loaded(engine.name):
            engine.check()  # cheap: says at once what is missing, before the request waits in the queue
        return engine

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _check_available(self) -> None:
        if self.status == "unavailable":
            raise EngineUnavailable(self.message)
        if self._stop.is_set():
            raise EngineUnavailable("The studio is shutting down.")

    # ---- worker -----------------------------------------------------------------------------------
    def _serve(self) -> None:
        active = self._active = []
        while not self._stop.is_set():
            self._take(active, block=not active)
            if self._stop.is_set():
                break
            active = self._active = [a for a in active if not a.handle.cancelled or self._drop(a)]
            batch = self._choose(active)
            if batch:
                self._run_batch(batch)
            active = self._active = [a for a in active if not a.handle.done]
        for a in active:
            a.handle.finish(EngineUnavailable("The studio is shutting down."))
        while not self._calls.empty():
            self._calls.get_nowait().future.set_exception(EngineUnavailable("The studio is shutting down."))

    def _drop(self, a: ActiveRequest) -> bool:
        a.handle.finish(SynthesisError("cancelled"))
        return False

    def _take(self, active: list[ActiveRequest], block: bool) -> None:
        """Move waiting requests into the active set (bounded: the queue applies back-pressure). Only requests that
        came together wait, for the rest of their burst, until `batch_wait_s` after the first one arrived or a
        batch's worth is in; a lone request, or a worker with work in hand, goes on at once (test_batch_window.py)."""
        first_arrival: float | None = None
        deadline = 0.0
        while self.scheduler.accept(len(active)):
            self._run_calls()
            try:
                if block:
                    item = self._queue.get(timeout=0.1)
                    block = False
                else:
                    remaining = deadline - time.perf_counter() if len(active) < self.max_batch else 0.0
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                if block:  # nothing arrived for a while: let the engines prepare ahead
                    self._idle_work()
                return
            if item is None:
                return
            if first_arrival is None:
                first_arrival = self._handles[id(item)].submitted
            else:  # a second one was waiting too: a burst, whose rest may still be on its way
                deadline = first_arrival + self.batch_wait_s
            accepted = self._accept(item)
            if accepted is not None:
                active.append(accepted)

    def _idle_work(self) -> None:
        """While no request or call waits, run the loaded engines' `idle_work()` (one unit at a time,
        each returning whether more is left): preparation kept off requests' paths, e.g. F5's exact graphs."""
        for name in self.pool.loaded_names():
            work = self.engines[name].idle_work
            while self._queue.empty() and self._calls.empty() and not self._stop.is_set():
                try:
                    if not work():
                        break
                except Exception:  # preparation is an optimisation: log it, never take the worker down
                    log.exception("idle work of engine %s failed", name)
                    break
            if name == self.engine.name:  # what /health and the Performance tab show: graphs prepared by now
                self.info = self.engine.info()

    def _run_calls(self) -> None:
        """Run the engine calls waiting now, between batches (the worker owns the engine)."""
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                name = call.engine or self.engine.name
                engine = self.pool.ensure_loaded(name) if call.load else self.engines[name]
                call.future.set_result(call.fn(engine))
            except BaseException as exc:
                call.future.set_exception(exc)

    def _accept(self, req: SynthesisRequest) -> ActiveRequest | None:
        handle = self._handles.pop(id(req))
        handle.stats.queue_wait_s = time.perf_counter() - handle.submitted
        try:
            engine = self.pool.ensure_loaded(req.engine or self.engine.name)
            jobs, frames = chunk_jobs(req, engine)
        except Exception as exc:
            handle.finish(user_error(exc))
            self.failed += 1
            return None
        handle.stats.estimated_audio_s = sum(frames) * engine.hop_length / engine.sample_rate
        return ActiveRequest(handle=handle, jobs=jobs, frames=frames)

    def _choose(self, active: list[ActiveRequest]) -> list[tuple[ActiveRequest, int]]:
        """The scheduler's pick (`BatchScheduler.choose`) among the waiting chunk jobs, each with its deadline."""
        waiting = []
        for a in active:
            h = a.handle
            if h.cancelled:
                continue
            # playback starts when the first audio went out; until then the request is due already
            start = h.submitted + h.stats.ttfa_s if h.samples else h.submitted
            hop = self.engines[h.request.engine].hop_length
            due = chunk_deadlines(start, [f * hop / h.sample_rate for f in a.frames])
            waiting += [Job(a, i, h.request.engine, a.jobs[i].params.batch_key(), due[i],
                            a.jobs[i].duration_frames or 0) for i in range(len(a.jobs)) if i not in a.ready]
        return [(j.owner, j.index) for j in self.scheduler.choose(waiting, time.perf_counter())]

    def _run_batch(self, batch: list[tuple[ActiveRequest, int]]) -> None:
        jobs = [a.jobs[i] for a, i in batch]
        delivered: set[int] = set()

        def ready(k: int, out: ChunkAudio) -> None:
            """One job's audio, streamed as soon as the engine has it (not when the whole batch is done)."""
            if k not in delivered:
                delivered.add(k)
                if batch[k][0].deliver(batch[k][1], out.audio, len(batch)):
                    self._complete(batch[k][0])

        try:
            outputs = synthesize_with_retry(self.pool.ensure_loaded(batch[0][0].handle.request.engine), jobs, ready)
        except Exception as exc:
            err = user_error(exc)
            for a, _ in batch:
                if not a.handle.done:
                    self.failed += 1
                    a.handle.finish(err)
            return
        for k, out in enumerate(outputs):  # an engine that calls back for none (or not all) of its jobs
            ready(k, out)

    def _complete(self, a: ActiveRequest) -> None:
        st = a.handle.complete()
        self.completed += 1
        self.recent.append(st)
        for listener in self.listeners:
            try:
                listener(st)
            except Exception:
                log.exception("metrics listener failed")
