"""Files handed to a page to play or download, and nothing else.

The web server may serve only what a page was just handed: never the database, a voice's folder, history or
NFE renders by their path. So every file a page receives is first *handed out*: linked (or copied, across file
systems) into a folder of its own with a random name under one served root, and withdrawn after a while (or at
once, e.g. a blind A/B clip after the vote). The name is random, not derived from the content, so the same audio
handed out twice gets two unrelated addresses: a clip revealed in one A/B trial cannot be recognised by its URL
when it comes back in a later one. The UI puts the root inside the web server's own upload/cache folder, which it
serves; the studio's data folders are never served at all.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 3600.0  # long enough to play, pause and download a take; short enough to bound the disk
_SWEEP_EVERY_S = 60.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_TOKEN = re.compile(r"[0-9a-f]{32}")


class ServedFiles:
    """Short-lived, randomly named hand-outs under `root` (see the module docstring)."""

    def __init__(self, root: Path, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = float(ttl_s)
        self._lock = threading.Lock()
        self._last_sweep = 0.0
        self._tagged: dict[str, list[Path]] = {}  # tag (e.g. an A/B trial id) -> its hand-out folders
        self.root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    @root.setter
    def root(self, folder: Path) -> None:
        # expired hand-outs of an earlier run go at once; younger ones may belong to another studio sharing the
        # web server's folder (GRADIO_TEMP_DIR defaults to one per machine), so they stay until they expire
        self._root = Path(folder).resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self.sweep()

    def _new_folder(self) -> Path:
        self._sweep_now_and_then()
        folder = self._root / secrets.token_hex(16)  # 128 random bits: not guessable, not linkable to content
        folder.mkdir(parents=True)
        return folder

    @staticmethod
    def _name(name: str) -> str:
        clean = _SAFE_NAME.sub("-", Path(name).name).strip(".-")
        return clean or "file"

    def hand_out(self, source: str | os.PathLike[str], name: str | None = None, *, tag: str | None = None) -> Path:
        """A new served path for `source` (a hard link, else a copy) named `name` (default: the source's name);
        `withdraw_tag(tag)` removes every hand-out made with the same `tag` at once."""
        src = Path(source)
        if not src.is_file():
            raise FileNotFoundError(f"nothing to hand out: {src.name} is missing")
        target = self.new_file(name or src.name, tag=tag)
        try:
            os.link(src, target)  # no second copy on disk; the source's later atomic replacement does not touch it
        except OSError:
            shutil.copyfile(src, target)
        return target

    def new_file(self, name: str, *, tag: str | None = None) -> Path:
        """The path of a new hand-out named `name` for the caller to write (nothing is there yet); withdrawn like
        any hand-out, with `tag` too."""
        folder = self._new_folder()
        if tag is not None:
            with self._lock:
                self._tagged.setdefault(tag, []).append(folder)
        return folder / self._name(name)

    def folder(self) -> Path:
        """A new, empty served folder to write files into (e.g. an export); withdrawn like a hand-out."""
        return self._new_folder()

    def is_served(self, path: str | os.PathLike[str]) -> bool:
        p = Path(path).resolve()
        return p.is_relative_to(self._root) and p != self._root

    def withdraw(self, path: str | os.PathLike[str] | None) -> None:
        """Remove a hand-out (its whole folder) now; anything outside the served root is left alone."""
        if not path or not self.is_served(path):
            return
        rel = Path(path).resolve().relative_to(self._root)
        shutil.rmtree(self._root / rel.parts[0], ignore_errors=True)

    def withdraw_tag(self, tag: str) -> int:
        """Withdraw every hand-out made with `tag` (e.g. both clips of an A/B trial once it is voted on)."""
        with self._lock:
            folders = self._tagged.pop(tag, [])
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return len(folders)

    def sweep(self, now: float | None = None) -> int:
        """Withdraw every hand-out older than the time to live; returns how many were removed."""
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            self._last_sweep = now
            try:
                entries = list(os.scandir(self._root))
            except FileNotFoundError:
                self._root.mkdir(parents=True, exist_ok=True)
                return 0
            for entry in entries:
                if not _TOKEN.fullmatch(entry.name):
                    continue
                try:
                    age = now - entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                if age > self.ttl_s and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
            # forget tags whose hand-outs are all gone (expired or withdrawn)
            for tag in [t for t, fs in self._tagged.items() if not any(f.exists() for f in fs)]:
                del self._tagged[tag]
        if removed:
            log.debug("withdrew %d expired hand-outs", removed)
        return removed

    def _sweep_now_and_then(self) -> None:
        if time.time() - self._last_sweep > _SWEEP_EVERY_S:
            self.sweep()

    def disk_bytes(self) -> int:
        """Bytes under the served root (hard links count in full, though they share the source's blocks)."""
        total = 0
        for folder, _, files in os.walk(self._root):
            for f in files:
                try:
                    total += os.lstat(os.path.join(folder, f)).st_size
                except FileNotFoundError:
                    pass
        return total
