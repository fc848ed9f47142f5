"""Checks shared by every place that takes text from a user: display names (voices, reviewers), transcripts,
numbers that arrive as raw JSON, and the clean-up of messages that go back to a user.

Nothing here knows about Gradio or the database; callers wrap `InvalidInput` into their own error type.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Any

__all__ = [
    "MAX_CHARS_PER_SECOND",
    "MAX_TRANSCRIPT_CHARS",
    "InvalidInput",
    "brief",
    "check_transcript",
    "check_transcript_covers",
    "clean_display_name",
    "lookalike_keys",
    "redact_paths",
    "to_number",
]

# A transcript is what was said in a clip of at most a few tens of seconds. Nobody speaks more than about 20
# characters a second (English, spaces included; Chinese far fewer), so 30 leaves room; a longer transcript
# stretches the reference past the model's position table (8192 frames) and the voice can never synthesise.
MAX_TRANSCRIPT_CHARS = 1000
MAX_CHARS_PER_SECOND = 30
# The engine times new speech by the reference's bytes of text per second of clip, so a transcript far shorter
# than what was said makes every line far too slow, and a long text then overflows the model. Slow speech is
# ~10 bytes a second (English) and ~6 (Chinese, 3 bytes a character); 2 leaves room for pauses.
MIN_BYTES_PER_SECOND = 2.0
EXCERPT_CHARS = 40

# control, format (zero-width, bidi overrides), private-use, unassigned, surrogate, line/paragraph separators:
# they make two names look alike, or garble tables, exports and logs
_INVISIBLE = frozenset(("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"))


class InvalidInput(ValueError):
    """Input refused with a message that says what to change (callers re-raise it as their own error type)."""


def brief(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable excerpt of `value` for an error message: never the whole of a 1 MB input."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value))} characters)"


def _invisible(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in _INVISIBLE]


def clean_display_name(value: Any, *, what: str, max_chars: int) -> str:
    """A name as it is stored and shown: NFC, printable, spaces collapsed, 1..max_chars characters.

    `what` names the field in messages ("The voice name", "The reviewer name")."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, not {type(value).__name__}.")
    name = unicodedata.normalize("NFC", value or "").strip()
    if not name:
        raise InvalidInput(f"{what} is empty: type one with at least one letter or digit.")
    if len(name) > max_chars:
        raise InvalidInput(f"{what} is too long ({len(name)} characters; {max_chars} at most).")
    bad = _invisible(name)
    if bad:
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in bad[:3])
        raise InvalidInput(f"{what} contains invisible or control characters ({codes}); type it with letters, "
                           "digits and ordinary punctuation.")
    if not any(ch.isalnum() for ch in name):
        raise InvalidInput(f"{what} needs at least one letter or digit.")
    return " ".join(name.split())


