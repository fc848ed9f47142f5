"""The voice library: the folder of voices, looked up by name or slug, and its locked writes.

Folders are built under ``<root>/.tmp-*`` and moved into place with ``os.replace``, so a failed or
interrupted write never leaves a half-made voice. Writes are serialised by a thread lock plus an
``flock`` on ``<root>/.lock``, so several threads or processes can share one library.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.resources
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ishowtts_studio.validation import lookalike_keys
from ishowtts_studio.voices.folder import (
    TMP_PREFIX,
    FolderReader,
    fsync_dir,
    now_iso,
    read_meta,
    read_reference,
    replace_reference,
    write_meta,
    write_new_folder,
)
from ishowtts_studio.voices.model import (
    MAX_SLUG_CHARS,
    META_FILE,
    BrokenVoice,
    Voice,
    VoiceBroken,
    VoiceError,
    VoiceNotFound,
)
from ishowtts_studio.voices.names import check_language, clean_name, name_key, slugify, voice_transcript
from ishowtts_studio.voices.pack import write_pack

try:  # POSIX only; elsewhere the thread lock alone serialises writes within one process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"

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


class VoiceLibrary:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._writes = 0
        self._reader = FolderReader()

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
            voice = self._reader.load(Path(entry.path))
            (voices if isinstance(voice, Voice) else broken).append(voice)  # type: ignore[arg-type]
        voices.sort(key=lambda v: (name_key(v.name), v.slug))
        broken.sort(key=lambda v: (name_key(v.name), v.slug))
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
        """The voice whose slug is exactly `name_or_slug`, else the one with that name (case-insensitive), else
        the one whose slug it is in other case. The slug comes first: pickers, the API and the services hand
        slugs back in, and a name never equals another voice's slug (`check_new_name`, `_free_slug`), except
        in a library written before that rule, where the slug must still win or an action on one voice would
        land on another."""
        voices, broken = self.scan()
        raw = str(name_or_slug or "").strip()
        key = name_key(raw)
        both: builtins.list[Voice | BrokenVoice] = [*voices, *broken]
        for match in (lambda v: v.slug == raw, lambda v: name_key(v.name) == key, lambda v: v.slug == key):
            for voice in both:
                if match(voice):
                    return voice
        raise VoiceNotFound(str(name_or_slug), [v.name for v in voices])

    def _reload(self, slug: str, what: str) -> Voice:
        loaded = self._reader.load(self.root / slug)
        if not isinstance(loaded, Voice):  # pragma: no cover - we just wrote it
            raise VoiceError(f"Voice {what} was written but cannot be read back")
        return loaded

    # --------------------------------------------------------------------------------------- writing

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self._lock, open(self.root / LOCK_FILE, "a+b") as lock_file:
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
            if entry.name.startswith(TMP_PREFIX) and entry.is_dir(follow_symlinks=False):
                log.warning("Removing leftover temp folder %s", entry.path)
                shutil.rmtree(entry.path, ignore_errors=True)

    def _free_slug(self, base: str, own_name: str) -> str:
        # Different names can share a slug ("Bob!" / "Bob?"); number the later ones. A slug that is another
        # voice's name is skipped too, so looking a voice up by name or slug can never mix two up.
        voices, broken = self.scan()
        names = {name_key(v.name) for v in [*voices, *broken]} - {name_key(own_name)}
        slug, n = base, 1
        while (self.root / slug).exists() or name_key(slug) in names:
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
        transcript = voice_transcript(transcript)
        check_language(language)

        audio_bytes, duration_s, sample_rate = read_reference(wav_path)
        transcript = voice_transcript(transcript, duration_s)  # now that the clip's length is known
        slug = self._free_slug(slug_base, name)
        now = now_iso()
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
        write_new_folder(self.root, slug, audio_bytes, meta)
        voice = self._reload(slug, repr(name))
        log.info("Added voice %r as %s (%.2f s)", name, slug, duration_s)
        return voice

    def check_new_name(self, name: str, *, ignore_slug: str | None = None) -> str:
        """Validate a name for a new (or renamed) voice without writing; returns it cleaned."""
        name = clean_name(name)
        slugify(name)
        key, looks = name_key(name), lookalike_keys(name)
        voices, broken = self.scan()
        for voice in [*voices, *broken]:  # a broken voice keeps its name until it is repaired or deleted
            if voice.slug == ignore_slug:
                continue
            if name_key(voice.name) == key:
                state = " (broken: repair or delete it in the Voices tab)" if isinstance(voice, BrokenVoice) else ""
                raise VoiceError(f"A voice named {voice.name!r} already exists{state}; pick another name")
            if looks & lookalike_keys(voice.name):
                raise VoiceError(f"The name {name!r} looks the same as the existing voice {voice.name!r} (look-alike "
                                 "letters or digits); pick a name that cannot be mistaken for it")
            if name_key(voice.slug) == key:  # pickers and the API name voices by slug: the two must not collide
                raise VoiceError(f"{name!r} is the id of the voice {voice.name!r}; pick another name")
        return name

    def _rewrite_meta(self, slug: str, changes: dict[str, Any]) -> Voice:
        # Called with the write lock held: voice.json read, changed and replaced atomically.
        folder = self.root / slug
        meta = read_meta(folder)
        meta.update(changes, updated=now_iso())
        write_meta(folder, meta)
        return self._reload(slug, repr(meta.get("name")))

    def rename(self, name_or_slug: str, new_name: str) -> Voice:
        """Give a voice a new display name; its folder (slug) stays, so history keeps pointing at it."""
        with self._write_lock():
            voice = self.get(name_or_slug)
            new_name = self.check_new_name(new_name, ignore_slug=voice.slug)
            if new_name == voice.name:
                return voice
            return self._rewrite_meta(voice.slug, {"name": new_name})

    def update(self, name_or_slug: str, *, transcript: str | None = None, language: str | None = None,
               preview_text: str | None = None) -> Voice:
        """Change a voice's transcript, language and/or preview text ("" = back to the default line)."""
        with self._write_lock():
            voice = self.get(name_or_slug)
            changes: dict[str, Any] = {}
            if transcript is not None:
                changes["transcript"] = voice_transcript(transcript, voice.duration_s)
            if language is not None:
                changes["language"] = check_language(language)
            if preview_text is not None:
                changes["preview_text"] = preview_text or None
            if not changes:
                return voice
            return self._rewrite_meta(voice.slug, changes)

    def delete(self, name_or_slug: str) -> Voice | BrokenVoice:
        """Remove a voice, broken or not: its folder is renamed away first (atomic), then deleted."""
        with self._write_lock():
            voice = self._find(name_or_slug)
            doomed = self.root / f"{TMP_PREFIX}deleted-{voice.slug}-{os.getpid()}-{threading.get_ident()}"
            os.replace(self.root / voice.slug, doomed)
            fsync_dir(self.root)
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
            meta = read_meta(self.root / found.slug)
            audio_bytes, duration_s, sample_rate = read_reference(Path(wav_path))
            voice_transcript(meta.get("transcript"), duration_s)  # the kept transcript must fit the new clip
            replace_reference(self.root / found.slug, audio_bytes)
            # until this rewrite lands the hashes differ, so a crash in between leaves the voice still "broken"
            changes = dict(extra or {}) | {"duration_s": duration_s, "sample_rate": sample_rate,
                                           "content_hash": hashlib.sha256(audio_bytes).hexdigest()}
            loaded = self._rewrite_meta(found.slug, changes)
        log.info("Repaired voice %r with a new clip (%.2f s)", loaded.name, duration_s)
        return loaded

    def export_pack(self, name_or_slug: str, dest_dir: Path | str) -> Path:
        """Write `<slug>.zip` (reference.wav + voice.json) into dest_dir, atomically; returns its path."""
        voice = self.get(name_or_slug)
        return write_pack(voice, self.root / voice.slug, dest_dir)

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
