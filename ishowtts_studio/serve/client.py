"""RayRuntime: the studio's engine runtime when the engine runs in Ray Serve replicas (`serve.address` set).

It offers what the services use of `EngineRuntime` — `submit` (a `RequestHandle` that streams audio), `call`,
`engine_for`, `engine_status`, `queue_depth`, `status` / `message` / `progress` / `info`, `ready_event`,
`wait_ready`, `listeners`, `recent` and the counters — so the UI, the HTTP API, live chat and the OpenAI route
run unchanged. Each request is one streaming call on the deployment handle; Serve's router picks the replica.

Nothing waits without a bound: `submit` waits for a replica's header at most `stall_timeout_s` (then BusyError);
a request whose audio stalls that long, or that runs past `request_timeout_s`, fails with a SynthesisError. A
request whose replica dies before it sent audio is sent again (`retries`); after audio, the client gets an error
(audio already played cannot be taken back). Figures (`recent`, listeners) are the studio's view of each request:
time to first audio and latency include the trip to the replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ishowtts_studio.engines.base import Engine, EngineInfo, EngineUnavailable
from ishowtts_studio.request import BusyError, RequestHandle, RequestStats, SynthesisError, SynthesisRequest
from ishowtts_studio.serve.app import DEPLOYMENT
from ishowtts_studio.settings import Settings

log = logging.getLogger(__name__)

HEALTH_EVERY_S = 2.0
WATCH_EVERY_S = 0.2
NO_REPLICA = ("No engine replica answers yet (a replica answers once its model is loaded). Start them with: "
              "python -m ishowtts_studio.serve (see docs/scaling.md), or empty serve.address to run the engine in "
              "the studio itself.")
_OUR_ERRORS = (BusyError, SynthesisError, EngineUnavailable)


def cause_of(exc: BaseException) -> BaseException:
    """The replica's own exception inside Ray's wrapper (RayTaskError keeps it as `cause`)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def replica_lost(exc: BaseException) -> bool:
    """The replica went away (killed, crashed, its node lost) rather than the request failing on it."""
    from ray import exceptions as rex

    return isinstance(exc, (rex.RayActorError, rex.ActorDiedError, rex.ActorUnavailableError, rex.NodeDiedError,
                            rex.WorkerCrashedError))


def ours(exc: BaseException) -> BaseException:
    """Our own error types unwrapped (with only their message); anything else as a SynthesisError that says what
    to do, never a traceback or a cluster's internals."""
    cause = cause_of(exc)
    if isinstance(cause, _OUR_ERRORS):
        return type(cause)(str(cause.args[0]) if cause.args else str(cause))
    if replica_lost(exc) or replica_lost(cause):
        return SynthesisError("The engine replica serving this request stopped. Try again: another replica takes it.")
    return SynthesisError(f"The engine replica failed ({type(cause).__name__}). Try again.")


@dataclass(eq=False)  # kept in a set by identity
class _Stream:
    """One request in flight: its handle, the Serve stream feeding it, and when it last made progress."""

    handle: RequestHandle
    deadline: float
    last_progress: float
    response: Any = None
    replica: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, error: BaseException) -> bool:
        with self.lock:
            if self.handle.done:
                return False
            self.handle.finish(error)
        if self.response is not None:
            try:
                self.response.cancel()  # the replica drops the request and frees its place in the queue
            except Exception:
                log.debug("cancel of a Serve stream failed", exc_info=True)
        return True