@functools.cache
def _prototypes() -> dict[str, str]:
    """Every character of the Unicode confusables table (TR39, via confusable_homoglyphs) mapped to one
    representative of the characters it can be mistaken for (connected groups, so the mapping is symmetric)."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(ch: str) -> str:
        while parent.setdefault(ch, ch) != ch:
            parent[ch] = parent.setdefault(parent[ch], parent[ch])
            ch = parent[ch]
        return ch

    def strip(s: str) -> str:  # the table wraps right-to-left letters in direction marks
        return s.replace("\u200e", "").replace("\u200f", "")

    for key, glyphs in confusables_data.items():
        a = strip(key)
        if len(a) != 1:
            continue
        for g in glyphs:
            b = strip(g["c"])
            if len(b) == 1:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return {ch: find(ch) for ch in list(parent)}


def lookalike_skeleton(text: str) -> str:
    """`text` lower-cased with every character replaced by the representative of the characters it can be
    mistaken for, one character for one, so a match in the skeleton is the same span of the text ("fυсk" with a
    Greek upsilon and a Cyrillic es has the skeleton of "fuck")."""
    table = _prototypes()
    out = []
    for ch in text:
        low = ch.lower()
        low = low if len(low) == 1 else ch  # "İ" lowers to two characters: keep it as it is
        out.append(table.get(low, low))
    return "".join(out)


def lookalike_keys(name: str) -> frozenset[str]:
    """What a name looks like: two names whose key sets meet can be mistaken for each other on screen
    ("Alice" / "alice" / "Аlice" with a Cyrillic А / "A1ice" / "AIice" with a capital I)."""
    table = _prototypes()

    def shape(s: str) -> str:
        return "".join(table.get(ch, ch) for ch in s)

    text = " ".join(unicodedata.normalize("NFKC", name).split())
    # both orders: case first catches "ALICE", shapes first catches a capital I for an l ("I" and "l" look
    # alike, "i" and "l" do not)
    return frozenset((shape(text.casefold()), shape(shape(text).casefold())))


def check_transcript(text: Any, duration_s: float | None = None) -> str:
    """A transcript as it is stored (spaces collapsed), refused when it cannot belong to a speech clip:
    longer than MAX_TRANSCRIPT_CHARS, or (with the clip's length) more than MAX_CHARS_PER_SECOND."""
    if text is not None and not isinstance(text, str):
        raise InvalidInput(f"The transcript must be text, not {type(text).__name__}.")
    clean = " ".join((text or "").split())
    if len(clean) > MAX_TRANSCRIPT_CHARS:
        raise InvalidInput(
            f"The transcript is {len(clean)} characters long; the limit is {MAX_TRANSCRIPT_CHARS}. A transcript is "
            "exactly the words spoken in the reference clip (5-12 s of speech is a few sentences).")
    if duration_s is not None and duration_s > 0 and len(clean) > MAX_CHARS_PER_SECOND * duration_s:
        most = int(MAX_CHARS_PER_SECOND * duration_s)
        raise InvalidInput(
            f"The transcript has {len(clean)} characters for a {duration_s:.1f} s clip; nobody speaks more than "
            f"{MAX_CHARS_PER_SECOND} characters a second, so the voice could never be used. Type exactly the words "
            f"spoken in the clip (at most {most} characters for this clip).")
    return clean


def check_transcript_covers(text: str, duration_s: float) -> None:
    """Refuse a transcript with far fewer words than a clip of `duration_s` holds (MIN_BYTES_PER_SECOND)."""
    size = len(text.encode("utf-8"))
    if duration_s > 0 and size < MIN_BYTES_PER_SECOND * duration_s:
        raise InvalidInput(
            f"The transcript has {len(text)} characters for a {duration_s:.1f} s clip: far fewer words than a clip "
            "that long holds. New speech is timed by this ratio, so every line would come out far too slow (and a "
            "long text would not fit). Type every word spoken in the clip, or use a clip of just the words you "
            "typed.")


def to_number(value: Any, what: str, *, whole: bool = False) -> float:
    """`value` as a finite number (an int when `whole`): accepts numbers and numeric text, refuses booleans,
    lists, NaN and infinity with a message naming the field."""
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{what} must be {kind}, not {type(value).__name__} {brief(value)}.")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{what} must be {kind}, not {brief(value)}.") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{what} must be a finite number, not {brief(value)}.")
    if whole:
        if not number.is_integer():
            raise InvalidInput(f"{what} must be a whole number, not {brief(value)}.")
        return int(number)
    return number


# an absolute POSIX or Windows path: '/a/b/c.wav', 'C:\\x\\y'; a message keeps the last part only
_ABS_PATH = re.compile(r"(?:[A-Za-z]:\\|/)(?:[^\s'\"/\\:]+[/\\])+([^\s'\"/\\:]*)")


# a quoted absolute path, which may hold spaces: "'/srv/my models/x.pt'"
_QUOTED_PATH = re.compile(r"""(['"])((?:[A-Za-z]:\\|/)[^'"\n]*)\1""")


def redact_paths(text: str) -> str:
    """`text` with every absolute file path shortened to its last part ('…/reference.wav'): a message for a
    user must not map the server's disk. A quoted path is taken whole (spaces and all); file: URLs count as
    paths; other URLs ('http://host/x') are left alone."""
    def quoted(m: re.Match[str]) -> str:
        last = re.split(r"[/\\]", m.group(2).rstrip("/\\"))[-1]
        return f"{m.group(1)}…/{last}{m.group(1)}"

    text = _QUOTED_PATH.sub(quoted, text)

    def short(m: re.Match[str]) -> str:
        token = re.split(r"[\s'\"(]", text[: m.start()])[-1]
        url = "://" in token or token.endswith(":/")  # (a match may start at a URL's second slash)
        if url and not token.lower().startswith("file:"):
            return m.group(0)  # the path part of a URL
        return f"…/{m.group(1)}" if m.group(1) else "…/"

    return _ABS_PATH.sub(short, text)
