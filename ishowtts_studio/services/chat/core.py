"""The chat service's shared state and the small pieces every part of it uses: the constants, ChatInputError,
the synthesizer's shape, and `ChatCore` (the state built once, preferences, depth, final states, events).

`ChatCore` is the one owner of the state the parts share; its attributes are public. The parts (intake, loop,
controls, readout) are small classes that each hold the one `ChatCore` and are combined in
`service.ChatService`, so no part reaches into another's private members.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry

from ishowtts_studio.services.chat import filters
from ishowtts_studio.services.chat.figures import ChatFigures
from ishowtts_studio.services.chat.model import ChatMessage, MessageKind
from ishowtts_studio.services.chat.playout import Playout
from ishowtts_studio.services.chat.policy import ChatPolicy, QueueRules
from ishowtts_studio.services.chat.sounddevice_out import SoundDeviceOutput
from ishowtts_studio.services.chat.sources.base import ChatSource
from ishowtts_studio.services.chat.store import ChatStore
from ishowtts_studio.services.errors import InputError

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
    """What the synthesizer returns: audio pieces (float32 mono) as they are ready. A stream that also has a
    `cancel()` method is cancelled when its message is cleared (the engine never spends time on it)."""

    sample_rate: int

    def __iter__(self) -> Iterator[np.ndarray]: ...


# (text, voice name, nfe) -> a stream of audio; the Studio passes its own synthesis entry point, so chat lines
# go through the shared runtime's queue and batch with everything else.
Synthesizer = Callable[[str, str, int], SpeechStream]


class ChatCore:
    """The state shared by the chat service's parts, built once; see `service.ChatService` for the arguments.

    Every attribute is public so that each part reads and changes it in the open; the parts change the mutable
    ones (pipeline, audio, tokens, current, events, seq, ...) only while holding `lock`."""

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
        hold = bool(self.pref("hold", settings.hold))
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

        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)  # loop wake-ups and subscribe() long polls
        self.pipeline: deque[ChatMessage] = deque()  # popped messages in speaking order: synthesizing/ready
        self.audio: dict[int, tuple[str, float, int]] = {}  # message id -> (token, duration s, sample rate)
        self.streams: dict[int, SpeechStream] = {}  # message id -> its synthesis while in flight
        self.pruned_at = float("-inf")  # when old history was last deleted (loop.prune_history)
        self.tokens: dict[str, tuple[Path, float]] = {}  # token -> (wav, expires at)
        self.current: dict[str, ChatMessage] = {}  # token -> message on the timeline
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        # event numbers keep increasing across restarts (they start from the clock in ms), so a player that
        # reconnects after a restart with its old `after` still gets the new events
        self.seq = int(self.clock() * 1000)
        self.last_accepted_author: str | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.paused = bool(self.pref("paused", False))
        if self.paused:
            self.playout.pause(self.clock())

    # ---- preferences -------------------------------------------------------------------------------
    def pref(self, key: str, default: Any) -> Any:
        return self.prefs.get_pref(PREF + key, default)

    def set_pref(self, key: str, value: Any) -> None:
        self.prefs.set_pref(PREF + key, value)

    def depth(self) -> int:
        return self.policy.depth + len(self.pipeline)

    def nfe(self) -> int:
        nfe = int(self.pref("nfe", self.settings.nfe) or 0)
        return nfe if nfe > 0 else int(self.default_nfe())

    def default_voice(self, names: list[str] | None = None) -> str:
        """The chosen default voice, else the configured one, else the library's first (\"\" when none);
        `names`: the library's voice names when the caller has them already (each listing scans the library)."""
        names = list(self.voice_names()) if names is None else names
        for v in (self.pref("default_voice", None), self.settings.default_voice):
            if v and v in names:
                return str(v)
        return names[0] if names else ""

    def voice_warning(self, names: list[str]) -> str | None:
        """What to fix when voices the streamer chose are gone from the library `names` (deleted): the default
        voice then falls back to another, and such viewers get the default, which must not happen unnoticed."""
        notes = []
        chosen = self.pref("default_voice", None) or self.settings.default_voice
        if chosen and chosen not in names:
            now = self.default_voice(names)
            notes.append(f"The default voice {chosen!r} is not in the library; "
                         + (f"speaking in {now!r} until you pick one." if now else "add a voice to speak with."))
        lost = sorted({v for v in self.db.viewer_voices().values() if v not in names})
        if lost:
            shown = ", ".join(repr(v) for v in lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
            notes.append(f"Viewers' voices {shown} are not in the library; those viewers get the default "
                         "voice until you give them another.")
        return " ".join(notes) or None

    def volume(self) -> float:
        return float(self.pref("volume", 1.0))

    def spoken_text(self, msg: ChatMessage, previous_author: str | None) -> str:
        same = previous_author is not None and previous_author == msg.author.casefold()
        template = filters.choose_template(self.templates, msg.kind, same)
        return filters.render(template, msg.author, msg.clean_text, msg.amount) or msg.clean_text

    def final(self, msg: ChatMessage) -> None:
        self.db.save(msg)
        self.figures.final(msg)

    def emit(self, event: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append({"seq": self.seq, **event})
        self.wake.notify_all()

    def author_heard_before_next(self) -> str | None:
        """Whose line is heard just before the next one synthesised (casefolded): the pipeline's last message, else
        the last one on the timeline, else nobody. Read from the state, not remembered: a cleared or failed line
        is never heard, so the viewer's next line must say the name again ("name once per run of lines")."""
        if self.pipeline:
            return self.pipeline[-1].author.casefold()
        if self.current:
            return next(reversed(self.current.values())).author.casefold()
        return None

    def cancel_synthesis(self, message_id: int) -> None:
        """Stop a message's synthesis if it is still in flight (queued work is dropped before the engine runs it)."""
        cancel = getattr(self.streams.pop(message_id, None), "cancel", None)
        if cancel is not None:
            cancel()

    def discard_audio(self, message_id: int) -> None:
        entry = self.audio.pop(message_id, None)
        if entry is not None:
            path, _ = self.tokens.pop(entry[0], (None, 0.0))
            if path is not None:
                path.unlink(missing_ok=True)
