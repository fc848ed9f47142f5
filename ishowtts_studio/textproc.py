"""Text clean-up and chunking for synthesis.

F5-TTS limits each generated segment by the UTF-8 byte length of its text, so the chunker counts
bytes: a Chinese character is 3 bytes, an ASCII letter 1.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import deque
from typing import Any

__all__ = ["TextError", "is_cjk", "normalize_text", "split_sentences", "utf8_len"]


class TextError(ValueError):
    """Text that cannot be spoken; the message says what to change."""


# Code point ranges of scripts in the CJK family (ideographs, kana, hangul, CJK punctuation and
# full-width forms).
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31A0, 0x31FF),  # Bopomofo extended, CJK strokes, Katakana extension
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms
    (0x20000, 0x3134F),  # CJK extensions B-G, compatibility supplement
)

# Characters dropped silently (no space left behind): invisible formatting and emoji plumbing.
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Emoji variation selectors, skin-tone modifiers and the keycap mark are not speech.
_EMOJI_MARKS = {0xFE0E, 0xFE0F, 0x20E3}
# Symbols (emoji, dingbats, arrows...) become a word break: "hi😀there" -> "hi there".
_SYMBOL_CATEGORIES = {"So", "Sk"}

# English-style ends need a following space (or the end) so "3.14" and "e.g.x" stay intact;
# closing quotes/brackets after the mark stay with their sentence.
_SENTENCE_END = re.compile(
    r"[.!?;:]+[\"'\u2019\u201d)\]]*(?=\s|$)"
    r"|[\u3002\uff01\uff1f\uff1b\uff1a\u2026]+[\"'\u2019\u201d\u300d\u300f\uff09\u300b]*"
)
_COMMAS = ",\uff0c\u3001"


def utf8_len(s: str) -> int:
    """Length of `s` in UTF-8 bytes, the unit F5-TTS uses for chunk limits."""
    return len(s.encode("utf-8"))


def is_cjk(ch: str) -> bool:
    """True for a character of the CJK scripts (Han, kana, hangul, CJK punctuation, full-width forms)."""
    if not ch:
        return False
    cp = ord(ch[0])
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _speakable(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


def _clean_chars(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
            continue
        cp = ord(ch)
        cat = unicodedata.category(ch)
        if cat in _DROP_CATEGORIES or cp in _EMOJI_MARKS or 0x1F3FB <= cp <= 0x1F3FF:
            continue
        if cat in _SYMBOL_CATEGORIES:
            out.append(" ")
            continue
        out.append(ch)
    return "".join(out)


def normalize_text(text: str | None, max_chars: int) -> str:
    """Return `text` ready for synthesis: NFC, symbols and control characters removed, spaces collapsed.

    Raises TextError for empty text, text with nothing speakable in it, or text longer than
    `max_chars` characters.
    """
    if text is None or not isinstance(text, str) or not text.strip():
        raise TextError("Type some text to speak.")
    cleaned = " ".join(_clean_chars(unicodedata.normalize("NFC", text)).split())
    if not any(_speakable(ch) for ch in cleaned):
        raise TextError(
            "There is nothing to speak in this text: it has only punctuation, symbols or emoji. Type some words."
        )
    if len(cleaned) > max_chars:
        raise TextError(
            f"The text is {len(cleaned)} characters long; the limit is {max_chars} "
            "(engine.max_text_chars in config.toml). Split it into shorter parts, or raise the limit."
        )
    return cleaned


# --------------------------------------------------------------------------------------------
# chunking


def _sentences(text: str) -> list[str]:
    """Sentences of `text`, each with the whitespace that preceded it, so concatenation restores the text."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if text[start : m.end()].strip():
            out.append(text[start : m.end()])
            start = m.end()
    if text[start:].strip():
        out.append(text[start:])
    return out


def _char_cut(s: str, limit: int, target: int) -> int:
    """Index of a character boundary at about `target` bytes and at most `limit` bytes (at least 1 char)."""
    best = 0
    used = 0
    for i, ch in enumerate(s):
        used += utf8_len(ch)
        if used > limit:
            break
        # Never separate a combining mark from its base letter.
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if nxt and unicodedata.category(nxt).startswith("M"):
            continue
        best = i + 1
        if used >= target:
            break
    if best == 0:  # a single base+marks cluster larger than the limit: cut anyway
        best = 1
    return best


