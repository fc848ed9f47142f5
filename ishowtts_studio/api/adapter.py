"""The one place the HTTP API and the `say` command reach into the Studio (its synthesis service, voice library,
runtime state and metrics), so a change there is one change here. Nothing here imports FastAPI or Gradio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ishowtts_studio.services.synthesis import LiveSynthesis
from ishowtts_studio.studio import Studio
from ishowtts_studio.voices import Voice, VoiceNotFound


@dataclass(frozen=True)
class EngineState:
    name: str
    status: str  # ready, available (loads on first use), loading, unavailable
    message: str
    progress: float


class SpeechAdapter:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    # ---- settings and state -----------------------------------------------------------------------
    @property
    def max_text_chars(self) -> int:
        return self.studio.settings.engine.max_text_chars

    @property
    def smoke(self) -> bool:
        return self.studio.is_smoke

    def default_nfe(self) -> int:
        """The studio's default NFE: the one adopted in NFE compare, else engine.default_nfe."""
        return self.studio.default_nfe()

    def reference_nfe(self) -> int:
        """The NFE the studio treats as the clean reference (nfe.reference_nfe)."""
        return self.studio.nfe.reference_default()

    def engine_state(self, name: str) -> EngineState | None:
        for e in self.studio.engines():
            if e["name"] == name:
                progress = self.studio.runtime.progress if e.get("default") else 0.0
                return EngineState(name, e["status"], e["message"], float(progress))
        return None

    def engine_names(self) -> list[str]:
        return [e["name"] for e in self.studio.engines()]

    def retry_after_s(self) -> int:
        """A fair guess of when the queue has room again: what waits, at the recent median latency per batch."""
        snap = self.studio.metrics.snapshot()
        p50 = (snap.get("window") or {}).get("latency_s", {}).get("p50") or 1.0
        depth = snap.get("queue_depth") or 0
        batch = max(1, self.studio.settings.engine.max_batch)
        return int(min(60, max(1, math.ceil(p50 * max(1, depth) / batch))))

    # ---- voices -----------------------------------------------------------------------------------
    def voices(self) -> list[Voice]:
        return self.studio.library.list()

    def find_voice(self, name_or_slug: str) -> Voice | None:
        """The voice called `name_or_slug` (name, case-insensitive, or slug), or None."""
        try:
            return self.studio.library.get(name_or_slug)
        except VoiceNotFound:
            return None

    # ---- synthesis --------------------------------------------------------------------------------
    def start(self, text: str, voice: str, *, engine: str, nfe: int | None, seed: int | None,
              speed: float | None, origin: str) -> LiveSynthesis:
        """Validate and queue one synthesis (InputError, BusyError, EngineUnavailable on refusal); iterate the
        result for chunks, then `finish()` it to write history."""
        return self.studio.synthesis.start(text, voice, nfe=nfe, seed=seed, speed=speed, engine=engine, origin=origin)

    def start_engine(self) -> None:
        """Load the default engine in the background (the server does this at start-up; `say` on demand)."""
        self.studio.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self.studio.runtime.wait_ready(timeout)

    def load_state(self) -> tuple[str, float, str]:
        """(status, progress 0..1, message) of the default engine while it loads."""
        rt = self.studio.runtime
        return rt.status, float(rt.progress), str(rt.message)
