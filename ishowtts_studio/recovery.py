"""Clean-up at start, after a crash (power cut, SIGKILL, out of memory): what a killed writer can leave behind.

Every writer in the studio writes a temp file or folder first and renames it into place, and writes audio before
its database row, so a crash leaves only these, never a half-written voice or a row without its audio:

- temp folders of the voice library (``voices/.tmp-*``) and of voice add/import/repair (``cache/voice-*-*``);
- temp files of atomic writes (``.<name>.<random>.tmp``, ``.voice-*.json.tmp``, ``.reference-*.wav.tmp``,
  ``.pack-*.zip.tmp``);
- finished audio whose row was never written (``samples/history/*.wav``, ``samples/nfe/**.wav``).

Temp files and folders are removed. Audio without a row is moved (never deleted) to ``cache/orphans/<time>/``,
outside what the web server may serve: it is normally the last clip of the crash, but after restoring an older
database backup it may be real work, which can then be put back by hand.

This module is the one owner of that clean-up. Two entry points share it: `recover` (everything above; the web
server's start runs it before serving) and `remove_cache_leftovers` (only the voice add/import/repair folders in
``cache/``, which every `Studio` runs when it is built, so the CLI commands tidy them too).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ishowtts_studio.store import AbTrialRow, NfeRenderRow, Store, SynthesisRow
from ishowtts_studio.voices.folder import TMP_PREFIX as VOICE_TEMP_PREFIX  # the library's folders being built

log = logging.getLogger(__name__)

# services/voices.py builds an upload's voice in these before moving it into the library
CACHE_TEMP_PREFIXES = ("voice-add-", "voice-import-", "voice-repair-")
TEMP_FILE_PREFIXES = (".voice-", ".reference-", ".pack-")
AUDIO_FOLDERS = ("history", "nfe")  # under samples/: every WAV in them belongs to a row


@dataclass
class Recovery:
    """What the clean-up found (counts for the log and the tests)."""

    temp_folders: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # relative to samples/, moved to `orphan_folder`
    orphan_folder: Path | None = None

    @property
    def anything(self) -> bool:
        return bool(self.temp_folders or self.temp_files or self.orphans)


def _remove_temp_folders(root: Path, prefixes: tuple[str, ...]) -> list[str]:
    """Remove the folders directly in `root` whose names start with one of `prefixes`; returns their names."""
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for entry in os.scandir(root):
        if entry.is_dir(follow_symlinks=False) and entry.name.startswith(prefixes):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def remove_cache_leftovers(cache: Path) -> list[str]:
    """Remove the temp folders of voice add/import/repair (``cache/voice-*-*``) that a crash left; returns their
    names. Nothing refers to them, and they hold only a copy of an upload being checked."""
    removed = _remove_temp_folders(Path(cache), CACHE_TEMP_PREFIXES)
    if removed:
        log.info("removed %d temporary folder(s) left by an interrupted voice add/import/repair", len(removed))
    return removed


def _is_temp_file(name: str) -> bool:
    return name.startswith(".") and (name.endswith(".tmp") or name.startswith(TEMP_FILE_PREFIXES))


def referenced_audio(store: Store) -> set[str]:
    """Every audio path (relative to samples/) that a database row points at."""
    paths: set[str] = set()
    with store.engine.connect() as con:
        paths.update(r[0] for r in con.execute(select(SynthesisRow.audio_path)))
        for a, c in con.execute(select(NfeRenderRow.audio_path, NfeRenderRow.clip_path)):
            paths.update((a, c))
        for a, b in con.execute(select(AbTrialRow.clip_a, AbTrialRow.clip_b)):
            paths.update((a, b))
    return {os.path.normpath(p) for p in paths if p}


def recover(*, voices: Path, samples: Path, cache: Path, store: Store) -> Recovery:
    """Remove what crashed writers left and set aside audio without a row. Run it before serving (nothing of
    this studio writes yet); another studio must not share these folders at the same time."""
    found = Recovery()
    found.temp_folders += [f"{voices.name}/{name}" for name in _remove_temp_folders(voices, (VOICE_TEMP_PREFIX,))]
    found.temp_folders += [f"{cache.name}/{name}" for name in remove_cache_leftovers(cache)]
    for root in (voices, samples):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .tmp-* folders were handled above
            for name in filenames:
                if _is_temp_file(name):
                    path = Path(dirpath, name)
                    path.unlink(missing_ok=True)
                    found.temp_files.append(str(path.relative_to(root.parent)))

    known = referenced_audio(store)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in AUDIO_FOLDERS:
        base = samples / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.wav")):
            rel = os.path.normpath(path.relative_to(samples))
            if rel in known:
                continue
            found.orphan_folder = cache / "orphans" / stamp
            target = found.orphan_folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)  # cache/ may be on another disk
            found.orphans.append(rel)
    if found.anything:
        log.warning(
            "clean-up after an earlier crash: removed %d temp folders and %d temp files; moved %d audio files "
            "without a database row to %s", len(found.temp_folders), len(found.temp_files), len(found.orphans),
            found.orphan_folder or "-",
        )
    return found
