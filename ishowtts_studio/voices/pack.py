"""Voice packs: one voice as a .zip (reference.wav + voice.json) to take to another studio, and reading one back."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ishowtts_studio.validation import brief
from ishowtts_studio.voices.folder import read_meta
from ishowtts_studio.voices.model import AUDIO_FILE, LANGUAGES, META_FILE, BrokenVoice, Voice, VoiceBroken, VoiceError

PACK_FORMAT = 1
PACK_MAX_BYTES = 50 * 2**20


def write_pack(voice: Voice, folder: Path, dest_dir: Path | str) -> Path:
    """Write `<slug>.zip` (reference.wav + voice.json of the voice in `folder`) into dest_dir, atomically."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    meta = read_meta(folder)
    audio = (folder / AUDIO_FILE).read_bytes()
    if hashlib.sha256(audio).hexdigest() != meta.get("content_hash"):  # changed since the voice was looked up
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
        except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            if isinstance(exc, VoiceError):
                raise
            raise VoiceError(f"{p.name} is damaged: {brief(str(exc), 200)}") from None
        except (RuntimeError, NotImplementedError) as exc:  # encrypted members, unknown compression methods
            raise VoiceError(f"{p.name} cannot be read ({brief(str(exc), 200)}): export the voice again from the "
                             "studio (a plain, unencrypted .zip) and import that.") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not isinstance(
        meta.get("transcript"), str
    ):
        raise VoiceError(f"{p.name}: voice.json must hold at least a name and a transcript.")
    language = str(meta.get("language") or "other")
    return VoicePack(
        name=meta["name"], transcript=meta["transcript"], language=language if language in LANGUAGES else "other",
        original_name=_original_name(meta.get("original_name")), audio=audio,
    )


def _original_name(value: object) -> str | None:
    """The uploaded file's name as a pack records it: only its last part, printable, at most 255 characters (it is
    shown in every voice listing, so a pack must not make that listing huge or garbled)."""
    if not isinstance(value, str):
        return None
    base = value.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:255].strip()
    return base or None
