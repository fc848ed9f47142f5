"""Messages in: `post`, `post_lines` and the sink handed to sources; input checks, the text filters and the
queue policy's first decision, each outcome written to the database before anyone can see it."""

from __future__ import annotations

import logging
import math
import unicodedata
from typing import Any

from ishowtts_studio.services.chat import filters
from ishowtts_studio.services.chat.core import (
    MAX_AMOUNT,
    MAX_AUTHOR_CHARS,
    MAX_TEXT_CHARS,
    ChatCore,
    ChatInputError,
)
from ishowtts_studio.services.chat.model import ChatMessage, DropReason, MessageKind, MessageState
from ishowtts_studio.services.chat.policy import drop
from ishowtts_studio.validation import brief

log = logging.getLogger(__name__)

# control characters (NUL, escape sequences) become spaces and bidi overrides/isolates go: nothing in them is
# spoken, and they garble the queue, the overlay and the log (PostgreSQL's text columns refuse a NUL). Invisible
# characters go too (soft hyphen, zero-width space, word joiner, BOM, the grapheme joiner and tag characters that
# chat clients append to get past Twitch's duplicate check): "bad\u200bword" slipped past the banned words and
# "gg\U000e0000" past the dedupe. The zero-width (non-)joiner and variation selectors stay: emoji need them.
_HIDDEN: dict[int, str | None] = {c: " " for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
_HIDDEN |= {c: None for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x00AD, 0x034F, 0x180E, 0x200B,
                              *range(0x2060, 0x2065), 0xFEFF, *range(0xE0000, 0xE0080)]}


def _visible(text: str) -> str:
    """`text` as compatibility-normalised (NFKC: fullwidth "ｂａｄ" reads and filters as "bad"), with control
    characters as spaces and without bidi controls or invisible characters."""
    return unicodedata.normalize("NFKC", text.translate(_HIDDEN)).translate(_HIDDEN)


class ChatIntake:
    """The ways a message comes in (part of ChatService)."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core

    def post(self, author: str, text: str, kind: str = "chat", amount: float = 0.0,
             platform: str = "api") -> dict[str, Any]:
        """Offer one message. Returns {"id", "state", "reason", "spoken_text"}.

        state is "queued" (or "held" in hold mode) when accepted, "dropped" with a reason (filtered, cooldown,
        duplicate, full) when not; either way the message has a row. Raises ChatInputError for an empty
        author/text, an unknown kind or a negative/non-numeric amount."""
        return self._post(author, text, kind, amount, platform, {})

    def from_source(self, author: str, text: str, kind: str = "chat", amount: float = 0.0,
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
        with self.core.lock:
            msg.arrived_at = self.core.clock()
            self.core.figures.arrived(msg)
            cleaned = filters.clean(msg.author, msg.text, self.core.rules)
            if cleaned.text is None:
                return self._refuse(msg, cleaned.why)
            if not self.core.templates[str(msg.kind)].strip():
                return self._refuse(msg, f"{msg.kind} messages are switched off (chat.template_{msg.kind} is empty)")
            msg.clean_text = cleaned.text
            msg.spoken_text = self.core.spoken_text(msg, self.core.last_accepted_author)
            msg.state = MessageState.QUEUED
            self.core.db.add(msg)  # a row before the policy decides, so every outcome below updates a stored message
            changed = self.core.policy.offer(msg)
            self.core.db.save(*changed)
            for m in changed:
                self.core.figures.final(m)
            if msg.state is not MessageState.DROPPED:
                self.core.last_accepted_author = msg.author.casefold()
            self.core.figures.depth.set(self.core.depth())
            self.core.wake.notify_all()
            return self._answer(msg)

    def _checked(self, author: Any, text: Any, kind: Any, amount: Any, platform: Any) -> ChatMessage:
        author = " ".join(_visible(str(author or "")).split())
        if not author:
            raise ChatInputError("Give the message an author (the viewer's name).")
        if len(author) > MAX_AUTHOR_CHARS:
            raise ChatInputError(f"The author's name is too long: at most {MAX_AUTHOR_CHARS} characters.")
        text = _visible(str(text or ""))
        if not text.strip():
            raise ChatInputError("The message is empty: type what the viewer said.")
        if len(text) > MAX_TEXT_CHARS:
            raise ChatInputError(f"The message is too long: at most {MAX_TEXT_CHARS} characters.")
        try:
            k = MessageKind(str(kind or "chat").strip().lower())
        except ValueError:
            raise ChatInputError(
                f"Unknown message kind {brief(kind)}: use one of {', '.join(str(m) for m in MessageKind)}."
            ) from None
        try:
            value = float(amount if amount not in (None, "") else 0.0)
        except (TypeError, ValueError):
            raise ChatInputError(f"The amount must be a number (0 for none), not {brief(amount)}.") from None
        if not math.isfinite(value) or value < 0 or value > MAX_AMOUNT:
            raise ChatInputError("The amount must be a number from 0 to 1e9 (0 for none).")
        plat = str(platform or "api").strip()[:32] or "api"
        return ChatMessage(author=author, text=text, kind=k, amount=value, platform=plat)

    def _refuse(self, msg: ChatMessage, why: str) -> dict[str, Any]:
        drop(msg, DropReason.FILTERED, why, msg.arrived_at)
        self.core.db.add(msg)
        self.core.figures.final(msg)
        return self._answer(msg)

    @staticmethod
    def _answer(msg: ChatMessage) -> dict[str, Any]:
        return {"id": msg.id, "state": str(msg.state), "reason": str(msg.reason) if msg.reason else None,
                "detail": msg.detail, "spoken_text": msg.spoken_text}

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
