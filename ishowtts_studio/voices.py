"""The voice library: one folder per cloned voice, ``<root>/<slug>/reference.wav`` + ``voice.json``.

Folders are built under ``<root>/.tmp-*`` and moved into place with ``os.replace``, so a failed or
interrupted write never leaves a half-made voice. Writes are serialised by a thread lock plus an
``flock`` on ``<root>/.lock``, so several threads or processes can share one library.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.resources
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import soundfile as sf

try:  # POSIX only; elsewhere the thread lock alone serialises writes within one process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh", "other")
AUDIO_FILE = "reference.wav"
META_FILE = "voice.json"
MAX_SLUG_CHARS = 64
MAX_NAME_CHARS = 120
_TMP_PREFIX = ".tmp-"
_LOCK_FILE = ".lock"
_ADD_HINT = "Add one in the Voices tab: upload or record a clip (5-12 s) and type exactly what it says."

# Reference clips shipped inside the f5-tts package, used to seed an empty library.
DEFAULT_VOICES: tuple[tuple[str, str, str, str], ...] = (
    (
        "Nature (English)",
        "infer/examples/basic/basic_ref_en.wav",
        "Some call me nature, others call me mother nature.",
        "en",
    ),
    ("太乙真人 (Chinese)", "infer/examples/basic/basic_ref_zh.wav", "对，这就是我，万人敬仰的太乙真人。", "zh"),
)


class VoiceError(ValueError):
    """A voice request the user can fix (bad name, missing transcript, unreadable audio...)."""


class VoiceNotFound(VoiceError):
    def __init__(self, query: str, available: list[str]) -> None:
        self.query = query
        self.available = available
        if available:
            listing = "Available voices: " + ", ".join(available) + "."
        else:
            listing = "The voice library is empty."
        super().__init__(f"No voice named {query!r}. {listing} {_ADD_HINT}")


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
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _name_key(name: str) -> str:
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


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise VoiceError("Give the voice a name with at least one letter or digit")
    if len(name) > MAX_NAME_CHARS:
        raise VoiceError(f"Voice names are limited to {MAX_NAME_CHARS} characters (this one has {len(name)})")
    return name


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows opening a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class VoiceLibrary:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._writes = 0

    def __repr__(self) -> str:
        return f"VoiceLibrary({str(self.root)!r})"

    # --------------------------------------------------------------------------------------- reading

    @property
    def version(self) -> int:
        """Changes whenever the library changes, so callers can refresh caches.

        Local writes always bump it; writes by other processes show through folder/file mtimes.
        """
        newest = 0
        with contextlib.suppress(OSError):
            newest = self.root.stat().st_mtime_ns
            for entry in os.scandir(self.root):
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                newest = max(newest, entry.stat().st_mtime_ns)
                with contextlib.suppress(OSError):
                    newest = max(newest, os.stat(os.path.join(entry.path, META_FILE)).st_mtime_ns)
        return newest + self._writes

    def list(self) -> list[Voice]:
        """Every readable voice, sorted by name; broken folders are skipped with a warning."""
        voices = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as exc:
            log.warning("Cannot read voice library %s: %s", self.root, exc)
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            voice = self._load(Path(entry.path))
            if voice is not None:
                voices.append(voice)
        voices.sort(key=lambda v: (_name_key(v.name), v.slug))
        return voices

    def names(self) -> builtins.list[str]:
        return [v.name for v in self.list()]

    def get(self, name_or_slug: str) -> Voice:
        """Find a voice by name (case-insensitive) or slug; raises VoiceNotFound."""
        voices = self.list()
        key = _name_key(name_or_slug or "")
        for voice in voices:
            if _name_key(voice.name) == key:
                return voice
        for voice in voices:
            if voice.slug == key:
                return voice
        raise VoiceNotFound(str(name_or_slug), [v.name for v in voices])

    def _load(self, folder: Path) -> Voice | None:
        meta_path = folder / META_FILE
        audio_path = folder / AUDIO_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise TypeError("voice.json is not an object")
            if not audio_path.is_file():
                raise FileNotFoundError(f"{AUDIO_FILE} is missing")
            language = str(meta.get("language") or "other")
            return Voice(
                slug=folder.name,
                name=str(meta["name"]),
                transcript=str(meta["transcript"]),
                language=language if language in LANGUAGES else "other",
                audio_path=audio_path,
                content_hash=str(meta["content_hash"]),
                duration_s=float(meta["duration_s"]),
                sample_rate=int(meta["sample_rate"]),
                created=str(meta.get("created") or ""),
                updated=str(meta.get("updated") or meta.get("created") or ""),
                original_name=meta.get("original_name"),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Skipping voice folder %s: %s", folder, exc)
            return None

    # --------------------------------------------------------------------------------------- writing

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self._lock, open(self.root / _LOCK_FILE, "a+b") as lock_file:
            if fcntl is not None:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                self._remove_stale_tmp()
                yield
            finally:
                self._writes += 1
                if fcntl is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _remove_stale_tmp(self) -> None:
        # Called with the write lock held: any temp folder now is left over from a crashed writer.
        for entry in os.scandir(self.root):
            if entry.name.startswith(_TMP_PREFIX) and entry.is_dir(follow_symlinks=False):
                log.warning("Removing leftover temp folder %s", entry.path)
                shutil.rmtree(entry.path, ignore_errors=True)

    def _free_slug(self, base: str) -> str:
        # Different names can share a slug ("Bob!" / "Bob?"); number the later ones.
        slug, n = base, 1
        while (self.root / slug).exists():
            n += 1
            suffix = f"-{n}"
            slug = base[: MAX_SLUG_CHARS - len(suffix)].rstrip("-") + suffix
        return slug

    def add(
        self,
        name: str,
        wav_path: Path | str,
        transcript: str,
        language: str = "en",
        original_name: str | None = None,
    ) -> Voice:
        """Validate and store a new voice; raises VoiceError with a message meant for the user."""
        with self._write_lock():
            return self._add_locked(name, Path(wav_path), transcript, language, original_name)

    def _add_locked(
        self, name: str, wav_path: Path, transcript: str, language: str, original_name: str | None
    ) -> Voice:
        name = _clean_name(name)
        slug_base = slugify(name)  # validates the name before any file work
        transcript = " ".join(str(transcript or "").split())
        if not transcript:
            raise VoiceError("Type the transcript: exactly the words spoken in the reference clip")
        if language not in LANGUAGES:
            raise VoiceError(f"Language must be one of {', '.join(LANGUAGES)} (got {language!r})")
        key = _name_key(name)
        for voice in self.list():
            if _name_key(voice.name) == key:
                raise VoiceError(f"A voice named {voice.name!r} already exists; pick another name")

        audio_bytes, duration_s, sample_rate = _read_reference(wav_path)
        slug = self._free_slug(slug_base)
        now = _now_iso()
        meta = {
            "name": name,
            "transcript": transcript,
            "language": language,
            "original_name": original_name if original_name is not None else wav_path.name,
            "duration_s": duration_s,
            "sample_rate": sample_rate,
            "content_hash": hashlib.sha256(audio_bytes).hexdigest(),
            "created": now,
            "updated": now,
        }
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self.root))
        try:
            _write_file(tmp / AUDIO_FILE, audio_bytes)
            _write_file(tmp / META_FILE, json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8"))
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
            os.replace(tmp, self.root / slug)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(self.root)
        voice = self._load(self.root / slug)
        if voice is None:  # pragma: no cover - we just wrote it
            raise VoiceError(f"Voice {name!r} was written but cannot be read back")
        log.info("Added voice %r as %s (%.2f s)", name, slug, duration_s)
        return voice

    def seed_defaults(self) -> builtins.list[Voice]:
        """Add the f5-tts example voices when the library is empty; returns what was added."""
        added: builtins.list[Voice] = []
        with self._write_lock():
            if self.list():
                return added
            for name, resource, transcript, language in DEFAULT_VOICES:
                try:
                    ref = importlib.resources.files("f5_tts").joinpath(resource)
                    with importlib.resources.as_file(ref) as path:
                        added.append(self._add_locked(name, path, transcript, language, Path(resource).name))
                except (ModuleNotFoundError, OSError, VoiceError) as exc:
                    log.warning("Could not seed default voice %r: %s", name, exc)
        return added


def _read_reference(path: Path) -> tuple[bytes, float, int]:
    """Check the clip decodes and return (WAV bytes, duration, sample rate); non-WAV input is converted."""
    try:
        info = sf.info(str(path))
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise VoiceError(f"Cannot read the reference audio {path.name!r}: {exc}") from exc
    if data.shape[0] == 0:
        raise VoiceError(f"The reference audio {path.name!r} is empty")
    if info.format == "WAV":
        audio_bytes = path.read_bytes()  # keep the user's exact file; its hash identifies it
    else:
        with tempfile.SpooledTemporaryFile() as buf:
            sf.write(buf, data, sample_rate, format="WAV", subtype="PCM_16")
            buf.seek(0)
            audio_bytes = buf.read()
    return audio_bytes, round(data.shape[0] / sample_rate, 4), int(sample_rate)