class RayRuntime:
    """The `EngineRuntime` interface over a Ray Serve deployment handle (see the module docstring)."""

    def __init__(self, handle_factory: Callable[[], Any], engine: Engine, extra_engines: dict[str, Engine], *,
                 stall_timeout_s: float = 60.0, request_timeout_s: float = 600.0, retries: int = 1) -> None:
        # the local engine objects are descriptions only (name, label, sample rate, hop length): never loaded here
        self.engine = engine
        self.engines: dict[str, Engine] = {engine.name: engine, **extra_engines}
        self._handle_factory = handle_factory
        self._handle: Any = None
        self.stall_timeout_s = stall_timeout_s
        self.request_timeout_s = request_timeout_s
        self.retries = retries
        self.status = "loading"
        self.message = "Waiting for an engine replica..."
        self.progress = 0.0
        self.info: EngineInfo | None = None
        self.replica_engines: list[dict[str, Any]] = []
        self.ready_event = threading.Event()
        self.listeners: list[Callable[[RequestStats], None]] = []
        self.recent: deque[RequestStats] = deque(maxlen=2000)
        self.completed = 0
        self.failed = 0
        self.rejected_busy = 0
        self.retried = 0
        self._streams: set[_Stream] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = time.monotonic()

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self, warmup: Any = None) -> None:
        """Follow the replicas' health and watch the requests in flight. `warmup` is ignored: every replica
        warms its own engine before Serve routes to it."""
        self._started = time.monotonic()
        for target, name in ((self._follow_health, "serve-health"), (self._watch, "serve-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for stream in self._in_flight():
            stream.fail(EngineUnavailable("The studio is shutting down."))
        for thread in self._threads:
            thread.join(timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        self.ready_event.wait(timeout)
        return self.status == "ready"

    @property
    def handle(self) -> Any:
        if self._handle is None:
            self._handle = self._handle_factory()
        return self._handle

    def _follow_health(self) -> None:
        while not self._stop.is_set():
            self.refresh_health()
            self._stop.wait(HEALTH_EVERY_S)

    def refresh_health(self) -> None:
        """Ask one replica (Serve's pick) how the engine stands; no answer in time means no replica is up."""
        try:
            health = self.handle.health.remote().result(timeout_s=min(10.0, self.stall_timeout_s))
        except Exception as exc:
            if replica_lost(exc) or replica_lost(cause_of(exc)):
                log.info("a replica went away while answering; Serve replaces it (%s)", type(exc).__name__)
                return  # the router learns of it; the next round asks a live one
            if self.message != NO_REPLICA:
                log.warning("no engine replica answers: %s: %s", type(exc).__name__, str(exc)[:300])
            # for stall_timeout_s after start the studio is still starting (a replica may be loading its model);
            # after that, no answer means no engine until a replica answers, and waiters are told so
            starting = time.monotonic() - self._started < self.stall_timeout_s and not self.ready_event.is_set()
            self.status = "loading" if starting else "unavailable"
            self.message, self.progress = NO_REPLICA, 0.0
            if not starting:
                self.ready_event.set()
            return
        self.status, self.message = health["status"], health["message"]
        self.progress, self.info = health["progress"], health["info"]
        self.replica_engines = health["engines"]
        if self.status in ("ready", "unavailable"):
            self.ready_event.set()

    # ---- the runtime interface --------------------------------------------------------------------
    def engine_for(self, name: str) -> Engine:
        if self._stop.is_set():
            raise EngineUnavailable("The studio is shutting down.")
        engine = self.engines.get(name or self.engine.name)
        if engine is None:
            raise EngineUnavailable(f"Unknown engine {name!r}. Choose one of: {', '.join(self.engines)}.")
        if engine is self.engine and self.status == "unavailable":
            raise EngineUnavailable(self.message)
        return engine

    def engine_status(self) -> list[dict[str, Any]]:
        """The replicas' view of every engine (from the last health answer), or each engine waiting for one."""
        if self.replica_engines:
            return self.replica_engines
        return [{"name": name, "label": e.label, "status": self.status, "message": self.message, "loaded": False,
                 "default": e is self.engine} for name, e in self.engines.items()]

    def queue_depth(self) -> int:
        """Requests of this studio that no replica has sent audio for yet (the replicas' queues are theirs)."""
        return sum(1 for s in self._in_flight() if not s.handle.samples)

    def submit(self, request: SynthesisRequest) -> RequestHandle:
        engine = self.engine_for(request.engine)
        request.engine = engine.name
        stats = RequestStats(engine=engine.name, device="?", voice=request.voice.slug, nfe=request.params.nfe,
                             seed=request.seed, text_chars=request.text_chars, chunks=len(request.chunks),
                             origin=request.origin)
        handle = RequestHandle(request, engine.sample_rate, stats)
        now = time.monotonic()
        stream = _Stream(handle, deadline=now + self.request_timeout_s, last_progress=now)
        accepted = threading.Event()
        refused: list[BaseException] = []
        with self._lock:
            self._streams.add(stream)
        threading.Thread(target=self._read, args=(stream, accepted, refused), name="serve-stream", daemon=True).start()
        if not accepted.wait(self.stall_timeout_s):
            stream.fail(SynthesisError("no replica took the request"))
            self._forget(stream)
            self.rejected_busy += 1
            raise BusyError(f"No engine replica took the request within {self.stall_timeout_s:g} s: they are all "
                            "busy or restarting. Try again in a moment.")
        if refused:  # the replica's runtime refused it (queue full, engine unavailable): like the local runtime
            if isinstance(refused[0], BusyError):
                self.rejected_busy += 1
            raise refused[0]
        return handle

    def call(self, fn: Callable[[Engine], Any], timeout: float | None = 600, engine: str = "",
             load: bool = True) -> Any:
        """`fn(engine)` on one replica's worker (Serve's pick); `fn` travels by cloudpickle, so it may close over
        plain values (a VoiceRef, a path on storage every node shares) but not over this process's objects."""
        name = self.engine_for(engine).name
        bound = self.request_timeout_s if timeout is None else timeout
        try:
            return self.handle.call.remote(fn, name, load, bound).result(timeout_s=bound + self.stall_timeout_s)
        except TimeoutError:
            raise SynthesisError(f"The engine replica did not answer within {bound:g} s. Try again.") from None
        except Exception as exc:
            cause = cause_of(exc)
            if isinstance(cause, _OUR_ERRORS) or replica_lost(exc) or replica_lost(cause):
                raise ours(exc) from None
            raise cause from None  # the function's own error (e.g. an unreadable voice), as the local call gives

    def call_all(self, fn: Callable[[Engine], Any], timeout: float | None = 600, engine: str = "",
                 load: bool = True) -> list[Any]:
        """As `call`: Serve picks one replica; the others are not reached (a forgotten voice stays in their
        reference caches until they evict it; docs/scaling.md)."""
        return [self.call(fn, timeout, engine, load)]

    # no local device workers: the replicas' own figures are theirs (per-device rows and engine sampling are empty)
    @property
    def workers(self) -> list[Any]:
        return []

    def device_status(self) -> list[dict[str, Any]]:
        return []

    # ---- streams ----------------------------------------------------------------------------------
    def _in_flight(self) -> list[_Stream]:
        with self._lock:
            return list(self._streams)

    def _forget(self, stream: _Stream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _read(self, stream: _Stream, accepted: threading.Event, refused: list[BaseException]) -> None:
        """Feed one request's handle from its Serve stream, sending it again if its replica died before audio."""
        handle = stream.handle
        try:
            for attempt in range(self.retries + 1):
                try:
                    self._read_once(stream, accepted)
                    return
                except Exception as exc:
                    if handle.done:  # failed already (stalled, timed out, cancelled, shutting down)
                        return
                    error = ours(exc)
                    lost = replica_lost(exc) or replica_lost(cause_of(exc))
                    if lost and handle.samples == 0 and attempt < self.retries:
                        self.retried += 1
                        log.warning("replica %s stopped before audio; sending the request again",
                                    stream.replica or "(not known yet)")
                        stream.last_progress = time.monotonic()
                        continue
                    if not accepted.is_set():  # refused at submit: the caller raises it, nothing was queued
                        refused.append(error)
                        accepted.set()
                        stream.fail(error)
                        return
                    self.failed += 1
                    stream.fail(error)
                    return
        finally:
            accepted.set()
            self._forget(stream)

    def _read_once(self, stream: _Stream, accepted: threading.Event) -> None:
        handle = stream.handle
        stream.response = self.handle.options(stream=True).synthesize.remote(handle.request)
        for item in stream.response:
            stream.last_progress = time.monotonic()
            if isinstance(item, np.ndarray):
                with stream.lock:
                    if handle.done:
                        return
                    handle.emit(item)
            elif "replica" in item and "stats" not in item:
                stream.replica = item["replica"]
                handle.stats.device = item["device"]
                accepted.set()
            elif "stats" in item:
                self._complete(stream, item["stats"])
                return
            if handle.cancelled:
                stream.fail(SynthesisError("cancelled"))
                return
        raise SynthesisError("The engine replica ended the stream without the request's figures. Try again.")

    def _complete(self, stream: _Stream, remote: dict[str, Any]) -> None:
        """Finish the request with the replica's figures, and the studio's own clock for latency and TTFA."""
        st = stream.handle.stats
        for f in fields(st):
            if f.name in remote and f.name not in ("ttfa_s", "latency_s", "audio_s", "rtf", "finished_at"):
                setattr(st, f.name, remote[f.name])
        st.replica = stream.replica
        with stream.lock:
            if stream.handle.done:
                return
            stream.handle.complete()
            self.completed += 1
            self.recent.append(st)
        for listener in self.listeners:
            try:
                listener(st)
            except Exception:
                log.exception("metrics listener failed")

    def _watch(self) -> None:
        """Fail what waits too long: no audio for stall_timeout_s, or past request_timeout_s; act on cancels."""
        while not self._stop.wait(WATCH_EVERY_S):
            now = time.monotonic()
            for s in self._in_flight():
                if s.handle.cancelled:
                    s.fail(SynthesisError("cancelled"))
                elif now - s.last_progress > self.stall_timeout_s:
                    if s.fail(SynthesisError(f"The engine replica sent no audio for {self.stall_timeout_s:g} s; "
                                             "the request was stopped. Try again.")):
                        self.failed += 1
                elif now > s.deadline:
                    if s.fail(SynthesisError(f"The request took longer than {self.request_timeout_s:g} s and was "
                                             "stopped. Try a shorter text, or try again.")):
                        self.failed += 1


def connect(settings: Settings, engine: Engine, extra_engines: dict[str, Engine]) -> RayRuntime:
    """A RayRuntime for the studio: joins the Ray cluster at `serve.address` (unless this process already joined
    one) and reaches the deployment through a handle made on first use, so the studio starts, and says what is
    missing, even before the replicas are deployed."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise EngineUnavailable("serve.address is set but Ray is not installed: run "
                                ".venv/bin/pip install -r requirements-ray.txt, or empty serve.address.") from None
    sv = settings.serve
    if not ray.is_initialized():
        ray.init(address=sv.address, namespace="ishowtts", logging_level=logging.WARNING,
                 log_to_driver=False)

    def handle() -> Any:
        return serve.get_deployment_handle(DEPLOYMENT, app_name=sv.app_name)

    return RayRuntime(handle, engine, extra_engines, stall_timeout_s=sv.stall_timeout_s,
                      request_timeout_s=sv.request_timeout_s, retries=sv.retries)
