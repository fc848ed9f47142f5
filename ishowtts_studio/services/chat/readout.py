"""What the chat service shows: status (queue, current message, figures, sources), history, the player
events' long poll and the segment WAVs by token."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ishowtts_studio.services.chat.core import ChatCore, ChatInputError
from ishowtts_studio.services.chat.model import FINAL_STATES


class ChatReadout:
    """Read-only views of the service (part of ChatService)."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core

    def status(self) -> dict[str, Any]:
        """{"paused", "hold", "volume", "default_voice", "voice_warning" (chosen voices deleted), "nfe",
        "current": msg | None, "queue": [msg + "waiting_s"], "figures": {"per_minute", "depth", "first_audio_p50_s",
        "first_audio_p95_s", "drops": {reason: n}, "backlog_warning": str | None},
        "sources": [{"name", "state", "detail"}]}."""
        names = list(self.core.voice_names())  # one library scan for the default voice and its warning, unlocked
        with self.core.lock:
            now = self.core.clock()
            playing = self.core.playout.playing(now)
            current = self.core.current.get(playing.token) if playing else None
            queue = [dict(m.to_dict(), waiting_s=round(now - m.arrived_at, 1))
                     for m in [*self.core.pipeline, *self.core.policy.waiting(), *self.core.policy.held()]]
            nfe = int(self.core.pref("nfe", self.core.settings.nfe) or 0)
            return {
                "paused": self.core.paused, "hold": self.core.policy.hold, "volume": self.core.volume(),
                "default_voice": self.core.default_voice(names), "voice_warning": self.core.voice_warning(names),
                "nfe": nfe or None, "effective_nfe": self.core.nfe(),
                "current": current.to_dict() if current else None, "queue": queue,
                "figures": self.core.figures.snapshot(now, self.core.depth(), len(self.core.policy.held()),
                                                 self.core.playout.remaining(now), self.core.settings.max_wait_s),
                "sources": [s.state() for s in self.core.sources] + [o.state() for o in self.core.outputs],
            }
    def expected_wait_s(self) -> float:
        """Seconds the newest message would wait (announced audio left + queue x mean message length)."""
        with self.core.lock:
            now = self.core.clock()
            return self.core.figures.expected_wait_s(self.core.playout.remaining(now), self.core.depth())

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` messages (newest first) with their states, reasons and timings."""
        try:
            n = int(limit)
        except (TypeError, ValueError):
            raise ChatInputError(f"limit is a whole number from 1 to 1000, not {limit!r}.") from None
        if not 1 <= n <= 1000:
            raise ChatInputError("limit is a whole number from 1 to 1000.")
        out = []
        for m in self.core.db.recent(n):
            d = m.to_dict()
            d["first_audio_s"] = round(m.first_audio_at - m.arrived_at, 3) if m.first_audio_at else None
            d["speech_start_s"] = round(m.started_at - m.arrived_at, 3) if m.started_at else None
            out.append(d)
        return out

    def subscribe(self, after: int = 0, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Player events with seq > after, waiting up to `timeout` s for one (long poll; [] on timeout).

        {"seq", "type": "segment", "id", "author", "text" (as spoken), "message" (the viewer's words), "kind",
        "amount", "token", "start_at", "duration_s", "sample_rate"} | {"seq", "type": "skip", "id"}
        | {"seq", "type": "state", "paused": bool, "paused_s"?}.
        start_at is server epoch s; seq keeps increasing across restarts. A client more than EVENTS_KEPT events
        behind gets the newest kept."""
        try:
            after = int(after)
            timeout = min(max(float(timeout), 0.0), 60.0)
        except (TypeError, ValueError):
            raise ChatInputError("after is a whole number and timeout a number of seconds.") from None
        deadline = time.monotonic() + timeout
        with self.core.lock:
            while True:
                new = [e for e in self.core.events if e["seq"] > after]
                if new or self.core.stop.is_set():
                    return [dict(e) for e in new]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.core.wake.wait(left)

    @property
    def last_seq(self) -> int:
        with self.core.lock:
            return self.core.seq

    def audio_path(self, token: str) -> Path:
        """The WAV of a segment for its random token; KeyError for unknown or expired tokens."""
        with self.core.lock:
            entry = self.core.tokens.get(str(token))
            if entry is None or (entry[1] <= self.core.clock() and token not in self.core.current):
                raise KeyError("unknown or expired audio token")
            return entry[0]

    def is_final(self, message_id: int) -> bool:
        m = self.core.db.get(message_id)
        return m is not None and m.state in FINAL_STATES
