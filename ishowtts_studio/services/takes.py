"""History takes as files to download: one take as WAV or MP3, several as one ZIP with descriptive names.

The files are written into a folder the caller provides (the UI passes a fresh served folder, see
served_files.py), so nothing here decides what a page may fetch. MP3 is encoded by FFmpeg through PyAV
(`encoding.py`), the same encoder the OpenAI-compatible route uses.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

from ishowtts_studio.audio import read_audio
from ishowtts_studio.encoding import encode_whole
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.synthesis import SynthesisService, check_history_id
from ishowtts_studio.validation import brief

DOWNLOAD_FORMATS = ("wav", "mp3")
MAX_TAKES_PER_ZIP = 500  # a ZIP of the whole history would be a backup, not a download


def check_format(fmt: Any) -> str:
    name = str(fmt or "wav").strip().lower().lstrip(".")
    if name not in DOWNLOAD_FORMATS:
        raise InputError(f"Unknown download format {brief(fmt)}: choose WAV or MP3.")
    return name


def check_take_ids(ids: Any) -> list[int]:
    """Take numbers from a list or a text like '3, 5 7' (order kept, repeats dropped)."""
    if ids is None or (isinstance(ids, str) and not ids.strip()):
        raise InputError("No takes to download: select a take, or filter the history to the takes you want.")
    items = ids.replace(",", " ").split() if isinstance(ids, str) else list(ids)
    out: list[int] = []
    for item in items:
        hid = check_history_id(item)
        if hid not in out:
            out.append(hid)
    if not out:
        raise InputError("No takes to download: select a take, or filter the history to the takes you want.")
    if len(out) > MAX_TAKES_PER_ZIP:
        raise InputError(f"At most {MAX_TAKES_PER_ZIP} takes go into one ZIP: filter the history further.")
    return out


def _take_bytes(service: SynthesisService, history_id: int, fmt: str) -> tuple[str, bytes]:
    """(descriptive file name, bytes) of one take in `fmt`: the WAV as stored, or MP3 encoded from it."""
    path = service.history_audio(history_id)
    stem = f"take-{history_id}-{path.stem}"  # the stored name already says voice, text start and time
    if fmt == "wav":
        return f"{stem}.wav", path.read_bytes()
    audio, sr = read_audio(path, target_sr=None)
    return f"{stem}.{fmt}", encode_whole(audio, sr, fmt)


def export_takes(service: SynthesisService, ids: Any, fmt: Any, folder: Path, *, as_zip: bool | None = None) -> Path:
    """Write the takes `ids` into `folder`: one take as its own file, several (or any number with `as_zip`) as
    one ZIP. Every take is checked before anything is written, so a bad number leaves no half-made archive."""
    kind = check_format(fmt)
    hids = check_take_ids(ids)
    for hid in hids:
        service.history_audio(hid)  # raises "No history entry …" / "audio is missing" before any writing
    if not as_zip and len(hids) == 1:
        name, data = _take_bytes(service, hids[0], kind)
        out = folder / name
        out.write_bytes(data)
        return out
    out = folder / f"takes-{len(hids)}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    part = out.with_suffix(".part")
    # stored, not deflated: WAV barely shrinks, MP3 not at all
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as zf:
        for hid in hids:
            name, data = _take_bytes(service, hid, kind)
            zf.writestr(name, data)
    part.replace(out)
    return out
