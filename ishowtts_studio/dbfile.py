"""The SQLite database file itself: a health check before the studio opens it, and backup / restore through
SQLite's online backup API (a consistent copy even while the studio writes).

Nothing here ever deletes or overwrites user data: a damaged file is left exactly as it is, a restore keeps the
replaced file beside the new one, and a backup never writes over an existing file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["DatabaseDamaged", "DatabaseUnusable", "backup_database", "check_database_file", "create_database_file",
           "restore_database"]

SQLITE_HEADER = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm")
_RESTORE_HINT = ("Nothing was changed: the file is kept as it is. Restore a backup with "
                 "`python -m ishowtts_studio db restore BACKUP.db` (the damaged file is kept beside it), or move "
                 "the file away to start with an empty database.")


class DatabaseUnusable(RuntimeError):
    """The studio cannot use its database as it is (damaged, unreachable, or too new); the message says what to
    do, and nothing in the database was changed."""


class DatabaseDamaged(DatabaseUnusable):
    """The database file exists but is not a sound SQLite database; the message says what to do."""


def _connect(path: Path) -> sqlite3.Connection:
    # mode=rw: never create a missing file; a stale WAL from a crash is recovered on open as SQLite always does
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=10)


def _problems(path: Path, *, full: bool) -> list[str]:
    """What is wrong with the SQLite file at `path` (empty list: it is sound)."""
    size = path.stat().st_size
    if size == 0:
        return ["it is empty (0 bytes): its history, renders and votes are gone"]
    with open(path, "rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        return ["it is not an SQLite database (its first bytes are garbled)"]
    try:
        with contextlib.closing(_connect(path)) as con:
            rows = con.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return []  # another studio is writing to it right now: busy is not damaged, and the open will wait
        return [f"SQLite cannot read it ({exc})"]
    except sqlite3.DatabaseError as exc:
        return [f"SQLite cannot read it ({exc})"]
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def check_database_file(path: Path | str, *, full: bool = False) -> None:
    """Raise DatabaseDamaged when the file at `path` exists and is empty, garbled, truncated or fails SQLite's
    own check (quick_check, or integrity_check with `full`); a missing file is fine (a new studio)."""
    p = Path(path)
    if not p.exists():
        return
    problems = _problems(p, full=full)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DatabaseDamaged(f"The studio database {p} is damaged: {problems[0][:200]}{more}. {_RESTORE_HINT}")


def create_database_file(path: Path | str) -> bool:
    """Create a new, empty SQLite database at `path` in one step (False: it already exists). SQLite itself would
    leave a 0-byte file until its first commit, which a second studio opening the same path at that moment
    would take for a damaged database; this one has its header (and WAL mode) from the start."""
    p = Path(path)
    if p.exists():
        return False
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as con:
            con.execute("PRAGMA journal_mode=WAL")  # writes the header; WAL: readers never wait for a writer
        try:
            os.link(tmp, p)  # unlike a rename, never replaces a database another studio created meanwhile
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _copy_checked(src: Path, tmp: Path) -> None:
    """SQLite's online backup of `src` into `tmp`, then a full integrity check of the copy (backup and restore
    both write a temp file this way before putting it in place)."""
    with contextlib.closing(_connect(src)) as con, contextlib.closing(sqlite3.connect(tmp)) as copy:
        con.backup(copy)
    check_database_file(tmp, full=True)


def backup_database(source: Path | str, dest: Path | str) -> Path:
    """Copy the database at `source` to the new file `dest` (online backup: consistent while the studio runs),
    verified with integrity_check; refuses to write over an existing file."""
    src, out = Path(source), Path(dest)
    if not src.is_file():
        raise FileNotFoundError(f"There is no database at {src} to back up.")
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new file name for the backup.")
    check_database_file(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _copy_checked(src, tmp)
        os.link(tmp, out)  # unlike a rename, fails if `dest` appeared meanwhile
    finally:
        tmp.unlink(missing_ok=True)
    return out


def restore_database(backup: Path | str, target: Path | str) -> Path | None:
    """Put the backup in place of the database at `target` (the studio must be stopped). The file it replaces,
    damaged or not, is moved to `<target>.before-restore-<time>` and kept; returns that path (None when there
    was no database)."""
    src, dst = Path(backup), Path(target)
    if not src.is_file():
        raise FileNotFoundError(f"There is no backup at {src}.")
    check_database_file(src, full=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.restore.tmp")
    try:
        _copy_checked(src, tmp)
        kept = None
        if dst.exists():
            kept = dst.with_name(f"{dst.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(dst, kept)
        for suffix in _SIDE_FILES:  # the old file's WAL belongs to it, never to the restored one
            side = dst.with_name(dst.name + suffix)
            if side.exists():
                if kept is not None:
                    os.replace(side, kept.with_name(kept.name + suffix))
                else:
                    side.unlink()
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return kept
