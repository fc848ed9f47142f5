"""The chat service's loop: restart recovery, the synthesis/prefetch pipeline through the shared runtime, the
WAV of each segment, and placing finished audio on the playout timeline (announced LOOKAHEAD_S ahead)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import numpy as np

from ishowtts_studio.audio import write_wav_atomic
from ishowtts_studio.services.chat.core import LOOKAHEAD_S, TICK_S, ChatCore, ChatInputError, SpeechStream
from ishowtts_studio.services.chat.model import ChatMessage, MessageState
from ishowtts_studio.services.chat.playout import Segment

log = logging.getLogger(__name__)


class ChatLoop(ChatCore):
    """The loop thread's work (part of ChatService); every method here runs under the service's lock unless
    it says otherwise."""

    def _remove_old_audio(self) -> None:
        """Segment WAVs of an earlier run: their tokens died with it, so nothing can fetch them any more."""
        if self.audio_dir.is_dir():
            for wav in self.audio_dir.glob("*.wav"):
                if wav.stem not in self._tokens:
                    wav.unlink(missing_ok=True)

    def _resume_from_db(self) -> None:
        """Put back what was waiting or in flight when the studio stopped. A message that was being synthesised
        or spoken is queued again (spoken again, from the start) and says so in its detail."""
        for msg in self.db.unfinished():
            if msg.state not in (MessageState.QUEUED, MessageState.HELD):
                msg.detail = f"queued again after a restart (was {msg.state})"
                msg.state = MessageState.QUEUED
                msg.first_audio_at = msg.started_at = None
                self.db.save(msg)
            self.policy.restore(msg)
        self.figures.depth.set(self._depth())
    # ---- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                try:
                    self._step()
                except Exception:  # the loop must outlive any one bad message
                    log.exception("chat loop step failed")
                self._wake.wait(TICK_S)

    def _step(self) -> None:
        now = self.clock()
        for m in self.policy.expire():
            self._final(m)
        self._fill_pipeline()
        self._advance_timeline(now)
        self._expire_audio(now)
        self.figures.depth.set(self._depth())

    def _fill_pipeline(self) -> None:
        while len(self._pipeline) < self.settings.prefetch:
            msg, stale = self.policy.pop()
            for m in stale:
                self._final(m)
            if msg is None or not self._begin_synthesis(msg):
                return

    def _voice_for(self, msg: ChatMessage) -> str:
        names = list(self.voice_names())
        own = self.db.viewer_voice(msg.author)
        if own and own in names:
            return own
        default = self.default_voice()
        if default:
            return default
        raise ChatInputError("There is no voice to speak with: add a voice in the Voices tab.")

    def _begin_synthesis(self, msg: ChatMessage) -> bool:
        """Hand one message to the synthesizer; False when the runtime is busy (the message goes back first in
        line and the next tick tries again)."""
        previous = self._last_spoken_author
        # the name is said once per run of messages by the same author, in the order they are spoken
        msg.spoken_text = self._spoken_text(msg, previous)
        try:
            msg.voice = self._voice_for(msg)
            stream = self.synthesize(msg.spoken_text, msg.voice, self._nfe())
        except self.busy_errors:
            self.policy.requeue_front(msg)
            return False
        except Exception as exc:
            self._fail(msg, exc)
            return True
        self._last_spoken_author = msg.author.casefold()
        msg.state = MessageState.SYNTHESIZING
        self.db.save(msg)
        self._pipeline.append(msg)
        assert self._pool is not None
        self._pool.submit(self._consume, msg, stream)
        return True

    def _consume(self, msg: ChatMessage, stream: SpeechStream) -> None:
        """Runs in a pool thread: collect the audio, write the segment's WAV, mark the message ready."""
        try:
            pieces = []
            for piece in stream:
                if not pieces:
                    with self._lock:
                        msg.first_audio_at = self.clock()
                pieces.append(np.asarray(piece, dtype=np.float32))
            audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            if audio.size == 0:
                raise RuntimeError("the engine returned no audio")
            sr = int(stream.sample_rate)
            token = secrets.token_urlsafe(18)
            wav = write_wav_atomic(self.audio_dir / f"{token}.wav", audio, sr)
            stats = getattr(getattr(stream, "handle", None), "stats", None)
            with self._lock:
                if stats is not None:
                    msg.extra["batch_size"] = int(getattr(stats, "batch_size", 0) or 0)
                if msg.state is not MessageState.SYNTHESIZING:  # cleared meanwhile: nobody will play it
                    wav.unlink(missing_ok=True)
                    return
                self._tokens[token] = (wav, self.clock() + self.settings.audio_keep_s)
                self._audio[msg.id] = (token, audio.size / sr, sr)
                msg.state = MessageState.READY
                self.db.save(msg)
                self.figures.first_audio((msg.first_audio_at or self.clock()) - msg.arrived_at)
                self._wake.notify_all()
        except Exception as exc:
            with self._lock:
                self._fail(msg, exc)
                self._wake.notify_all()

    def _fail(self, msg: ChatMessage, exc: BaseException) -> None:
        """Mark a message failed with a message fit for the history table; the queue goes on."""
        if isinstance(exc, self.user_errors):
            log.warning("chat message %s failed: %s", msg.id, exc)
            detail = str(exc) or type(exc).__name__
        else:
            log.error("chat message %s failed", msg.id, exc_info=exc)
            detail = f"synthesis failed ({type(exc).__name__}); the studio log has the details"
        msg.state, msg.detail, msg.finished_at = MessageState.FAILED, detail, self.clock()
        if msg in self._pipeline:
            self._pipeline.remove(msg)
        self._final(msg)
    def _advance_timeline(self, now: float) -> None:
        for seg in self.playout.finished(now):
            msg = self._current.pop(seg.token, None)
            if msg is not None:
                msg.state, msg.finished_at = MessageState.SPOKEN, seg.end_at
                if seg.skipped_at is not None:
                    msg.detail = f"skipped after {max(0.0, seg.skipped_at - seg.start_at):.1f} s"
                self._final(msg)
        if self.playout.paused or not self._pipeline:
            return
        head = self._pipeline[0]
        if head.state is not MessageState.READY:
            return
        if self.playout.remaining(now) > LOOKAHEAD_S:
            return
        self._pipeline.popleft()
        token, duration, sr = self._audio.pop(head.id)
        seg = self.playout.schedule(head.id, token, duration, sr, now, head.author, head.spoken_text)
        head.state, head.started_at = MessageState.SPEAKING, seg.start_at
        self.db.save(head)
        self._current[token] = head
        self.figures.speech_start(seg.start_at - head.arrived_at, duration)
        self._emit(self._segment_event(head, seg))

    @staticmethod
    def _segment_event(msg: ChatMessage, seg: Segment) -> dict[str, Any]:
        # "text" is what is said (template applied); "message" is the viewer's words alone, for an overlay
        return {"type": "segment", "id": msg.id, "author": msg.author, "text": msg.spoken_text,
                "message": msg.clean_text, "kind": str(msg.kind), "amount": msg.amount,
                "token": seg.token, "start_at": round(seg.start_at, 3), "duration_s": round(seg.duration_s, 3),
                "sample_rate": seg.sample_rate}
    def _discard_audio(self, message_id: int) -> None:
        entry = self._audio.pop(message_id, None)
        if entry is not None:
            path, _ = self._tokens.pop(entry[0], (None, 0.0))
            if path is not None:
                path.unlink(missing_ok=True)

    def _expire_audio(self, now: float) -> None:
        for token in [t for t, (_, until) in self._tokens.items() if until <= now and t not in self._current]:
            path, _ = self._tokens.pop(token)
            path.unlink(missing_ok=True)
