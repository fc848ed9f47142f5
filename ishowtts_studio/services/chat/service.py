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
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry

from ishowtts_studio.audio import write_wav_atomic
from ishowtts_studio.services.chat import filters
from ishowtts_studio.services.chat.figures import ChatFigures
from ishowtts_studio.services.chat.model import (
    FINAL_STATES,
    ChatMessage,
    DropReason,
    MessageKind,
    MessageState,
)
from ishowtts_studio.services.chat.playout import Playout, Segment
from ishowtts_studio.services.chat.policy import ChatPolicy, QueueRules, drop
from ishowtts_studio.services.chat.sounddevice_out import SoundDeviceOutput
from ishowtts_studio.services.chat.sources.base import ChatSource
from ishowtts_studio.services.chat.store import ChatStore
from ishowtts_studio.services.errors import InputError

log = logging.getLogger(__name__)

MAX_AUTHOR_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_AMOUNT = 1e9
ACTIONS = ("pause", "resume", "skip", "clear", "approve", "reject", "replay", "hold_on", "hold_off")
# Announce the next segment this long before the current one ends, so players can fetch its WAV in time.
LOOKAHEAD_S = 1.5
TICK_S = 0.05  # the loop's longest sleep: timeline ends and staleness are noticed within this
EVENTS_KEPT = 1000
PREF = "chat."  # preference keys: chat.default_voice, chat.volume, chat.nfe, chat.paused, chat.hold


