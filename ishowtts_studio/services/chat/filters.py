"""Pure text policy for chat lines: what is read, and how it is said. No I/O, no clock.

`clean(author, text, rules)` either returns the text as it will be read (links spoken as a word, banned words
replaced, emoji stripped, repeats collapsed, cut to length) or says why the message is not read at all.
`render(...)` applies the read-out template of the message's kind.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import regex

from ishowtts_studio.services.chat.model import MessageKind
from ishowtts_studio.validation import lookalike_skeleton

# A link: a scheme or "www." followed by non-space, or a bare domain with a common top-level domain and an optional
# path ("twitch.tv/x", "bit.ly/abc"). Bare-domain matching stays narrow so "e.g." or "3.14" are not links.
_LINK = regex.compile(
    r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|tv|gg|ly|me|co|be|cn|ru|de|uk|xyz|app|dev|link)\b(?:/\S*)?"
)
# Emoji: pictographs and their joiners, variation selectors, skin tones, keycaps and regional-indicator flags.
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0f\u20e3]+")
_SPACES = regex.compile(r"\s+")


@dataclass(frozen=True)
class TextRules:
    """The filter settings, as plain values (built from ChatSettings by `from_settings`)."""

    banned: tuple[str, ...] = ()
    banned_action: str = "drop"  # drop | replace
    banned_replacement: str = "beep"
    links: str = "say"  # say | drop
    link_word: str = "link"
    emoji: str = "strip"  # strip | drop | keep
    drop_symbol_only: bool = True
    drop_commands: bool = True
    bots: tuple[str, ...] = ()
    min_chars: int = 1
    max_chars: int = 200
    collapse_repeats: int = 3

    @classmethod
    def from_settings(cls, s: object) -> TextRules:
        def g(name: str) -> Any:
            return getattr(s, name)

        return cls(
            banned=tuple(g("banned_list")), banned_action=g("banned_action"),
            banned_replacement=g("banned_replacement"), links=g("links"), link_word=g("link_word"),
            emoji=g("emoji"), drop_symbol_only=g("drop_symbol_only"), drop_commands=g("drop_commands"),
            bots=tuple(g("bot_list")), min_chars=g("min_chars"), max_chars=g("max_chars"),
            collapse_repeats=g("collapse_repeats"),
        )


@dataclass(frozen=True)
class Cleaned:
    """`text` is what will be read, or None with `why` (a short sentence for the history table)."""

    text: str | None
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.text is not None


def collapse_repeats(text: str, keep: int = 3) -> str:
    """Cut runs of one repeated unit of 1-4 characters to `keep` repeats ("666666" -> "666",
    "哈哈哈哈哈哈" -> "哈哈哈", "hahahahaha" -> "hahaha"); 0 leaves the text as it is."""
    if keep <= 0:
        return text
    # (unit) followed by at least `keep` more copies of it; the shortest unit wins ("aaaa" is a run of "a").
    pattern = regex.compile(r"(.{1,4}?)\1{" + str(keep) + r",}", regex.DOTALL)
    return pattern.sub(lambda m: m.group(1) * keep, text)


def _is_symbol_only(text: str) -> bool:
    # Letters (any script) and digits are what a voice can say; everything else is punctuation or symbols.
    return not any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _cut_at_word(text: str, limit: int) -> str:
    """At most `limit` characters, cut at the last space when there is one in the last third (Chinese has none)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    if space >= limit * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:-") + "…"


def _replace_banned(text: str, banned: tuple[str, ...], word: str) -> tuple[str, bool]:
    """Each banned word in `text` replaced by `word`, matched on look-alike skeletons (lookalike_skeleton): a
    Cyrillic "а" or a Greek "υ" typed into a banned word does not get it read out."""
    skeleton = lookalike_skeleton(text)
    spans: list[tuple[int, int]] = []
    for b in banned:
        pattern = regex.escape(lookalike_skeleton(b))
        # whole words for Latin text; CJK has no word boundaries, so there any occurrence counts
        pat = regex.compile(r"(?<!\w)" + pattern + r"(?!\w)" if b.isascii() else pattern)
        spans += [m.span() for m in pat.finditer(skeleton)]
    if not spans:
        return text, False
    out, at = [], 0
    for start, end in sorted(spans):
        if start >= at:  # overlapping matches (one banned word inside another) replace the first once
            out += [text[at:start], word]
            at = end
        elif end > at:
            at = end
    return "".join(out) + text[at:], True


def clean(author: str, text: str, rules: TextRules) -> Cleaned:
    """The text as it will be read, or why it is not read (bot, command, banned word, link, emoji, symbols,
    length). Order matters: the author and raw text are judged first, then the text is rewritten and measured."""
    if author.strip().lower() in rules.bots:
        return Cleaned(None, f"{author} is a listed bot account")
    raw = _SPACES.sub(" ", text).strip()
    if rules.drop_commands and raw.startswith("!"):
        return Cleaned(None, "a bot command (starts with !)")
    if rules.banned:
        replaced, found = _replace_banned(raw, rules.banned, rules.banned_replacement)
        if found and rules.banned_action == "drop":
            return Cleaned(None, "contains a banned word")
        raw = replaced
    if _LINK.search(raw):
        if rules.links == "drop":
            return Cleaned(None, "contains a link")
        raw = _LINK.sub(rules.link_word, raw)
    if _EMOJI.search(raw):
        if rules.emoji == "drop":
            return Cleaned(None, "contains emoji")
        if rules.emoji == "strip":
            raw = _EMOJI.sub(" ", raw)
    raw = _SPACES.sub(" ", collapse_repeats(raw, rules.collapse_repeats)).strip()
    if not raw:
        return Cleaned(None, "nothing left to read")
    if rules.drop_symbol_only and _is_symbol_only(raw):
        return Cleaned(None, "only symbols or punctuation")
    if len(raw) < rules.min_chars:
        return Cleaned(None, f"shorter than {rules.min_chars} characters")
    return Cleaned(_cut_at_word(raw, rules.max_chars))


def format_amount(amount: float) -> str:
    """12.0 -> "12", 4.99 -> "4.99": amounts are read aloud, so no trailing zeros."""
    return f"{amount:.2f}".rstrip("0").rstrip(".") if amount % 1 else str(int(amount))


def render(template: str, author: str, text: str, amount: float = 0.0) -> str | None:
    """The template filled in, or None when the template is empty (that kind of message is switched off)."""
    if not template.strip():
        return None
    out = template.format(author=author, text=text, amount=format_amount(amount))
    return _SPACES.sub(" ", out).strip().rstrip(":").strip()


def choose_template(templates: dict[str, str], kind: MessageKind, same_author_as_previous: bool) -> str:
    """The template for a message: plain chat and mentions drop the name when the previous spoken message was
    by the same author (templates["continued"]); paid messages always name who paid. An empty template for the
    kind itself stays empty (the kind is off), whatever the continued template says."""
    own = templates.get(str(kind), "")
    if not own.strip():
        return ""
    if same_author_as_previous and kind in (MessageKind.CHAT, MessageKind.MENTION):
        return templates.get("continued", "{text}")
    return own
