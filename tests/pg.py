"""A throwaway PostgreSQL server for the tests: Debian's binaries (`apt-get install postgresql`), a fresh
cluster in a temp folder, started once per test session with pg_ctl and removed afterwards.

PostgreSQL refuses to run as root, and CI runs as root: there the cluster belongs to the `postgres` user the
Debian package creates (or `nobody` where it is missing) and every server command runs through `runuser`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (None: not installed)."""
    found = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name.split(".")[0]))
    found = [p for p in found if (p / "pg_ctl").exists() and (p / "initdb").exists()]
    return found[-1] if found else None


def _server_user() -> str | None:
    """Who runs the server: ourselves unless we are root (then postgres, else nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL")


@dataclass
class PgServer:
    bin: Path
    folder: Path
    port: int
    user: str | None
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database on the server; returns its URL."""
        import psycopg

        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        # trust on 127.0.0.1 only, for a server that lives as long as the test session; no fsync: tests, not data
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F -c max_connections=200"
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.folder / "server.log", "-w",
                      "-t", "60", "start")
        except subprocess.CalledProcessError as exc:
            log = (self.folder / "server.log")
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n"
                               f"{log.read_text() if log.exists() else ''}") from exc

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def pg_server() -> Iterator[PgServer]:
    """Start a throwaway server (the caller skips when `pg_bin()` is None)."""
    bin_dir = pg_bin()
    assert bin_dir is not None
    # /tmp, not pytest's tmp_path: that is private to root, and the server runs as another user
    server = PgServer(bin=bin_dir, folder=Path(tempfile.mkdtemp(prefix="ishowtts-pg-")), port=free_port(),
                      user=_server_user())
    server.start()
    try:
        yield server
    finally:
        server.stop()
