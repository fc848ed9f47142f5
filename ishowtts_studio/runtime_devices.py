"""DeviceRuntimes: one `EngineRuntime` (engine, queue, worker thread, caches, graphs) per device, behind the same
interface as a single `EngineRuntime`, so services, the API and the UI do not know how many GPUs there are.

`submit` sends each request to the worker with the least queued audio (`device_routing.pick_worker`); a worker
that could not load, or whose queue is full, is skipped, so one failing GPU does not take the others down.
Engine calls (`call`) go to one worker the same way; `call_all` runs on every worker (forgetting a voice must
reach every device's cache). IndexTTS runs in its own process and is registered on the first worker only, so
its requests always go there. With one device the studio builds a plain `EngineRuntime` instead: this class
and its lock are never on the single-GPU path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ishowtts_studio.device_routing import pick_worker
from ishowtts_studio.engines.base import Engine, EngineInfo, EngineUnavailable
from ishowtts_studio.request import BusyError, RequestHandle, RequestStats, SynthesisRequest
from ishowtts_studio.runtime import EngineRuntime

Warmup = Callable[[Any, Callable[[float, str], None]], None]


class DeviceRuntimes:
    def __init__(self, workers: list[EngineRuntime]) -> None:
        if not workers:
            raise ValueError("DeviceRuntimes needs at least one worker")
        self._workers = workers
        self.engine = workers[0].engine  # the default engine's name, rate and duration rule are the same everywhere
        self.engines = workers[0].engines
        self.pool = workers[0].pool
        self.listeners: list[Callable[[RequestStats], None]] = []
        for w in workers:
            w.listeners = self.listeners  # one list: a listener added later reaches every worker
        self.ready_event = threading.Event()
        self._route = threading.Lock()  # a burst's submits see each other's queued audio
        self._extra_rejected = 0
        self._stopping = False

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self, warmup: Warmup | None = None) -> None:
        """Start the workers one after the other: each loads and warms up once the previous one is ready. Loading
        writes shared files (random weights, the compile cache) and torch.compile is not made for two threads
        tracing at once; a worker that is ready already serves while the next one warms up."""
        threading.Thread(target=self._start_in_turn, args=(warmup,), name="devices-start", daemon=True).start()

    def _start_in_turn(self, warmup: Warmup | None) -> None:
        for w in self._workers:
            if self._stopping:
                break
            w.start(warmup)
            w.ready_event.wait()
        self.ready_event.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        for w in self._workers:
            w.stop(timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        self.ready_event.wait(timeout)
        return self.status == "ready"

    # ---- routing ----------------------------------------------------------------------------------
    @property
    def workers(self) -> list[EngineRuntime]:
        return list(self._workers)

    def _candidates(self, engine: str) -> list[EngineRuntime]:
        """Workers that can serve `engine` now, least queued audio first."""
        name = engine or self.engine.name
        able = [w for w in self._workers if name in w.engines]
        if not able:
            raise EngineUnavailable(f"Unknown engine {engine!r}. Choose one of: {', '.join(self.engines)}.")
        # ready workers first: one still loading (started in turn) only queues when none is ready yet; a worker
        # whose default engine failed to load still serves the other engines (as one runtime does)
        wanted = ("ready",) if any(w.status == "ready" for w in able) else ("ready", "loading")
        usable = [w.alive() and (w.status in wanted or name != self.engine.name) for w in able]
        if not any(usable):
            able[0].engine_for(engine)  # raises the reason (the engine's own message)
            raise EngineUnavailable(self.message)  # every worker that has the engine has stopped
        loads = [w.queued_audio_s() for w in able]
        order = []
        while True:
            i = pick_worker(loads, usable)
            if i is None:
                return order
            order.append(able[i])
            usable[i] = False

    def submit(self, request: SynthesisRequest) -> RequestHandle:
        with self._route:
            busy: BusyError | None = None
            for worker in self._candidates(request.engine):
                try:
                    return worker.submit(request)
                except BusyError as exc:
                    busy = exc
                    worker.rejected_busy -= 1  # counted once below, for the whole studio
            self._extra_rejected += 1
            raise busy or BusyError("The studio is busy. Try again in a moment.")

    def call(self, fn: Callable[[Engine], Any], timeout: float | None = 600, engine: str = "",
             load: bool = True) -> Any:
        return self._candidates(engine)[0].call(fn, timeout, engine, load)

    def call_all(self, fn: Callable[[Engine], Any], timeout: float | None = 600, engine: str = "",
                 load: bool = True) -> list[Any]:
        """`fn(engine)` on every worker that serves `engine` and is not unavailable, one result each."""
        name = engine or self.engine.name
        return [w.call(fn, timeout, engine, load) for w in self._workers
                if name in w.engines and w.status != "unavailable"]

    def engine_for(self, name: str) -> Engine:
        return self._candidates(name)[0].engine_for(name)

    # ---- figures ----------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        states = [w.status if w.alive() else "unavailable" for w in self._workers]
        if "ready" in states:
            return "ready"
        return "loading" if "loading" in states else "unavailable"

    @property
    def message(self) -> str:
        rows = [w.worker_status() for w in self._workers]
        if all(row["status"] == "ready" for row in rows):
            return "Ready."
        return " ".join(f"{row['device']}: {row['message']}" for row in rows if row["status"] != "ready")

    @property
    def progress(self) -> float:
        return sum(w.progress for w in self._workers) / len(self._workers)

    @property
    def info(self) -> EngineInfo | None:
        ready = [w.info for w in self._workers if w.status == "ready" and w.info is not None]
        return ready[0] if ready else self._workers[0].info

    @property
    def completed(self) -> int:
        return sum(w.completed for w in self._workers)

    @property
    def failed(self) -> int:
        return sum(w.failed for w in self._workers)

    @property
    def rejected_busy(self) -> int:
        return self._extra_rejected + sum(w.rejected_busy for w in self._workers)

    @property
    def recent(self) -> list[RequestStats]:
        return sorted((s for w in self._workers for s in list(w.recent)), key=lambda s: s.finished_at)

    def queue_depth(self) -> int:
        return sum(w.queue_depth() for w in self._workers)

    def queued_audio_s(self) -> float:
        return sum(w.queued_audio_s() for w in self._workers)

    def engine_status(self) -> list[dict[str, Any]]:
        """The first worker's engine table (it holds every engine), with the default engine's state for all."""
        rows = self._workers[0].engine_status()
        for row in rows:
            if row["default"]:
                row["status"], row["message"] = self.status, self.message
        return rows

    def device_status(self) -> list[dict[str, Any]]:
        return [w.worker_status() for w in self._workers]
