"""The engines the runtime holds, and which of them are in memory: load on first use, keep at most
`max_loaded` (the least recently used is unloaded first), and when loading runs out of GPU memory, unload
every other engine and try once more. Used only from the runtime's worker thread."""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict
from typing import Any

from ishowtts_studio.engines.base import ChunkJob, Engine, EngineUnavailable, ReadyCallback, RequestRefused
from ishowtts_studio.request import SynthesisError

log = logging.getLogger(__name__)


def is_oom(exc: BaseException) -> bool:
    """Whether `exc` means the GPU ran out of memory (torch's own error, or a message saying so)."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return "out of memory" in str(exc).lower()


def empty_cache() -> None:
    """Give PyTorch's cached GPU blocks back, so another engine (or a retry) can have them."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def bind_thread_to(device: str) -> None:
    """Make a "cuda:N" worker's GPU the current device of its thread (PyTorch's current device is per thread):
    CUDA streams, graph pools and `empty_cache` then act on that GPU. Other devices need nothing."""
    if device.startswith("cuda:"):
        import torch

        torch.cuda.set_device(int(device.split(":")[1].split("#")[0]))



def synthesize_with_retry(engine: Engine, jobs: list[ChunkJob], on_ready: ReadyCallback | None = None) -> list[Any]:
    """`engine.synthesize(jobs, on_ready)`; out of GPU memory with a batch, free what we can and run the jobs one at
    a time (`on_ready` may then hear of a job twice: once before the failure, once in the retry)."""
    try:
        return engine.synthesize(jobs, on_ready=on_ready)
    except Exception as exc:
        if not is_oom(exc) or len(jobs) == 1:
            raise
        log.warning("GPU out of memory on a batch of %d; retrying one by one", len(jobs))
        empty_cache()
        out = []
        for index, job in enumerate(jobs):
            out.append(engine.synthesize([job])[0])
            if on_ready is not None:
                on_ready(index, out[-1])
        return out


def user_error(exc: Exception) -> Exception:
    """The error a request's caller gets for `exc` raised by an engine (the worker keeps serving)."""
    if isinstance(exc, (EngineUnavailable, SynthesisError)):
        return exc
    if isinstance(exc, RequestRefused):
        return SynthesisError(str(exc))
    if is_oom(exc):
        empty_cache()
        return SynthesisError("The GPU ran out of memory on this request. Try a shorter text, or try again.")
    log.error("synthesis failed:\n%s", traceback.format_exc())
    return SynthesisError(f"Synthesis failed ({type(exc).__name__}: {exc}). The engine is still running; "
                          "try again.")


class EnginePool:
    def __init__(self, engines: dict[str, Engine], max_loaded: int) -> None:
        self.engines = engines
        self.max_loaded = max(1, max_loaded)
        self._loaded: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self.load_errors: dict[str, str] = {}
        self.loading: str | None = None

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def loaded_names(self) -> list[str]:
        """The engines in memory, least recently used first."""
        return list(self._loaded)

    def mark_loaded(self, name: str) -> None:
        """Record an engine the caller loaded itself (the default engine, loaded with progress at start)."""
        self._loaded[name] = None
        self._loaded.move_to_end(name)

    def ensure_loaded(self, name: str) -> Engine:
        """The named engine, loaded; others are unloaded to keep at most `max_loaded`."""
        engine = self.engines[name]
        if name in self._loaded:
            if engine.loaded:
                self._loaded.move_to_end(name)
                return engine
            log.warning("engine %s is no longer loaded (its worker exited); loading it again", name)
            del self._loaded[name]
        while len(self._loaded) >= self.max_loaded:
            self.unload(next(iter(self._loaded)))
        self.loading = name
        try:
            try:
                engine.load(None)
            except Exception as exc:
                if not is_oom(exc) or not self._loaded:
                    raise
                log.warning("out of GPU memory loading %s; unloading the other engines and retrying", name)
                for other in list(self._loaded):
                    self.unload(other)
                engine.load(None)
        except EngineUnavailable as exc:
            self.load_errors[name] = str(exc)
            raise
        finally:
            self.loading = None
        self.load_errors.pop(name, None)
        self._loaded[name] = None
        return engine

    def unload(self, name: str) -> None:
        log.info("unloading engine %s to make room", name)
        self._loaded.pop(name, None)
        try:
            self.engines[name].unload()
        except Exception:
            log.exception("unloading %s failed", name)
        empty_cache()
