"""Voice names, folder names (slugs), languages and transcripts: the checks a new or edited voice must pass."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ishowtts_studio.validation import InvalidInput, brief, check_transcript, clean_display_name
from ishowtts_studio.voices.model import LANGUAGES, MAX_NAME_CHARS, MAX_SLUG_CHARS, VoiceError


def name_key(name: str) -> str:
    """What makes two names "the same": NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _keep_char(ch: str) -> bool:
    # Letters, digits and combining marks (needed by e.g. Devanagari); no punctuation, so never '.', '/' or '\\'.
    return unicodedata.category(ch)[0] in "LNM"


def slugify(name: str) -> str:
    """A safe folder name for ``name``: lowercase unicode letters/digits joined by '-', at most 64 chars."""
    text = unicodedata.normalize("NFKC", name).lower()
    slug = re.sub(r"-+", "-", "".join(ch if _keep_char(ch) else "-" for ch in text))
    slug = slug[:MAX_SLUG_CHARS].strip("-")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in slug):
        raise VoiceError("Give the voice a name with at least one letter or digit")
    # Redundant given the character filter above, but this is the guard that keeps writes inside root.
    if "/" in slug or "\\" in slug or ".." in slug or slug.startswith("."):  # pragma: no cover
        raise VoiceError(f"Unsafe voice name {name!r}")
    return slug


def clean_name(name: str) -> str:
    try:  # the same rules as reviewer names: printable, no invisible or bidi-override characters
        return clean_display_name(name, what="The voice name", max_chars=MAX_NAME_CHARS)
    except InvalidInput as exc:
        raise VoiceError(str(exc)) from None


def voice_transcript(text: Any, duration_s: float | None = None) -> str:
    """The transcript cleaned and checked (against the clip's length once it is known); VoiceError if unfit."""
    try:
        clean = check_transcript(text, duration_s)
    except InvalidInput as exc:
        raise VoiceError(str(exc)) from None
    if not clean:
        raise VoiceError("Type the transcript: exactly the words spoken in the reference clip")
    return clean


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise VoiceError(f"Language must be one of {', '.join(LANGUAGES)} (got {brief(language)})")
    return language
