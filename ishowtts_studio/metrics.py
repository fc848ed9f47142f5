"""Live metrics of the shared engine: what the Performance tab, `/metrics_snapshot` and Prometheus show.

`MetricsService.attach()` registers a listener on the runtime. The listener runs on the GPU worker
thread right after each request completes, so it only does cheap in-memory work: it keeps the
request's figures in a bounded window, feeds the Prometheus histograms, reads the engine's cache
and memory statistics (safe there: it is the thread that owns the engine) and hands a database row
to a small writer thread, so the GPU never waits on SQLite.

`snapshot()` and `prometheus_text()` never wait for the engine: they read the values the listener
(or the idle sampler) last refreshed. A background sampler refreshes them every `sample_every_s`
seconds through `runtime.call`, but only while the queue is empty, so it never delays a request.

No gradio here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from ishowtts_studio.metrics_devices import device_rows, sum_dicts
from ishowtts_studio.metrics_prometheus import StudioCollector
from ishowtts_studio.metrics_snapshot import NOT_LIVE, build_snapshot
from ishowtts_studio.numbers import finite_or_none
from ishowtts_studio.request_stats import (  # noqa: F401 - part of this module's interface
    DEFAULT_PERCENTILES,
    audio_seconds_per_second,
    coefficient_of_variation,
    describe,
    per_engine,
    per_origin,
    percentiles,
)

if TYPE_CHECKING:
    from ishowtts_studio.runtime import EngineRuntime
    from ishowtts_studio.store import Store

log = logging.getLogger(__name__)

# Seconds: a cached short line on a fast GPU is tens of ms, a long paragraph on a Jetson several seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
                   15.0, 20.0, 30.0)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Real-time factor (seconds of compute per second of audio; < 1 is faster than real time).
RTF_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

REQUEST_FIELDS = ("engine", "voice", "nfe", "seed", "text_chars", "chunks", "batch_size", "queue_wait_s", "ttfa_s",
                  "latency_s", "audio_s", "estimated_audio_s", "rtf", "finished_at", "origin", "worker")


class MetricsService:
    """Per-request figures of the shared runtime: in memory (live view), SQLite (history), Prometheus."""

    def __init__(
        self,
        runtime: EngineRuntime,
        store: Store,
        *,
        sample_every_s: float = 10.0,
        window: int = 200,
        keep: int = 2000,
        warmup_enabled: bool | None = None,
        write_queue: int = 10_000,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.sample_every_s = float(sample_every_s)
        self.window = int(window)  # percentiles and means are over the last `window` requests
        self.warmup_enabled = warmup_enabled
        self._lock = threading.Lock()
        self._requests: deque[dict[str, Any]] = deque(maxlen=keep)
        # live traffic kept apart: an NFE comparison of `keep` renders pushed every live request out of the shared
        # window and emptied the live figures
        self._live: deque[dict[str, Any]] = deque(maxlen=keep)
        self._memory_points: deque[dict[str, float]] = deque(maxlen=keep)
        self._cache: dict[str, int] = {}
        self._memory: dict[str, float] = {}
        self._stats_at: float | None = None
        self._audio_total = 0.0
        self._origins: dict[str, int] = {}
        # per device worker (its `device` label): the engine's cache and memory figures, and audio produced
        self._per_device: dict[str, dict[str, dict[str, Any]]] = {}
        self._device_audio: dict[str, float] = {}
        self.version = 0  # bumps whenever plotted data changes, so views can skip redrawing
        self.dropped_writes = 0
        self.write_errors = 0
        self._writes: queue.Queue[Any] = queue.Queue(maxsize=write_queue)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._attached = False

        self.registry = CollectorRegistry()
        self.latency = Histogram("ishowtts_request_latency_seconds", "Submit to last audio sample of a synthesis.",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.ttfa = Histogram("ishowtts_time_to_first_audio_seconds", "Submit to first audio chunk of a synthesis.",
                              buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_wait = Histogram("ishowtts_queue_wait_seconds", "Submit to the worker accepting the request.",
                                    buckets=QUEUE_BUCKETS, registry=self.registry)
        self.rtf = Histogram("ishowtts_real_time_factor", "Latency over audio length (below 1 is faster than "
                             "real time).", buckets=RTF_BUCKETS, registry=self.registry)
        self.origin_ttfa = Histogram("ishowtts_origin_time_to_first_audio_seconds", "Submit to first audio chunk, "
                                     "by who asked (ui, api, cli, nfe, bench).", labelnames=["origin"],
                                     buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(StudioCollector(self))

    # ---- lifecycle --------------------------------------------------------------------------------
    def attach(self) -> MetricsService:
        """Listen to the runtime and start the writer and sampler threads (idempotent)."""
        if self._attached:
            return self
        self._attached = True
        self._stop.clear()
        self.runtime.listeners.append(self._on_request)
        for target, name in ((self._writer, "metrics-writer"), (self._sampler, "metrics-sampler")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening, write what is queued, stop the threads."""
        if not self._attached:
            return
        try:
            self.runtime.listeners.remove(self._on_request)
        except ValueError:
            pass
        self.flush(timeout)
        self._stop.set()
        self._writes.put(None)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self._attached = False

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row queued so far is in the database; False on timeout."""
        if not self._attached:
            return True
        done = threading.Event()
        try:
            self._writes.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    # ---- worker side ------------------------------------------------------------------------------
    def _on_request(self, stats: Any) -> None:
        """Runtime listener: runs on the GPU worker thread after each completed request. Cheap work only."""
        row = {k: getattr(stats, k, None) for k in REQUEST_FIELDS}
        device = str(row.get("worker") or "")
        self._refresh_engine_stats(self._engine_of(device), device)
        if self._memory:
            row["memory"] = dict(self._memory)
        origin = row["origin"] = str(row.get("origin") or "ui")
        with self._lock:
            self._requests.append(row)
            if origin not in NOT_LIVE:
                self._live.append(row)
            self._origins[origin] = self._origins.get(origin, 0) + 1
            self._audio_total += float(row.get("audio_s") or 0.0)
            self._device_audio[device] = self._device_audio.get(device, 0.0) + float(row.get("audio_s") or 0.0)
            self._add_memory_point_locked(row.get("finished_at") or time.time())
            self.version += 1
        for hist, key in ((self.latency, "latency_s"), (self.ttfa, "ttfa_s"), (self.queue_wait, "queue_wait_s"),
                          (self.rtf, "rtf")):
            value = finite_or_none(row.get(key))
            if value is not None:
                hist.observe(value)
        ttfa = finite_or_none(row.get("ttfa_s"))
        if ttfa is not None:
            self.origin_ttfa.labels(origin=origin).observe(ttfa)
        finished = row.get("finished_at")
        sample = {
            "kind": "request", "engine": row.get("engine"), "voice_slug": row.get("voice"), "nfe": row.get("nfe"),
            "batch_size": row.get("batch_size"), "text_chars": row.get("text_chars"),
            "queue_wait_s": row.get("queue_wait_s"), "latency_s": row.get("latency_s"), "ttfa_s": row.get("ttfa_s"),
            "audio_seconds": row.get("audio_s"), "rtf": row.get("rtf"), "origin": origin,
            "created_at": datetime.fromtimestamp(finished, UTC) if finished else None,
        }
        try:
            self._writes.put_nowait(sample)
        except queue.Full:  # the database is stuck; keep serving and say so in the log once in a while
            self.dropped_writes += 1
            if self.dropped_writes in (1, 10, 100) or self.dropped_writes % 1000 == 0:
                log.warning("metrics: database writer is behind, %d samples dropped", self.dropped_writes)

    def _engine_of(self, device: str) -> Any:
        """The engine of the worker labelled `device` (the default engine when none is)."""
        for worker in getattr(self.runtime, "workers", []):
            if worker.device == device:
                return worker.engine
        return self.runtime.engine

    def _refresh_engine_stats(self, engine: Any, device: str = "") -> None:
        """Read the engine's cache and memory statistics (call on that engine's worker thread only). The studio
        figures are the sums over the devices (with one device: that device's)."""
        try:
            cache = dict(engine.cache_stats())
        except Exception:
            log.debug("metrics: cache_stats failed", exc_info=True)
            cache = None
        try:
            memory = {k: float(v) for k, v in dict(engine.memory_stats()).items()}
        except Exception:
            log.debug("metrics: memory_stats failed", exc_info=True)
            memory = None
        with self._lock:
            mine = self._per_device.setdefault(device, {"cache": {}, "memory": {}})
            if cache is not None:
                mine["cache"] = cache
            if memory is not None:
                mine["memory"] = memory
            self._cache = sum_dicts(d["cache"] for d in self._per_device.values())
            self._memory = sum_dicts(d["memory"] for d in self._per_device.values())
            self._stats_at = time.time()

    def _add_memory_point_locked(self, when: float) -> None:
        if self._memory:
            self._memory_points.append({"t": float(when), **self._memory})

    # ---- background threads -----------------------------------------------------------------------
    def _writer(self) -> None:
        while True:
            item = self._writes.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self.store.add_metric_sample(**item)
            except Exception:
                self.write_errors += 1
                log.warning("metrics: could not write a sample to the database", exc_info=self.write_errors == 1)

    def _sampler(self) -> None:
        """Once the engine is ready, then every `sample_every_s`: refresh engine stats through the worker
        (only while nothing waits in the queue; the call runs between batches and takes well under 1 ms)."""
        ready = self.runtime.ready_event
        while not ready.wait(0.5):
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            self.sample_now(timeout=min(2.0, self.sample_every_s))
            if self._stop.wait(self.sample_every_s):
                return

    def sample_now(self, timeout: float = 2.0) -> bool:
        """Refresh the engine stats through the worker if it is idle; True when they were refreshed.

        Never call it from a UI tick: it may wait up to `timeout` for the worker."""
        refreshed = False
        for worker in self.runtime.workers:  # each device's engine, through its own worker, when that one is idle
            if worker.status != "ready" or worker.queue_depth() > 0:
                continue
            try:
                worker.call(lambda engine, d=worker.device: self._refresh_engine_stats(engine, d), timeout=timeout,
                            load=False)
                refreshed = True
            except Exception:
                log.debug("metrics: idle sample of %s skipped", worker.device, exc_info=True)
        if not refreshed:
            return False
        with self._lock:
            before = len(self._memory_points)
            self._add_memory_point_locked(time.time())
            if len(self._memory_points) != before:
                self.version += 1
        return True

    # ---- reading ----------------------------------------------------------------------------------
    def recent_requests(self, limit: int | None = None, *, live_only: bool = False) -> list[dict[str, Any]]:
        """The last requests' figures, oldest first (copies); `live_only` leaves out benchmark and NFE renders."""
        with self._lock:
            rows = list(self._live if live_only else self._requests)
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [dict(r) for r in rows]

    def device_memory(self) -> dict[str, dict[str, float]]:
        """GPU memory per device worker (allocated_mib, reserved_mib, peak_mib; {} on CPU)."""
        with self._lock:
            return {d: dict(v["memory"]) for d, v in self._per_device.items() if d}

    def totals(self) -> tuple[float, dict[str, int], dict[str, float]]:
        """Since start: seconds of audio produced, the engines' reference-cache counters and GPU memory (summed
        over devices), copied under the lock (the Prometheus collector's studio-wide series)."""
        with self._lock:
            return self._audio_total, dict(self._cache), dict(self._memory)

    def device_audio(self) -> dict[str, float]:
        """Seconds of audio produced per device worker since start."""
        with self._lock:
            return dict(self._device_audio)

    def per_device(self, window: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each device worker's state, queue and counts, with its share of the live window and its engine's cache
        and GPU memory figures (the Performance tab's per-device table)."""
        with self._lock:
            engine_stats = {d: {k: dict(v) for k, v in s.items()} for d, s in self._per_device.items()}
        return device_rows(self.runtime.device_status(), window, engine_stats)

    def origin_counts(self) -> dict[str, int]:
        """Completed requests per origin since start (ui, api, cli, nfe, bench)."""
        with self._lock:
            return dict(self._origins)

    def memory_points(self) -> list[dict[str, float]]:
        """GPU memory over time, oldest first: t (unix seconds), allocated_mib, reserved_mib, peak_mib."""
        with self._lock:
            return [dict(p) for p in self._memory_points]

    def warmup_state(self) -> str:
        rt = self.runtime
        if rt.status == "loading":
            return "warming up" if str(rt.message).lower().startswith("warm") else "loading"
        if rt.status != "ready":
            return "unavailable"
        if self.warmup_enabled is None:
            return "ready"
        return "warm" if self.warmup_enabled else "off (the first request is slower)"

    def snapshot(self) -> dict[str, Any]:
        """Every live figure as a JSON-safe dict. Never waits for the engine."""
        rt = self.runtime
        with self._lock:
            every = list(self._requests)[-self.window:] if self.window > 0 else []
            # the live figures are live traffic; benchmark and NFE-render requests are only counted, apart
            window = list(self._live)[-self.window:] if self.window > 0 else []
            cache = dict(self._cache)
            memory = dict(self._memory)
            stats_at = self._stats_at
            total_seen = len(self._requests)
            audio_total = self._audio_total
            version = self.version
        return build_snapshot(
            rt, every=every, window=window, cache=cache, memory=memory, stats_at=stats_at, total_seen=total_seen,
            audio_total=audio_total, version=version, window_size=self.window, warmup=self.warmup_state(),
            origins=self.origin_counts(), per_device=self.per_device(window), dropped_writes=self.dropped_writes,
        )

    def prometheus_text(self) -> bytes:
        """The Prometheus text exposition of this service's own registry."""
        return generate_latest(self.registry)