class ChatInputError(InputError):
    """Bad input to the chat service; the message says what to change (a user error like every InputError)."""


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
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        sources: Iterable[ChatSource] = (),
        user_errors: tuple[type[BaseException], ...] = (),
        busy_errors: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.settings = settings
        self.prefs = store  # the studio store: get_pref / set_pref
        self.db = ChatStore(store)
        self.synthesize = synthesize
        self.voice_names = voices
        self.default_nfe = default_nfe
        self.audio_dir = Path(audio_dir)
        self.clock = clock
        self.rules = filters.TextRules.from_settings(settings)
        self.templates = {str(k): settings.template(str(k)) for k in MessageKind}
        self.templates["continued"] = settings.template_continued
        hold = bool(self._pref("hold", settings.hold))
        self.policy = ChatPolicy(QueueRules.from_settings(settings), clock, hold=hold)
        self.playout = Playout(settings.crossfade_ms / 1000)
        self.figures = ChatFigures(registry)
        self.sources: list[ChatSource] = list(sources)
        # errors whose message is meant for people (shown in the history); anything else is logged in full and
        # shown by its type only, so no internal detail (paths, ...) reaches a page
        self.user_errors = (ChatInputError, *user_errors)
        self.busy_errors = busy_errors  # the runtime's queue is full: the message waits for the next tick
        self.outputs: list[SoundDeviceOutput] = [SoundDeviceOutput(settings.output_device)] if settings.sounddevice \
            else []

        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)  # loop wake-ups and subscribe() long polls
        self._pipeline: deque[ChatMessage] = deque()  # popped messages in speaking order: synthesizing/ready
        self._audio: dict[int, tuple[str, float, int]] = {}  # message id -> (token, duration s, sample rate)
        self._tokens: dict[str, tuple[Path, float]] = {}  # token -> (wav, expires at)
        self._current: dict[str, ChatMessage] = {}  # token -> message on the timeline
        self._events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        # event numbers keep increasing across restarts (they start from the clock in ms), so a player that
        # reconnects after a restart with its old `after` still gets the new events
        self._seq = int(self.clock() * 1000)
        self._last_spoken_author: str | None = None  # for "name only on the first consecutive message"
        self._last_accepted_author: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.paused = bool(self._pref("paused", False))
        if self.paused:
            self.playout.pause(self.clock())

    # ---- preferences -------------------------------------------------------------------------------
    def _pref(self, key: str, default: Any) -> Any:
        return self.prefs.get_pref(PREF + key, default)

    def _set_pref(self, key: str, value: Any) -> None:
        self.prefs.set_pref(PREF + key, value)

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

    # ---- messages in ---------------------------------------------------------------------------
    def post(self, author: str, text: str, kind: str = "chat", amount: float = 0.0,
             platform: str = "api") -> dict[str, Any]:
        """Offer one message. Returns {"id", "state", "reason", "spoken_text"}.

        state is "queued" (or "held" in hold mode) when accepted, "dropped" with a reason (filtered, cooldown,
        duplicate, full) when not; either way the message has a row. Raises ChatInputError for an empty
        author/text, an unknown kind or a negative/non-numeric amount."""
        return self._post(author, text, kind, amount, platform, {})

    def _from_source(self, author: str, text: str, kind: str = "chat", amount: float = 0.0,
                     platform: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The sink handed to sources: like post, but bad input is logged, never raised into a source."""
        try:
            return self._post(author, text, kind, amount, platform or "source", extra or {})
        except ChatInputError as exc:
            log.info("chat source message ignored: %s", exc)
            return None

    def _post(self, author: Any, text: Any, kind: Any, amount: Any, platform: Any,
              extra: dict[str, Any]) -> dict[str, Any]:
        msg = self._checked(author, text, kind, amount, platform)
        msg.extra = dict(extra)
        with self._lock:
            msg.arrived_at = self.clock()
            self.figures.arrived(msg)
            cleaned = filters.clean(msg.author, msg.text, self.rules)
            if cleaned.text is None:
                return self._refuse(msg, cleaned.why)
            if not self.templates[str(msg.kind)].strip():
                return self._refuse(msg, f"{msg.kind} messages are switched off (chat.template_{msg.kind} is empty)")
            msg.clean_text = cleaned.text
            msg.spoken_text = self._spoken_text(msg, self._last_accepted_author)
            msg.state = MessageState.QUEUED
            self.db.add(msg)  # a row before the policy decides, so every outcome below updates a stored message
            changed = self.policy.offer(msg)
            self.db.save(*changed)
            for m in changed:
                self.figures.final(m)
            if msg.state is not MessageState.DROPPED:
                self._last_accepted_author = msg.author.casefold()
            self.figures.depth.set(self._depth())
            self._wake.notify_all()
            return self._answer(msg)

    def _checked(self, author: Any, text: Any, kind: Any, amount: Any, platform: Any) -> ChatMessage:
        author = " ".join(str(author or "").split())
        if not author:
            raise ChatInputError("Give the message an author (the viewer's name).")
        if len(author) > MAX_AUTHOR_CHARS:
            raise ChatInputError(f"The author's name is too long: at most {MAX_AUTHOR_CHARS} characters.")
        text = str(text or "")
        if not text.strip():
            raise ChatInputError("The message is empty: type what the viewer said.")
        if len(text) > MAX_TEXT_CHARS:
            raise ChatInputError(f"The message is too long: at most {MAX_TEXT_CHARS} characters.")
        try:
            k = MessageKind(str(kind or "chat").strip().lower())
        except ValueError:
            raise ChatInputError(
                f"Unknown message kind {kind!r}: use one of {', '.join(str(m) for m in MessageKind)}."
            ) from None
        try:
            value = float(amount if amount not in (None, "") else 0.0)
        except (TypeError, ValueError):
            raise ChatInputError(f"The amount must be a number (0 for none), not {amount!r}.") from None
        if not math.isfinite(value) or value < 0 or value > MAX_AMOUNT:
            raise ChatInputError("The amount must be a number from 0 to 1e9 (0 for none).")
        plat = str(platform or "api").strip()[:32] or "api"
        return ChatMessage(author=author, text=text, kind=k, amount=value, platform=plat)

    def _refuse(self, msg: ChatMessage, why: str) -> dict[str, Any]:
        drop(msg, DropReason.FILTERED, why, msg.arrived_at)
        self.db.add(msg)
        self.figures.final(msg)
        return self._answer(msg)

    @staticmethod
    def _answer(msg: ChatMessage) -> dict[str, Any]:
        return {"id": msg.id, "state": str(msg.state), "reason": str(msg.reason) if msg.reason else None,
                "detail": msg.detail, "spoken_text": msg.spoken_text}

    def _spoken_text(self, msg: ChatMessage, previous_author: str | None) -> str:
        same = previous_author is not None and previous_author == msg.author.casefold()
        template = filters.choose_template(self.templates, msg.kind, same)
        return filters.render(template, msg.author, msg.clean_text, msg.amount) or msg.clean_text

    def post_lines(self, block: str, platform: str = "tab") -> list[dict[str, Any]]:
        """One `post` per non-empty line; a line "name: text" sets the author (else "viewer")."""
        lines = [ln.strip() for ln in str(block or "").splitlines() if ln.strip()]
        if not lines:
            raise ChatInputError("Type at least one message (one per line, optionally \"name: text\").")
        out = []
        for line in lines:
            author, sep, text = line.partition(":")
            # "name: text" only when the name looks like one (no spaces inside, not a URL scheme like "https")
            if not sep or not author.strip() or " " in author.strip() or text.startswith("//") or not text.strip():
                author, text = "viewer", line
            out.append(self.post(author.strip(), text.strip(), platform=platform))
        return out

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

    def _nfe(self) -> int:
        nfe = int(self._pref("nfe", self.settings.nfe) or 0)
        return nfe if nfe > 0 else int(self.default_nfe())

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

    def _final(self, msg: ChatMessage) -> None:
        self.db.save(msg)
        self.figures.final(msg)

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

    def _emit(self, event: dict[str, Any]) -> None:
        self._seq += 1
        self._events.append({"seq": self._seq, **event})
        self._wake.notify_all()

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

    # ---- controls ------------------------------------------------------------------------------
    def control(self, action: str, message_id: int | None = None) -> dict[str, Any]:
        """pause | resume | skip | clear | approve | reject | replay | hold_on | hold_off.

        approve/reject/replay need message_id. Returns {"ok": True, "action", "id"?, ...} or raises ChatInputError."""
        act = str(action or "").strip().lower()
        if act not in ACTIONS:
            raise ChatInputError(f"Unknown action {action!r}: use one of {', '.join(ACTIONS)}.")
        needs_id = act in ("approve", "reject", "replay")
        if needs_id:
            if message_id is None or str(message_id).strip() == "":
                raise ChatInputError(f"{act} needs the id of a message (see the queue or history table).")
            try:
                mid = int(message_id)
            except (TypeError, ValueError):
                raise ChatInputError(f"A message id is a whole number, not {message_id!r}.") from None
        with self._lock:
            now = self.clock()
            out: dict[str, Any] = {"ok": True, "action": act}
            if act == "pause":
                if self.playout.pause(now):
                    self.paused = True
                    self._set_pref("paused", True)
                    self._emit({"type": "state", "paused": True})
            elif act == "resume":
                if self.playout.paused:
                    shift = self.playout.resume(now)
                    self.paused = False
                    self._set_pref("paused", False)
                    self._emit({"type": "state", "paused": False, "paused_s": round(shift, 3)})
            elif act == "skip":
                seg = self.playout.skip(now)
                out["id"] = seg.message_id if seg else None
                if seg is not None:
                    self._emit({"type": "skip", "id": seg.message_id})
            elif act == "clear":
                dropped = self.policy.clear()
                for m in self._pipeline:  # prefetched ones too: the streamer wants silence after what plays now
                    dropped.append(drop(m, DropReason.REJECTED, "the queue was cleared", now))
                    self._discard_audio(m.id)
                self._pipeline.clear()
                for m in dropped:
                    self._final(m)
                out["cleared"] = len(dropped)
            elif act in ("hold_on", "hold_off"):
                for m in self.policy.set_hold(act == "hold_on"):
                    self.db.save(m)
                    self.figures.final(m)
                self._set_pref("hold", act == "hold_on")
            elif act in ("approve", "reject"):
                try:
                    changed = (self.policy.approve if act == "approve" else self.policy.reject)(mid)
                except KeyError:
                    raise ChatInputError(f"Message {mid} is not waiting for approval.") from None
                for m in changed:
                    self.db.save(m)
                    self.figures.final(m)
                out["id"] = mid
            elif act == "replay":
                out.update(self._replay(mid))
            self.figures.depth.set(self._depth())
            self._wake.notify_all()
            return out

    def _replay(self, mid: int) -> dict[str, Any]:
        """Speak an earlier message again: a new row (platform "replay"), past filters and cooldowns, queued
        in its priority class."""
        old = self.db.get(mid)
        if old is None:
            raise ChatInputError(f"There is no message {mid}.")
        if not old.clean_text:
            raise ChatInputError(f"Message {mid} was never readable ({old.detail or old.reason}); nothing to replay.")
        again = ChatMessage(author=old.author, text=old.text, kind=old.kind, amount=old.amount, platform="replay",
                            arrived_at=self.clock(), clean_text=old.clean_text, detail=f"replay of message {mid}")
        again.spoken_text = self._spoken_text(again, None)
        self.db.add(again)
        self.policy.restore(again)  # no cooldown/dedupe: the streamer asked for it
        return {"id": again.id, "replay_of": mid}

    def set_default_voice(self, voice: str) -> None:
        """Voice for viewers without their own (must exist in the voice library; ChatInputError else)."""
        self._set_pref("default_voice", self._known_voice(voice))

    def _known_voice(self, voice: Any) -> str:
        name = str(voice or "").strip()
        names = list(self.voice_names())
        if name not in names:
            raise ChatInputError(f"There is no voice named {name!r}: pick one of {', '.join(names) or '(none yet)'}.")
        return name

    def default_voice(self) -> str:
        """The chosen default voice, else the configured one, else the library's first (\"\" when none)."""
        names = list(self.voice_names())
        for v in (self._pref("default_voice", None), self.settings.default_voice):
            if v and v in names:
                return str(v)
        return names[0] if names else ""

    def set_volume(self, v: float) -> None:
        """Player volume 0..1 (players read it from status(); the sounddevice output applies it)."""
        try:
            vol = float(v)
        except (TypeError, ValueError):
            raise ChatInputError(f"Volume is a number from 0 to 1, not {v!r}.") from None
        if not (math.isfinite(vol) and 0.0 <= vol <= 1.0):
            raise ChatInputError("Volume is a number from 0 (silent) to 1 (full).")
        self._set_pref("volume", vol)

    def volume(self) -> float:
        return float(self._pref("volume", 1.0))

    def set_nfe(self, nfe: int | None) -> None:
        """NFE for chat lines (1..64); None or 0 = the studio's adopted default."""
        if nfe is None or nfe == "" or nfe == 0:
            self._set_pref("nfe", 0)
            return
        try:
            value = int(nfe)
        except (TypeError, ValueError):
            raise ChatInputError(f"NFE is a whole number from 1 to 64, not {nfe!r}.") from None
        if value != float(nfe) or not 1 <= value <= 64:
            raise ChatInputError("NFE is a whole number from 1 to 64 (or empty for the studio's default).")
        self._set_pref("nfe", value)

    def viewer_voices(self) -> dict[str, str]:
        """author -> voice name, as stored."""
        return self.db.viewer_voices()

    def set_viewer_voice(self, author: str, voice: str | None) -> None:
        """Give a viewer a sticky voice (None or "" removes it: the viewer gets the default)."""
        who = " ".join(str(author or "").split())
        if not who:
            raise ChatInputError("Give the viewer's name.")
        self.db.set_viewer_voice(who, self._known_voice(voice) if voice else None)

    # ---- read ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """{"paused", "hold", "volume", "default_voice", "nfe", "current": msg | None,
        "queue": [msg + "waiting_s"], "figures": {"per_minute", "depth", "first_audio_p50_s", "first_audio_p95_s",
        "drops": {reason: n}, "backlog_warning": str | None}, "sources": [{"name", "state", "detail"}]}."""
        with self._lock:
            now = self.clock()
            playing = self.playout.playing(now)
            current = self._current.get(playing.token) if playing else None
            queue = [dict(m.to_dict(), waiting_s=round(now - m.arrived_at, 1))
                     for m in [*self._pipeline, *self.policy.waiting(), *self.policy.held()]]
            nfe = int(self._pref("nfe", self.settings.nfe) or 0)
            return {
                "paused": self.paused, "hold": self.policy.hold, "volume": self.volume(),
                "default_voice": self.default_voice(), "nfe": nfe or None, "effective_nfe": self._nfe(),
                "current": current.to_dict() if current else None, "queue": queue,
                "figures": self.figures.snapshot(now, self._depth(), len(self.policy.held()),
                                                 self.playout.remaining(now), self.settings.max_wait_s),
                "sources": [s.state() for s in self.sources] + [o.state() for o in self.outputs],
            }

    def _depth(self) -> int:
        return self.policy.depth + len(self._pipeline)

    def expected_wait_s(self) -> float:
        """Seconds the newest message would wait (announced audio left + queue x mean message length)."""
        with self._lock:
            now = self.clock()
            return self.figures.expected_wait_s(self.playout.remaining(now), self._depth())

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` messages (newest first) with their states, reasons and timings."""
        try:
            n = int(limit)
        except (TypeError, ValueError):
            raise ChatInputError(f"limit is a whole number from 1 to 1000, not {limit!r}.") from None
        if not 1 <= n <= 1000:
            raise ChatInputError("limit is a whole number from 1 to 1000.")
        out = []
        for m in self.db.recent(n):
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
        with self._lock:
            while True:
                new = [e for e in self._events if e["seq"] > after]
                if new or self._stop.is_set():
                    return [dict(e) for e in new]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._wake.wait(left)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def audio_path(self, token: str) -> Path:
        """The WAV of a segment for its random token; KeyError for unknown or expired tokens."""
        with self._lock:
            entry = self._tokens.get(str(token))
            if entry is None or (entry[1] <= self.clock() and token not in self._current):
                raise KeyError("unknown or expired audio token")
            return entry[0]

    def is_final(self, message_id: int) -> bool:
        m = self.db.get(message_id)
        return m is not None and m.state in FINAL_STATES
