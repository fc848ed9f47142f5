"""ChatService: the live-chat queue, its synthesis loop and the playout timeline, behind one thread-safe API.

Messages come in through `post` / `post_lines` (tab, API) or a source (Twitch IRC); the pure `ChatPolicy`
decides what is kept and in which order; a loop keeps `prefetch` messages synthesising through the shared
runtime while the current one plays; finished audio is placed on the `Playout` timeline, which players
follow through `subscribe` (events) and `audio_path` (WAV per segment). Every state change is written to the
database, so a restart resumes the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class ChatInputError(ValueError):
    """Bad input to the chat service; the message says what to change (the Studio maps it to InputError)."""


class SpeechStream(Protocol):
    """What the synthesizer returns: audio pieces (float32 mono) as they are ready."""

    sample_rate: int

    def __iter__(self) -> Iterator[np.ndarray]: ...


# (text, voice name, nfe) -> a stream of audio; the Studio passes its own synthesis entry point, so chat lines
# go through the shared runtime's queue and batch with everything else.
Synthesizer = Callable[[str, str, int], SpeechStream]


class ChatService:
    """The live-chat service. Every public method is thread-safe.

    Built by the Studio root: ``ChatService(settings.chat, store, synthesize, voices=..., default_nfe=...,
    audio_dir=samples/chat, registry=metrics.registry)``; ``start()`` starts the loop and sources,
    ``close()`` stops them (messages not yet final stay in the database and resume on the next start).
    """

    def __init__(
        self,
        settings: Any,
        store: Any,
        synthesize: Synthesizer,
        *,
        voices: Callable[[], Iterable[str]],
        default_nfe: Callable[[], int],
        audio_dir: Path,
        registry: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        raise NotImplementedError

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Resume the queue from the database, start the synthesis loop and the configured sources."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop sources and the loop; unfinished messages keep their rows and resume on the next start."""
        raise NotImplementedError

    # ---- messages in ---------------------------------------------------------------------------
    def post(self, author: str, text: str, kind: str = "chat", amount: float = 0.0,
             platform: str = "api") -> dict[str, Any]:
        """Offer one message. Returns {"id", "state", "reason", "spoken_text"}.

        state is "queued" (or "held" in hold mode) when accepted, "dropped" with a reason (filtered, cooldown,
        duplicate, full) when not; either way the message has a row. Raises ChatInputError for an empty
        author/text, an unknown kind or a negative/non-numeric amount."""
        raise NotImplementedError

    def post_lines(self, block: str, platform: str = "tab") -> list[dict[str, Any]]:
        """One `post` per non-empty line; a line "name: text" sets the author (else "viewer")."""
        raise NotImplementedError

    # ---- controls ------------------------------------------------------------------------------
    def control(self, action: str, message_id: int | None = None) -> dict[str, Any]:
        """pause | resume | skip | clear | approve | reject | replay | hold_on | hold_off.

        approve/reject/replay need message_id. Returns {"ok": True, "action", "id"?} or raises ChatInputError."""
        raise NotImplementedError

    def set_default_voice(self, voice: str) -> None:
        """Voice for viewers without their own (must exist in the voice library; ChatInputError else)."""
        raise NotImplementedError

    def set_volume(self, v: float) -> None:
        """Player volume 0..1 (players read it from status(); the sounddevice output applies it)."""
        raise NotImplementedError

    def set_nfe(self, nfe: int | None) -> None:
        """NFE for chat lines (1..64); None = the studio's adopted default."""
        raise NotImplementedError

    def viewer_voices(self) -> dict[str, str]:
        """author (lower-case key) -> voice name, as stored."""
        raise NotImplementedError

    def set_viewer_voice(self, author: str, voice: str | None) -> None:
        """Give a viewer a sticky voice (None or "" removes it: the viewer gets the default)."""
        raise NotImplementedError

    # ---- read ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """{"paused", "hold", "volume", "default_voice", "nfe", "current": msg | None,
        "queue": [msg + "waiting_s"], "figures": {"per_minute", "depth", "first_audio_p50_s", "first_audio_p95_s",
        "drops": {reason: n}, "backlog_warning": str | None}, "sources": [{"name", "state", "detail"}]}."""
        raise NotImplementedError

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` messages (newest first) with their states, reasons and timings."""
        raise NotImplementedError

    def subscribe(self, after: int = 0, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Player events with seq > after, waiting up to `timeout` s for one (long poll; [] on timeout).

        {"seq", "type": "segment", "id", "author", "text", "token", "start_at", "duration_s", "sample_rate"}
        | {"seq", "type": "skip", "id"} | {"seq", "type": "state", "paused": bool}. start_at is server epoch s."""
        raise NotImplementedError

    def audio_path(self, token: str) -> Path:
        """The WAV of a segment for its random token; KeyError for unknown or expired tokens."""
        raise NotImplementedError