def _cut(s: str, limit: int, balance: bool) -> tuple[str, str]:
    """Split an over-long sentence into a head of at most `limit` bytes and the rest.

    Prefers a cut after a comma, then at a space, then between characters (CJK, long words).
    With `balance`, aims at equal parts instead of a full head and a tiny tail.
    """
    total = utf8_len(s)
    target = limit
    if balance:
        parts = math.ceil(total / limit)
        target = min(limit, math.ceil(total / parts))
    floor = target // 2  # shorter heads make choppy prosody; only taken when nothing better exists

    # byte offset at the end of each character
    ends: list[int] = []
    used = 0
    for ch in s:
        used += utf8_len(ch)
        ends.append(used)

    def pick(indices: list[int]) -> int | None:
        fits = [i for i in indices if ends[i - 1] <= limit]
        good = [i for i in fits if ends[i - 1] >= floor]
        return min(good, key=lambda i: abs(ends[i - 1] - target)) if good else None

    commas = [i + 1 for i, ch in enumerate(s[:-1]) if ch in _COMMAS]
    spaces = [i for i, ch in enumerate(s) if ch == " " and i > 0]
    cut = pick(commas) or pick(spaces)
    if cut is None:
        # Fall back to any space that fits (a long first word), then to characters.
        fits = [i for i in spaces if ends[i - 1] <= limit]
        cut = fits[-1] if fits else _char_cut(s, limit, target)
    return s[:cut].strip(), s[cut:].strip()


def split_sentences(text: str, *, max_chars: int = 135, first_chunk_chars: int | None = None) -> list[str]:
    """Split text into chunks of at most `max_chars` UTF-8 bytes, packing whole sentences together.

    Sentences end at `.!?;:` followed by a space (or the end) and at Chinese/full-width `。！？；：…`.
    A sentence longer than the limit is cut at commas, then spaces, then characters. With
    `first_chunk_chars`, the first chunk is at most that many bytes so streaming can start early.
    """
    if max_chars < 4 or (first_chunk_chars is not None and first_chunk_chars < 4):
        raise ValueError("chunk limits must be at least 4 bytes (the longest UTF-8 character)")
    flat = " ".join(text.split())
    if not flat:
        return []

    queue = deque(_sentences(flat))
    chunks: list[str] = []
    cur = ""
    limit = first_chunk_chars if first_chunk_chars is not None else max_chars
    while queue:
        piece = queue.popleft()
        # Pieces carry their original leading space (none after "。"), so plain concatenation is faithful.
        candidate = (cur + piece).strip()
        if utf8_len(candidate) <= limit:
            cur = candidate
            continue
        if cur:
            chunks.append(cur)
            cur = ""
            queue.appendleft(piece)
        else:
            # The first chunk is kept as long as allowed; later ones are balanced to avoid tiny tails.
            head, rest = _cut(candidate, limit, balance=bool(chunks) or first_chunk_chars is None)
            chunks.append(head)
            if rest:
                queue.appendleft(rest)
        limit = max_chars
    if cur:
        chunks.append(cur)
    return chunks


def chunk_for_engine(text: str, engine: Any) -> list[str]:
    """Split text the way the studio streams it: `engine.chunk_chars` per chunk, a short first chunk of
    `engine.first_chunk_chars` (an `EngineSettings`), except that a text of at most `engine.single_chunk_chars`
    bytes stays whole (splitting it would run the reference twice for little earlier audio). Synthesis, NFE
    renders and the benchmark share it."""
    whole = min(engine.single_chunk_chars, engine.chunk_chars)
    if whole and utf8_len(" ".join(text.split())) <= whole:
        return split_sentences(text, max_chars=engine.chunk_chars)
    return split_sentences(text, max_chars=engine.chunk_chars, first_chunk_chars=engine.first_chunk_chars)
