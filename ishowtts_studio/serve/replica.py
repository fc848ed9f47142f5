"""EngineReplica: the body of one Ray Serve replica — one `EngineRuntime` with its engines, as in a studio.

The replica answers three kinds of call from the studio's `RayRuntime` (serve/client.py):
- `synthesize(request)`: a streaming call. It yields a header (which replica took it, sample rate), then the
  audio pieces as the runtime streams them, then the request's figures. `BusyError` / `EngineUnavailable` are
  raised before the header, so the studio sees them at submit time, as with the local runtime.
- `call(fn, ...)`: `EngineRuntime.call` (voice preparation, frame estimates, transcription) on this replica.
- `health()`: status, message, progress, engine info and this replica's counters.

Its methods are coroutines: Serve runs them on the replica's event loop, and the waits on the runtime run in a
thread pool of their own (as many threads as requests the runtime can hold), so every request that the runtime
may batch is in flight at once. This module does not import ray at import time; it reads its replica id from
Serve when it runs inside one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ishowtts_studio.engine_factory import f5_from_settings, indextts_from_settings, local_runtime
from ishowtts_studio.request import SynthesisRequest
from ishowtts_studio.settings import Settings

log = logging.getLogger(__name__)

_END = object()
READY_TIMEOUT_S = 3600.0  # a full-size model's first load and warm-up can take minutes; Serve waits for it


def replica_id() -> str:
    """This replica's id as Serve names it (e.g. "EngineReplica#ab12cd"), or "local" outside Serve."""
    try:
        from ray import serve

        rid = serve.get_replica_context().replica_id
        return f"{rid.deployment_id.name}#{rid.unique_id}"
    except Exception:  # not inside a Serve replica (a unit test builds one directly)
        return "local"


class EngineReplica:
    def __init__(self, settings: Settings) -> None:
        # the settings as the deploying command loaded them (paths already absolute), handed over whole
        self.settings = settings
        self.id = replica_id()
        self.engine = f5_from_settings(settings)
        self.indextts = indextts_from_settings(settings)
        self.runtime = local_runtime(settings, self.engine, {self.indextts.name: self.indextts})
        eng = settings.engine
        self.pool = ThreadPoolExecutor(max_workers=eng.queue_size + eng.max_batch + 4,
                                       thread_name_prefix="replica-stream")
        self.runtime.start(self._warmup() if eng.warmup else None)
        # the constructor returns once the engine is loaded (or known unavailable): Serve routes nothing to a
        # replica before that, so a fresh replica never takes a request it would make wait for a model load
        self.runtime.wait_ready(READY_TIMEOUT_S)
        log.info("engine replica %s: %s (%s)", self.id, self.runtime.status, self.runtime.message)

    def _warmup(self) -> Callable[[Any, Any], None]:
        """The studio's warm-up (library voices, default NFE), run by the replica on its own engine."""
        from ishowtts_studio.services.voices import voice_ref
        from ishowtts_studio.voices import VoiceLibrary

        folder: Path = self.settings.paths.voices
        refs = [voice_ref(v) for v in VoiceLibrary(folder).list()] if folder.is_dir() else []
        nfe = self.settings.engine.default_nfe

        def warm(engine: Any, progress: Any) -> None:
            engine.warmup(refs, nfe, progress)

        return warm

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[Any]:
        handle = self.runtime.submit(request)  # BusyError / EngineUnavailable reach the caller before any audio
        info = self.runtime.info
        yield {"replica": self.id, "sample_rate": handle.sample_rate, "device": info.device if info else "?"}
        pieces = iter(handle)
        try:
            while True:
                piece = await self._in_thread(next, pieces, _END)
                if piece is _END:
                    break
                yield piece
        finally:
            if not handle.done:  # the caller went away (cancelled, timed out): free the runtime's slot
                handle.cancel()
        stats = handle.stats.to_dict()
        stats["replica"] = self.id
        yield {"stats": stats}

    async def call(self, fn: Callable[[Any], Any], engine: str = "", load: bool = True,
                   timeout: float | None = 600) -> Any:
        return await self._in_thread(lambda: self.runtime.call(fn, timeout=timeout, engine=engine, load=load))

    async def health(self) -> dict[str, Any]:
        rt = self.runtime
        return {
            "replica": self.id, "status": rt.status, "message": rt.message, "progress": rt.progress,
            "info": rt.info, "queue_depth": rt.queue_depth(), "completed": rt.completed, "failed": rt.failed,
            "rejected_busy": rt.rejected_busy, "engines": rt.engine_status(),
        }

    def __del__(self) -> None:  # Serve drops a replica it scales down: stop its worker thread
        runtime = getattr(self, "runtime", None)
        if runtime is not None:
            runtime.stop(timeout=5)
