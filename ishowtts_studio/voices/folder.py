"""One voice on disk: ``<root>/<slug>/reference.wav`` + ``voice.json``, and the atomic writes that make it.

voice.json is read by `read_meta`, turned into a `Voice` by `voice_from_meta` and written by `write_meta`; a
new field of voice.json goes into those three and nowhere else. Every write goes to a temp file or folder first
and is renamed into place, so a crash never leaves a half-written voice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import soundfile as sf

from ishowtts_studio.validation import redact_paths
from ishowtts_studio.voices.model import AUDIO_FILE, LANGUAGES, META_FILE, BrokenVoice, Voice, VoiceError

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"  # voice folders being built or deleted under <root>; recovery removes crashed ones


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows opening a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _replace_file(folder: Path, name: str, data: bytes, prefix: str) -> None:
    """Write `folder/name` atomically: a temp file beside it, then a rename, then the folder synced."""
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=Path(name).suffix + ".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_file(tmp, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


# ------------------------------------------------------------------------------------------- voice.json


def read_meta(folder: Path) -> dict[str, Any]:
    """A voice folder's voice.json as a dict; raises OSError (FileNotFoundError when missing) or ValueError."""
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise TypeError("voice.json is not an object")
    return meta


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write a voice's voice.json atomically (the one writer: new voices, edits and repairs)."""
    _replace_file(folder, META_FILE, json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8"), ".voice-")


def voice_from_meta(folder: Path, meta: dict[str, Any]) -> Voice:
    """The Voice a folder's voice.json describes; KeyError/ValueError/TypeError when a field is missing or bad."""
    language = str(meta.get("language") or "other")
    return Voice(
        slug=folder.name,
        name=str(meta["name"]),
        transcript=str(meta["transcript"]),
        language=language if language in LANGUAGES else "other",
        audio_path=folder / AUDIO_FILE,
        content_hash=str(meta["content_hash"]),
        duration_s=float(meta["duration_s"]),
        sample_rate=int(meta["sample_rate"]),
        created=str(meta.get("created") or ""),
        updated=str(meta.get("updated") or meta.get("created") or ""),
        original_name=meta.get("original_name"),
        loudness_lufs=None if meta.get("loudness_lufs") is None else float(meta["loudness_lufs"]),
        preview_text=meta["preview_text"] if isinstance(meta.get("preview_text"), str) else None,
    )


# ------------------------------------------------------------------------------------------- folders


def write_new_folder(root: Path, slug: str, audio_bytes: bytes, meta: dict[str, Any]) -> None:
    """Build a voice's folder under `<root>/.tmp-*` and rename it to `<root>/<slug>` (all or nothing)."""
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root))
    try:
        write_file(tmp / AUDIO_FILE, audio_bytes)
        write_meta(tmp, meta)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        os.replace(tmp, root / slug)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(root)


def replace_reference(folder: Path, audio_bytes: bytes) -> None:
    """Put a new reference.wav in place atomically (voice.json, and so its hash, is rewritten after)."""
    _replace_file(folder, AUDIO_FILE, audio_bytes, ".reference-")


def read_reference(path: Path) -> tuple[bytes, float, int]:
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


class FolderReader:
    """Reads voice folders into Voice or BrokenVoice, remembering which reference.wav versions hash right (a
    listing then costs a stat per voice, not a hash) and warning once per broken folder and problem."""

    def __init__(self) -> None:
        # (slug, size, mtime, inode) -> does reference.wav still hash to voice.json's content_hash
        self._hash_ok: dict[tuple[str, int, int, int], bool] = {}
        self._warned: set[tuple[str, str]] = set()

    def _audio_matches(self, slug: str, audio_path: Path, content_hash: str) -> bool:
        st = audio_path.stat()
        key = (slug, st.st_size, st.st_mtime_ns, st.st_ino)
        ok = self._hash_ok.get(key)
        if ok is None:
            ok = file_sha256(audio_path) == content_hash
            if len(self._hash_ok) > 4096:
                self._hash_ok.clear()
            self._hash_ok[key] = ok
        return ok

    def load(self, folder: Path) -> Voice | BrokenVoice:
        audio_path = folder / AUDIO_FILE
        name = folder.name
        try:
            meta = read_meta(folder)
            if isinstance(meta.get("name"), str) and meta["name"].strip():
                name = meta["name"]
            if not audio_path.is_file():
                return self._broken(folder, name, f"{AUDIO_FILE} is missing", repairable=True)
            if not self._audio_matches(folder.name, audio_path, str(meta["content_hash"])):
                return self._broken(folder, name, f"{AUDIO_FILE} was changed or damaged since the voice was saved",
                                    repairable=True)
            return voice_from_meta(folder, meta)
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
