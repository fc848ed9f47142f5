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
PRUNE_EVERY_S = 3600.0  # how often old chat history is deleted (and once at the loop's first step)


class ChatLoop:
    """The loop thread's work (part of ChatService); every method here runs under the shared lock
    (`core.lock`) unless it says otherwise."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core

    def remove_old_audio(self) -> None:
        """Segment WAVs of an earlier run: their tokens died with it, so nothing can fetch them any more."""
        if self.core.audio_dir.is_dir():
            for wav in self.core.audio_dir.glob("*.wav"):
                if wav.stem not in self.core.tokens:
                    wav.unlink(missing_ok=True)

    def resume_from_db(self) -> None:
        """Put back what was waiting or in flight when the studio stopped. A message that was being synthesised
        or spoken is queued again (spoken again, from the start) and says so in its detail."""
        for msg in self.core.db.unfinished():
            if msg.state not in (MessageState.QUEUED, MessageState.HELD):
                msg.detail = f"queued again after a restart (was {msg.state})"
                msg.state = MessageState.QUEUED
                msg.first_audio_at = msg.started_at = None
                self.core.db.save(msg)
            self.core.policy.restore(msg)
        self.core.figures.depth.set(self.core.depth())

    def prune_history(self, now: float) -> None:
        """Delete finished messages older than `chat.keep_days` (0 keeps them): the history table and the counts
        every status reads stay bounded however many streams the studio has read."""
        self.core.pruned_at = now
        days = self.core.settings.keep_days
        if days > 0:
            gone = self.core.db.prune(now - days * 86400.0)
            if gone:
                log.info("chat history: %d finished messages older than %g days deleted", gone, days)

    # ---- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        """The loop thread's body: one step per tick until the service stops."""
        while not self.core.stop.is_set():
            with self.core.lock:
                try:
                    self._step()
                except Exception:  # the loop must outlive any one bad message
                    log.exception("chat loop step failed")
                self.core.wake.wait(TICK_S)

    def _step(self) -> None:
        now = self.core.clock()
        if now - self.core.pruned_at >= PRUNE_EVERY_S:
            self.prune_history(now)
        for m in self.core.policy.expire():
            self.core.final(m)
        self._fill_pipeline()
        self._advance_timeline(now)
        self._expire_audio(now)
        self.core.figures.depth.set(self.core.depth())

    def _fill_pipeline(self) -> None:
        while len(self.core.pipeline) < self.core.settings.prefetch:
            msg, stale = self.core.policy.pop()
            for m in stale:
                self.core.final(m)
            if msg is None or not self._begin_synthesis(msg):
                return

    def _voice_for(self, msg: ChatMessage) -> str:
        names = list(self.core.voice_names())
        own = self.core.db.viewer_voice(msg.author)
        if own and own in names:
            return own
        default = self.core.default_voice()
        if default:
            return default
        raise ChatInputError("There is no voice to speak with: add a voice in the Voices tab.")

    def _begin_synthesis(self, msg: ChatMessage) -> bool:
        """Hand one message to the synthesizer; False when the runtime is busy (the message goes back first in
        line and the next tick tries again)."""
        previous = self.core.author_heard_before_next()
        # the name is said once per run of messages by the same author, in the order they are spoken
        msg.spoken_text = self.core.spoken_text(msg, previous)
        try:
            msg.voice = self._voice_for(msg)
            stream = self.core.synthesize(msg.spoken_text, msg.voice, self.core.nfe())
        except self.core.busy_errors:
            self.core.policy.requeue_front(msg)
            return False
        except Exception as exc:
            self._fail(msg, exc)
            return True
        msg.state = MessageState.SYNTHESIZING
        self.core.db.save(msg)
        self.core.pipeline.append(msg)
        self.core.streams[msg.id] = stream
        assert self.core.pool is not None
        self.core.pool.submit(self._consume, msg, stream)
        return True

    def _consume(self, msg: ChatMessage, stream: SpeechStream) -> None:
        """Runs in a pool thread: collect the audio, write the segment's WAV, mark the message ready."""
        try:
            pieces = []
            for piece in stream:
                if not pieces:
                    with self.core.lock:
                        msg.first_audio_at = self.core.clock()
                pieces.append(np.asarray(piece, dtype=np.float32))
            audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            if audio.size == 0:
                raise RuntimeError("the engine returned no audio")
            sr = int(stream.sample_rate)
            token = secrets.token_urlsafe(18)
            wav = write_wav_atomic(self.core.audio_dir / f"{token}.wav", audio, sr)
            stats = getattr(getattr(stream, "handle", None), "stats", None)
            with self.core.lock:
                if stats is not None:
                    msg.extra["batch_size"] = int(getattr(stats, "batch_size", 0) or 0)
                if msg.state is not MessageState.SYNTHESIZING:  # cleared meanwhile: nobody will play it
                    wav.unlink(missing_ok=True)
                    return
                self.core.tokens[token] = (wav, self.core.clock() + self.core.settings.audio_keep_s)
                self.core.audio[msg.id] = (token, audio.size / sr, sr)
                msg.state = MessageState.READY
                self.core.db.save(msg)
                self.core.figures.first_audio((msg.first_audio_at or self.core.clock()) - msg.arrived_at)
                self.core.wake.notify_all()
        except Exception as exc:
            with self.core.lock:
                if msg.state is MessageState.SYNTHESIZING:  # else cleared meanwhile (and cancelled): already final
                    self._fail(msg, exc)
                self.core.wake.notify_all()
        finally:
            with self.core.lock:
                self.core.streams.pop(msg.id, None)

    def _fail(self, msg: ChatMessage, exc: BaseException) -> None:
        """Mark a message failed with a message fit for the history table; the queue goes on."""
        if isinstance(exc, self.core.user_errors):
            log.warning("chat message %s failed: %s", msg.id, exc)
            detail = str(exc) or type(exc).__name__
        else:
            log.error("chat message %s failed", msg.id, exc_info=exc)
            detail = f"synthesis failed ({type(exc).__name__}); the studio log has the details"
        msg.state, msg.detail, msg.finished_at = MessageState.FAILED, detail, self.core.clock()
        if msg in self.core.pipeline:
            self.core.pipeline.remove(msg)
        self.core.final(msg)
    def _advance_timeline(self, now: float) -> None:
        for seg in self.core.playout.finished(now):
            msg = self.core.current.pop(seg.token, None)
            if msg is not None:
                msg.state, msg.finished_at = MessageState.SPOKEN, seg.end_at
                if seg.skipped_at is not None:
                    msg.detail = f"skipped after {max(0.0, seg.skipped_at - seg.start_at):.1f} s"
                self.core.final(msg)
        if self.core.playout.paused or not self.core.pipeline:
            return
        head = self.core.pipeline[0]
        if head.state is not MessageState.READY:
            return
        if self.core.playout.remaining(now) > LOOKAHEAD_S:
            return
        self.core.pipeline.popleft()
        token, duration, sr = self.core.audio.pop(head.id)
        seg = self.core.playout.schedule(head.id, token, duration, sr, now, head.author, head.spoken_text)
        wav, until = self.core.tokens[token]  # kept from its announcement on, however long it waited to be
        self.core.tokens[token] = (wav, max(until, seg.end_at + self.core.settings.audio_keep_s))
        head.state, head.started_at = MessageState.SPEAKING, seg.start_at
        self.core.db.save(head)
        self.core.current[token] = head
        self.core.figures.speech_start(seg.start_at - head.arrived_at, duration)
        self.core.emit(self._segment_event(head, seg))

    @staticmethod
    def _segment_event(msg: ChatMessage, seg: Segment) -> dict[str, Any]:
        # "text" is what is said (template applied); "message" is the viewer's words alone, for an overlay
        return {"type": "segment", "id": msg.id, "author": msg.author, "text": msg.spoken_text,
                "message": msg.clean_text, "kind": str(msg.kind), "amount": msg.amount,
                "token": seg.token, "start_at": round(seg.start_at, 3), "duration_s": round(seg.duration_s, 3),
                "sample_rate": seg.sample_rate}
    def _expire_audio(self, now: float) -> None:
        # a token still waiting to be announced (paused, held back) never expires: its players have not heard it
        waiting = {token for token, _, _ in self.core.audio.values()}
        for token in [t for t, (_, until) in self.core.tokens.items()
                      if until <= now and t not in self.core.current and t not in waiting]:
            path, _ = self.core.tokens.pop(token)
            path.unlink(missing_ok=True)
