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
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import soundfile as sf

from ishowtts_studio.validation import (
    InvalidInput,
    brief,
    check_transcript,
    clean_display_name,
    lookalike_keys,
    redact_paths,
)

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
PACK_FORMAT = 1
PACK_MAX_BYTES = 50 * 2**20
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
        super().__init__(f"No voice named {brief(query)}. {listing} {_ADD_HINT}")


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
    try:  # the same rules as reviewer names: printable, no invisible or bidi-override characters
        return clean_display_name(name, what="The voice name", max_chars=MAX_NAME_CHARS)
    except InvalidInput as exc:
        raise VoiceError(str(exc)) from None


def _transcript(text: Any, duration_s: float | None = None) -> str:
    try:
        clean = check_transcript(text, duration_s)
    except InvalidInput as exc:
        raise VoiceError(str(exc)) from None
    if not clean:
        raise VoiceError("Type the transcript: exactly the words spoken in the reference clip")
    return clean


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _replace_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write a voice's voice.json atomically: a temp file in its folder, then a rename (and the folder synced)."""
    fd, tmp_name = tempfile.mkstemp(prefix=".voice-", suffix=".json.tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_file(tmp, json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / META_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


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
        # (slug, size, mtime, inode) -> does reference.wav still hash to voice.json's content_hash
        self._hash_ok: dict[tuple[str, int, int, int], bool] = {}
        self._warned: set[tuple[str, str]] = set()

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

    def scan(self) -> tuple[builtins.list[Voice], builtins.list[BrokenVoice]]:
        """(usable voices, broken voice folders), each sorted by name."""
        voices: builtins.list[Voice] = []
        broken: builtins.list[BrokenVoice] = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as exc:
            log.warning("Cannot read voice library %s: %s", self.root, exc)
            return [], []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            voice = self._load(Path(entry.path))
            (voices if isinstance(voice, Voice) else broken).append(voice)  # type: ignore[arg-type]
        voices.sort(key=lambda v: (_name_key(v.name), v.slug))
        broken.sort(key=lambda v: (_name_key(v.name), v.slug))
        return voices, broken

    def list(self) -> builtins.list[Voice]:
        """Every usable voice, sorted by name; broken folders are left out (see `list_broken`)."""
        return self.scan()[0]

    def list_broken(self) -> builtins.list[BrokenVoice]:
        """Voice folders that cannot be used, with what is wrong: shown as broken, to repair or delete."""
        return self.scan()[1]

    def names(self) -> builtins.list[str]:
        return [v.name for v in self.list()]

    def get(self, name_or_slug: str) -> Voice:
        """Find a voice by name (case-insensitive) or slug; raises VoiceNotFound, or VoiceBroken for a voice
        whose folder cannot be used (so a broken voice is never synthesised from a cache nor exported)."""
        found = self._find(name_or_slug)
        if isinstance(found, BrokenVoice):
            raise VoiceBroken(found)
        return found

    def _find(self, name_or_slug: str) -> Voice | BrokenVoice:
        voices, broken = self.scan()
        key = _name_key(name_or_slug or "")
        both: builtins.list[Voice | BrokenVoice] = [*voices, *broken]
        for voice in both:
            if _name_key(voice.name) == key:
                return voice
        for voice in both:
            if voice.slug == key:
                return voice
        raise VoiceNotFound(str(name_or_slug), [v.name for v in voices])

    def _audio_matches(self, slug: str, audio_path: Path, content_hash: str) -> bool:
        """Whether reference.wav is still the file that was stored (its hash), cached per file version."""
        st = audio_path.stat()
        key = (slug, st.st_size, st.st_mtime_ns, st.st_ino)
        ok = self._hash_ok.get(key)
        if ok is None:
            ok = _file_sha256(audio_path) == content_hash
            if len(self._hash_ok) > 4096:
                self._hash_ok.clear()
            self._hash_ok[key] = ok
        return ok

    def _load(self, folder: Path) -> Voice | BrokenVoice:
        meta_path = folder / META_FILE
        audio_path = folder / AUDIO_FILE
        name = folder.name
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise TypeError("voice.json is not an object")
            if isinstance(meta.get("name"), str) and meta["name"].strip():
                name = meta["name"]
            if not audio_path.is_file():
                return self._broken(folder, name, f"{AUDIO_FILE} is missing", repairable=True)
            if not self._audio_matches(folder.name, audio_path, str(meta["content_hash"])):
                return self._broken(folder, name, f"{AUDIO_FILE} was changed or damaged since the voice was saved",
                                    repairable=True)
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
                loudness_lufs=None if meta.get("loudness_lufs") is None else float(meta["loudness_lufs"]),
                preview_text=meta["preview_text"] if isinstance(meta.get("preview_text"), str) else None,
            )
        except FileNotFoundError:
            return self._broken(folder, name, f"{META_FILE} is missing", repairable=False)
        except KeyError as exc:
            return self._broken(folder, name, f"{META_FILE} lacks {exc}", repairable=False)
        except (OSError, ValueError, TypeError) as exc:
            return self._broken(folder, name, f"{META_FILE} is unreadable ({redact_paths(str(exc))[:80]})",
                                repairable=False)

    def _broken(self, folder: Path, name: str, problem: str, *, repairable: bool) -> BrokenVoice:
        if (folder.name, problem) not in self._warned:  # once per problem, not on every listing
            self._warned.add((folder.name, problem))
            log.warning("Voice folder %s is broken: %s", folder, problem)
        return BrokenVoice(slug=folder.name, name=name, problem=problem, repairable=repairable)

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
        extra: dict[str, Any] | None = None,
    ) -> Voice:
        """Validate and store a new voice; raises VoiceError with a message meant for the user.

        `extra` adds fields to voice.json (e.g. loudness_lufs); it cannot override the core ones.
        """
        with self._write_lock():
            return self._add_locked(name, Path(wav_path), transcript, language, original_name, extra)

    def _add_locked(
        self, name: str, wav_path: Path, transcript: str, language: str, original_name: str | None,
        extra: dict[str, Any] | None = None,
    ) -> Voice:
        name = self.check_new_name(name)  # validates the name before any file work
        slug_base = slugify(name)
        transcript = _transcript(transcript)
        if language not in LANGUAGES:
            raise VoiceError(f"Language must be one of {', '.join(LANGUAGES)} (got {brief(language)})")

        audio_bytes, duration_s, sample_rate = _read_reference(wav_path)
        transcript = _transcript(transcript, duration_s)  # now that the clip's length is known
        slug = self._free_slug(slug_base)
        now = _now_iso()
        meta: dict[str, Any] = dict(extra or {})
        meta |= {
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
        if not isinstance(voice, Voice):  # pragma: no cover - we just wrote it
            raise VoiceError(f"Voice {name!r} was written but cannot be read back")
        log.info("Added voice %r as %s (%.2f s)", name, slug, duration_s)
        return voice

    def check_new_name(self, name: str, *, ignore_slug: str | None = None) -> str:
        """Validate a name for a new (or renamed) voice without writing; returns it cleaned."""
        name = _clean_name(name)
        slugify(name)
        key, looks = _name_key(name), lookalike_keys(name)
        voices, broken = self.scan()
        for voice in [*voices, *broken]:  # a broken voice keeps its name until it is repaired or deleted
            if voice.slug == ignore_slug:
                continue
            if _name_key(voice.name) == key:
                state = " (broken: repair or delete it in the Voices tab)" if isinstance(voice, BrokenVoice) else ""
                raise VoiceError(f"A voice named {voice.name!r} already exists{state}; pick another name")
            if looks & lookalike_keys(voice.name):
                raise VoiceError(f"The name {name!r} looks the same as the existing voice {voice.name!r} (look-alike "
                                 "letters or digits); pick a name that cannot be mistaken for it")
        return name

    def _rewrite_meta(self, voice: Voice, changes: dict[str, Any]) -> Voice:
        # Called with the write lock held: temp file in the voice's folder, then an atomic rename.
        folder = self.root / voice.slug
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        meta.update(changes, updated=_now_iso())
        _replace_meta(folder, meta)
        loaded = self._load(folder)
        if not isinstance(loaded, Voice):  # pragma: no cover - we just wrote it
            raise VoiceError(f"Voice {voice.name!r} was updated but cannot be read back")
        return loaded

    def rename(self, name_or_slug: str, new_name: str) -> Voice:
        """Give a voice a new display name; its folder (slug) stays, so history keeps pointing at it."""
        with self._write_lock():
            voice = self.get(name_or_slug)
            new_name = self.check_new_name(new_name, ignore_slug=voice.slug)
            if new_name == voice.name:
                return voice
            return self._rewrite_meta(voice, {"name": new_name})

    def update(self, name_or_slug: str, *, transcript: str | None = None, language: str | None = None,
               preview_text: str | None = None) -> Voice:
        """Change a voice's transcript, language and/or preview text ("" = back to the default line)."""
        with self._write_lock():
            voice = self.get(name_or_slug)
            changes: dict[str, Any] = {}
            if transcript is not None:
                changes["transcript"] = _transcript(transcript, voice.duration_s)
            if language is not None:
                if language not in LANGUAGES:
                    raise VoiceError(f"Language must be one of {', '.join(LANGUAGES)} (got {brief(language)})")
                changes["language"] = language
            if preview_text is not None:
                changes["preview_text"] = preview_text or None
            if not changes:
                return voice
            return self._rewrite_meta(voice, changes)

    def delete(self, name_or_slug: str) -> Voice | BrokenVoice:
        """Remove a voice, broken or not: its folder is renamed away first (atomic), then deleted."""
        with self._write_lock():
            voice = self._find(name_or_slug)
            doomed = self.root / f"{_TMP_PREFIX}deleted-{voice.slug}-{os.getpid()}-{threading.get_ident()}"
            os.replace(self.root / voice.slug, doomed)
            _fsync_dir(self.root)
            shutil.rmtree(doomed, ignore_errors=True)
        log.info("Deleted voice %r (%s)", voice.name, voice.slug)
        return voice

    def repair(self, name_or_slug: str, wav_path: Path | str, extra: dict[str, Any] | None = None) -> Voice:
        """Give a broken voice (reference.wav missing or changed) a new clip; its name, transcript and language
        stay. The clip is written beside the old one and renamed over it, then voice.json records its hash."""
        with self._write_lock():
            found = self._find(name_or_slug)
            if isinstance(found, Voice):
                raise VoiceError(f"The voice {found.name!r} is not broken; nothing to repair")
            if not found.repairable:
                raise VoiceBroken(found)
            folder = self.root / found.slug
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            audio_bytes, duration_s, sample_rate = _read_reference(Path(wav_path))
            _transcript(meta.get("transcript"), duration_s)  # the kept transcript must fit the new clip
            fd, tmp_name = tempfile.mkstemp(prefix=".reference-", suffix=".wav.tmp", dir=folder)
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                _write_file(tmp, audio_bytes)
                os.chmod(tmp, 0o644)
                os.replace(tmp, folder / AUDIO_FILE)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            # until this rewrite lands the hashes differ, so a crash in between leaves the voice still "broken"
            changes = dict(extra or {}) | {"duration_s": duration_s, "sample_rate": sample_rate,
                                           "content_hash": hashlib.sha256(audio_bytes).hexdigest()}
            meta.update(changes, updated=_now_iso())
            _replace_meta(folder, meta)
            loaded = self._load(folder)
            if not isinstance(loaded, Voice):  # pragma: no cover - we just wrote it
                raise VoiceError(f"Voice {found.name!r} was repaired but cannot be read back")
        log.info("Repaired voice %r with a new clip (%.2f s)", loaded.name, duration_s)
        return loaded

    def export_pack(self, name_or_slug: str, dest_dir: Path | str) -> Path:
        """Write `<slug>.zip` (reference.wav + voice.json) into dest_dir, atomically; returns its path."""
        voice = self.get(name_or_slug)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        folder = self.root / voice.slug
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        audio = (folder / AUDIO_FILE).read_bytes()
        if hashlib.sha256(audio).hexdigest() != meta.get("content_hash"):  # changed since get() looked
            raise VoiceBroken(BrokenVoice(voice.slug, voice.name, f"{AUDIO_FILE} was changed or damaged since the "
                                          "voice was saved", repairable=True))
        meta["pack_format"] = PACK_FORMAT
        fd, tmp_name = tempfile.mkstemp(prefix=".pack-", suffix=".zip.tmp", dir=dest)
        os.close(fd)
        tmp = Path(tmp_name)
        target = dest / f"{voice.slug}.zip"
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(META_FILE, json.dumps(meta, ensure_ascii=False, indent=2))
                zf.writestr(AUDIO_FILE, audio)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def seed_defaults(self) -> builtins.list[Voice]:
        """Add the f5-tts example voices when the library is empty; returns what was added."""
        added: builtins.list[Voice] = []
        with self._write_lock():
            if any(self.scan()):  # broken voices count: they are the user's, to repair or delete
                return added
            for name, resource, transcript, language in DEFAULT_VOICES:
                try:
                    ref = importlib.resources.files("f5_tts").joinpath(resource)
                    with importlib.resources.as_file(ref) as path:
                        added.append(self._add_locked(name, path, transcript, language, Path(resource).name))
                except (ModuleNotFoundError, OSError, VoiceError) as exc:
                    log.warning("Could not seed default voice %r: %s", name, exc)
        return added


@dataclass(frozen=True)
class VoicePack:
    name: str
    transcript: str
    language: str
    original_name: str | None
    audio: bytes


def read_pack(path: Path | str, *, max_bytes: int = PACK_MAX_BYTES) -> VoicePack:
    """Read and validate a voice pack (.zip): only reference.wav + voice.json, no paths, bounded sizes.

    Nothing is extracted to disk: the members are read into memory after their declared sizes are checked,
    and reads stop at the declared size, so a zip bomb or a zip-slip entry (``../x``) never touches a file.
    """
    p = Path(path)
    if p.stat().st_size > max_bytes:
        raise VoiceError(f"{p.name} is larger than {max_bytes // 2**20} MB; a voice pack is a short clip and its data.")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise VoiceError(f"{p.name} is not a voice pack (.zip exported by the studio): {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > 16:
            raise VoiceError(f"{p.name} holds {len(infos)} entries; a voice pack holds reference.wav and voice.json.")
        for info in infos:
            n = info.filename
            if n.startswith(("/", "\\")) or "\\" in n or ".." in n.split("/") or ":" in n:
                raise VoiceError(f"{p.name} contains an unsafe path {n!r}; refusing to import it.")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise VoiceError(
                f"{p.name} would unpack to {total // 2**20} MB (limit {max_bytes // 2**20} MB); refusing to import it."
            )
        members = {i.filename: i for i in infos if not i.is_dir()}
        missing = [m for m in (META_FILE, AUDIO_FILE) if m not in members]
        if missing:
            raise VoiceError(f"{p.name} is not a voice pack: it lacks {', '.join(missing)}.")

        def read(name: str) -> bytes:
            info = members[name]
            with zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
            if len(data) > info.file_size:  # the header lied about the size
                raise VoiceError(f"{p.name} is damaged ({name} is larger than declared); refusing to import it.")
            return data

        try:
            meta = json.loads(read(META_FILE).decode("utf-8"))
            audio = read(AUDIO_FILE)
        except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, VoiceError):
                raise
            raise VoiceError(f"{p.name} is damaged: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not isinstance(
        meta.get("transcript"), str
    ):
        raise VoiceError(f"{p.name}: voice.json must hold at least a name and a transcript.")
    language = str(meta.get("language") or "other")
    return VoicePack(
        name=meta["name"], transcript=meta["transcript"], language=language if language in LANGUAGES else "other",
        original_name=meta.get("original_name") if isinstance(meta.get("original_name"), str) else None, audio=audio,
    )


def _read_reference(path: Path) -> tuple[bytes, float, int]:
    """Check the clip decodes and return (WAV bytes, duration, sample rate); non-WAV input is converted."""
    try:
        info = sf.info(str(path))
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        # libsndfile names the full path in its message; the user only needs the file's name
        raise VoiceError(f"Cannot read the reference audio {path.name!r}: {redact_paths(str(exc))}") from None
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
