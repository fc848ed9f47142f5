"""What a device worker reports about itself: its engines' states, its queued audio (what requests are routed
by) and its figures for /health, the Performance tab and Prometheus. Read from callers' threads, never waiting for
the worker. A mixin of `EngineRuntime`; it reads only the runtime's public attributes and methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ishowtts_studio.engines.base import EngineUnavailable

if TYPE_CHECKING:
    from ishowtts_studio.runtime import EngineRuntime


class RuntimeStatus:
    def engine_status(self) -> list[dict[str, Any]]:
        """Every registered engine: name, label, and whether it is loaded, loading or unavailable (and why)."""
        out = []
        for name, engine in self.engines.items():
            if engine is self.engine:
                status, message = self.status, self.message
            elif name == self.pool.loading:
                status, message = "loading", f"Loading {engine.label}..."
            elif self.pool.is_loaded(name):
                status, message = "ready", "Loaded."
            else:
                try:
                    engine.check()
                    status, message = "available", self.pool.load_errors.get(name, "Loads on first use.")
                except EngineUnavailable as exc:
                    status, message = "unavailable", str(exc)
            out.append({"name": name, "label": engine.label, "status": status, "message": message,
                        "loaded": self.pool.is_loaded(name), "default": engine is self.engine})
        return out

    @property
    def workers(self) -> list[EngineRuntime]:
        """The device workers behind this runtime: just itself (`DeviceRuntimes` has several)."""
        return [self]

    def device_status(self) -> list[dict[str, Any]]:
        """Per device (here: one) figures for /health, the Performance tab and Prometheus."""
        return [self.worker_status()]

    def worker_status(self) -> dict[str, Any]:
        """This worker's figures: device, state, queue, queued audio and counts."""
        info = self.info
        status, message = self.status, self.message
        if not self.alive():
            status, message = "unavailable", f"The worker on {self.device} stopped; restart the studio."
        return {"device": self.device, "status": status, "message": message,
                "name": info.device if info else None, "queue_depth": self.queue_depth(),
                "queued_audio_s": round(self.queued_audio_s(), 3), "completed": self.completed,
                "failed": self.failed, "rejected_busy": self.rejected_busy}
