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
    ChatInputError,
    SpeechStream,
    Synthesizer,
)
from ishowtts_studio.services.chat.intake import ChatIntake
from ishowtts_studio.services.chat.loop import ChatLoop
from ishowtts_studio.services.chat.readout import ChatReadout

log = logging.getLogger(__name__)

# the names other modules and tests import from here
__all__ = ["ACTIONS", "EVENTS_KEPT", "LOOKAHEAD_S", "MAX_AMOUNT", "MAX_AUTHOR_CHARS", "MAX_TEXT_CHARS", "PREF",
           "TICK_S", "ChatInputError", "ChatService", "SpeechStream", "Synthesizer"]


class ChatService(ChatIntake, ChatLoop, ChatControls, ChatReadout):
    """The live-chat service. Every public method is thread-safe.

    Built by the Studio root: ``ChatService(settings.chat, store, synthesize, voices=..., default_nfe=...,
    audio_dir=samples/chat, registry=metrics.registry)``; ``start()`` starts the loop and sources,
    ``close()`` stops them (messages not yet final stay in the database and resume on the next start).

    The parts live in their own modules: `core` (state), `intake` (post), `loop` (synthesis, timeline, restart
    recovery), `controls` (actions, settings), `readout` (status, history, events, audio).
    """

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Resume the queue from the database, start the synthesis loop and the configured sources."""
        with self._lock:
            if self._thread is not None:
                return
            self._resume_from_db()
            self._remove_old_audio()
            self._stop.clear()
            self._pool = ThreadPoolExecutor(max_workers=self.settings.prefetch, thread_name_prefix="chat-synth")
            self._thread = threading.Thread(target=self._loop, name="chat-loop", daemon=True)
            self._thread.start()
        for src in self.sources:
            try:
                src.start(self._from_source)
            except Exception as exc:  # one source failing to start never stops the others or the queue
                log.warning("chat source %s did not start: %s", src.name, exc)
        for out in self.outputs:
            out.start(self)  # a missing package or device is reported in status(), never raised

    def close(self) -> None:
        """Stop sources and the loop; unfinished messages keep their rows and resume on the next start."""
        for out in self.outputs:
            out.stop()
        for src in self.sources:
            try:
                src.stop()
            except Exception:
                log.exception("chat source %s did not stop cleanly", src.name)
        with self._lock:
            self._stop.set()
            self._wake.notify_all()
            thread, pool = self._thread, self._pool
            self._thread = self._pool = None
        if thread is not None:
            thread.join(10)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

