"""What a voice is: the records of a usable and a broken voice folder, the library's errors and file names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ishowtts_studio.validation import brief

LANGUAGES = ("en", "zh", "other")
AUDIO_FILE = "reference.wav"
META_FILE = "voice.json"
MAX_SLUG_CHARS = 64
MAX_NAME_CHARS = 120
ADD_HINT = "Add one in the Voices tab: upload or record a clip (5-12 s) and type exactly what it says."


class VoiceError(ValueError):
    """A voice request the user can fix (bad name, missing transcript, unreadable audio...)."""


class VoiceNotFound(VoiceError):
    def __init__(self, query: str, available: list[str]) -> None:
        self.query = query
        self.available = available
        if available:  # a few names, not the whole of a large library (the message must stay short)
            more = f" and {len(available) - 10} more" if len(available) > 10 else ""
            shown = ", ".join(n if len(n) <= 40 else n[:39] + "…" for n in available[:10])
            listing = f"Available voices: {shown}{more}."
        else:
            listing = "The voice library is empty."
        super().__init__(f"No voice named {brief(query)}. {listing} {ADD_HINT}")


class VoiceBroken(VoiceError):
    """The voice's folder exists but cannot be used (reference.wav missing or changed, voice.json unreadable)."""

    def __init__(self, broken: BrokenVoice) -> None:
        self.broken = broken
        fix = "repair it (upload a new clip) or delete it" if broken.repairable else "delete it and add it again"
        super().__init__(f"The voice {broken.name!r} is broken: {broken.problem}. In the Voices tab, {fix}.")


@dataclass(frozen=True)
class Voice:
    slug: str
    name: str
    transcript: str
    language: str
    audio_path: Path
    content_hash: str
    duration_s: float
    sample_rate: int
    created: str
    updated: str
    original_name: str | None = None
    loudness_lufs: float | None = None
    preview_text: str | None = None  # the line "Preview synthesis" speaks; None = the language's default

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "transcript": self.transcript,
            "language": self.language,
            "audio_path": str(self.audio_path),
            "content_hash": self.content_hash,
            "duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "created": self.created,
            "updated": self.updated,
            "original_name": self.original_name,
            "loudness_lufs": self.loudness_lufs,
            "preview_text": self.preview_text,
        }


@dataclass(frozen=True)
class BrokenVoice:
    """A voice folder that cannot be used: shown as broken, with repair (new clip) or delete."""

    slug: str
    name: str  # from voice.json, else the folder name
    problem: str
    repairable: bool  # voice.json is readable: a new clip is all it needs

    def to_dict(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "problem": self.problem, "repairable": self.repairable}
