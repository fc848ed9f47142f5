"""ChatService: the live-chat queue, its synthesis loop and the playout timeline, behind one thread-safe API.

Messages come in through `post` / `post_lines` (tab, API) or a source (Twitch IRC); the pure `filters` and
`ChatPolicy` decide what is kept and in which order; one loop thread keeps `prefetch` messages synthesising
through the shared runtime (so they batch on the GPU) while the current one plays, and places finished audio on
the `Playout` timeline, which players follow through `subscribe` (events) and `audio_path` (one WAV per
segment). Every state change is written to the database before anyone can see it, so a restart resumes the
queue and nothing accepted disappears without a row.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ishowtts_studio.services.chat.controls import ChatControls
from ishowtts_studio.services.chat.core import (
    ACTIONS,
    EVENTS_KEPT,
    LOOKAHEAD_S,
    MAX_AMOUNT,
    MAX_AUTHOR_CHARS,
    MAX_TEXT_CHARS,
    PREF,
    TICK_S,
    ChatCore,
    ChatInputError,
    SpeechStream,
    Synthesizer,
)
from ishowtts_studio.services.chat.intake import ChatIntake
from ishowtts_studio.services.chat.loop import ChatLoop
from ishowtts_studio.services.chat.readout import ChatReadout
from ishowtts_studio.services.chat.sources.base import ChatSource

log = logging.getLogger(__name__)

# the names other modules and tests import from here
__all__ = ["ACTIONS", "EVENTS_KEPT", "LOOKAHEAD_S", "MAX_AMOUNT", "MAX_AUTHOR_CHARS", "MAX_TEXT_CHARS", "PREF",
           "TICK_S", "ChatInputError", "ChatService", "SpeechStream", "Synthesizer"]


class ChatService:
    """The live-chat service. Every public method is thread-safe.

    Built by the Studio root: ``ChatService(settings.chat, store, synthesize, voices=..., default_nfe=...,
    audio_dir=samples/chat, registry=metrics.registry)``; ``start()`` starts the loop and sources,
    ``close()`` stops them (messages not yet final stay in the database and resume on the next start).

    The parts live in their own modules and share one `ChatCore` (`core`, the state and its lock): `intake`
    (post), `loop` (synthesis, timeline, restart recovery), `controls` (actions, settings), `readout` (status,
    history, events, audio). This class builds them and hands each public call to its part.
    """

    def __init__(self, settings: Any, store: Any, synthesize: Synthesizer, **options: Any) -> None:
        """`options` are ChatCore's keywords: voices, default_nfe, audio_dir (required), registry, clock, sources,
        user_errors, busy_errors."""
        self.core = ChatCore(settings, store, synthesize, **options)
        self.intake = ChatIntake(self.core)
        self.loop = ChatLoop(self.core)
        self.controls = ChatControls(self.core)
        self.readout = ChatReadout(self.core)
        # the public calls, each answered by its part (documented there)
        self.post = self.intake.post
        self.post_lines = self.intake.post_lines
        self.control = self.controls.control
        self.set_default_voice = self.controls.set_default_voice
        self.set_volume = self.controls.set_volume
        self.set_nfe = self.controls.set_nfe
        self.viewer_voices = self.controls.viewer_voices
        self.set_viewer_voice = self.controls.set_viewer_voice
        self.voice_renamed = self.controls.voice_renamed
        self.status = self.readout.status
        self.expected_wait_s = self.readout.expected_wait_s
        self.history = self.readout.history
        self.subscribe = self.readout.subscribe
        self.audio_path = self.readout.audio_path
        self.is_final = self.readout.is_final
        self.default_voice = self.core.default_voice
        self.volume = self.core.volume

    @property
    def settings(self) -> Any:
        return self.core.settings

    @property
    def sources(self) -> list[ChatSource]:
        return self.core.sources

    @property
    def outputs(self) -> list[Any]:
        return self.core.outputs

    @property
    def paused(self) -> bool:
        return self.core.paused

    @property
    def last_seq(self) -> int:
        return self.readout.last_seq

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Resume the queue from the database, start the synthesis loop and the configured sources."""
        core = self.core
        with core.lock:
            if core.thread is not None:
                return
            self.loop.resume_from_db()
            self.loop.remove_old_audio()
            core.stop.clear()
            core.pool = ThreadPoolExecutor(max_workers=core.settings.prefetch, thread_name_prefix="chat-synth")
            core.thread = threading.Thread(target=self.loop.run, name="chat-loop", daemon=True)
            core.thread.start()
        for src in core.sources:
            try:
                src.start(self.intake.from_source)
            except Exception as exc:  # one source failing to start never stops the others or the queue
                log.warning("chat source %s did not start: %s", src.name, exc)
        for out in core.outputs:
            out.start(self)  # a missing package or device is reported in status(), never raised

    def close(self) -> None:
        """Stop sources and the loop; unfinished messages keep their rows and resume on the next start."""
        core = self.core
        for out in core.outputs:
            out.stop()
        for src in core.sources:
            try:
                src.stop()
            except Exception:
                log.exception("chat source %s did not stop cleanly", src.name)
        with core.lock:
            core.stop.set()
            core.wake.notify_all()
            thread, pool = core.thread, core.pool
            core.thread = core.pool = None
        if thread is not None:
            thread.join(10)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
