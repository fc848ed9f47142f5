"""The voice library: one folder per cloned voice, ``<root>/<slug>/reference.wav`` + ``voice.json``.

Modules: `model` (Voice, BrokenVoice, errors, file names), `names` (names, slugs, transcripts), `folder` (one
voice on disk: voice.json read/write, atomic writes, reading a clip), `pack` (export/import .zip) and `library`
(VoiceLibrary: lookup and locked writes). Import public names from this package.
"""

from ishowtts_studio.voices.library import DEFAULT_VOICES, VoiceLibrary
from ishowtts_studio.voices.model import (
    AUDIO_FILE,
    LANGUAGES,
    MAX_NAME_CHARS,
    MAX_SLUG_CHARS,
    META_FILE,
    BrokenVoice,
    Voice,
    VoiceBroken,
    VoiceError,
    VoiceNotFound,
)
from ishowtts_studio.voices.names import slugify
from ishowtts_studio.voices.pack import PACK_FORMAT, PACK_MAX_BYTES, VoicePack, read_pack

__all__ = [
    "AUDIO_FILE",
    "DEFAULT_VOICES",
    "LANGUAGES",
    "MAX_NAME_CHARS",
    "MAX_SLUG_CHARS",
    "META_FILE",
    "PACK_FORMAT",
    "PACK_MAX_BYTES",
    "BrokenVoice",
    "Voice",
    "VoiceBroken",
    "VoiceError",
    "VoiceLibrary",
    "VoiceNotFound",
    "VoicePack",
    "read_pack",
    "slugify",
]
