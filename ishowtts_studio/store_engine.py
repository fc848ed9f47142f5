"""From `paths.database` to a SQLAlchemy engine: SQLite files (WAL mode) or a PostgreSQL server (psycopg 3).

Kept apart from `store.py` so the queries there never need to know which backend they run on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from ishowtts_studio.dbfile import DatabaseUnusable

# postgresql:// alone would make SQLAlchemy look for psycopg2; the studio ships psycopg 3
_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


class DatabaseUnreachable(DatabaseUnusable):
    """The database server named in paths.database did not answer (or refused the login)."""


def to_url(url: str | Path) -> URL:
    """A bare filesystem path means a SQLite file; anything with a scheme is a SQLAlchemy URL."""
    if isinstance(url, Path) or "://" not in url:
        path = Path(url).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(path))
    parsed = make_url(url)
    if parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=_DEFAULT_DRIVERS[parsed.drivername])
    if parsed.get_backend_name() == "sqlite" and not is_sqlite_memory(parsed):
        Path(parsed.database or "").expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return parsed


def is_sqlite_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url.query.get("mode", ""))


def describe(url: URL) -> str:
    """The database as messages name it: a SQLite file by its name only, a server as host:port/name (never a
    password or a folder)."""
    if url.get_backend_name() == "sqlite":
        return "in memory" if is_sqlite_memory(url) else Path(url.database or "").name
    where = f"{url.host or 'localhost'}{f':{url.port}' if url.port else ''}/{url.database or ''}"
    return f"{url.get_backend_name()} {where}"


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        # pre_ping: a server restarted under a long-running studio costs one retry, not an error page
        return create_engine(url, pool_pre_ping=True)

    memory = is_sqlite_memory(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # every connection to :memory: would otherwise be a fresh, empty database
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, record_of: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout=5000")  # first, so the WAL switch itself waits for other writers
            cur.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")  # readers never block the GPU worker's writes
                cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL against app crashes, far fewer fsyncs
        finally:
            cur.close()

    return engine


def unreachable(url: URL, exc: BaseException) -> DatabaseUnreachable:
    """The clear refusal for a server that cannot be reached; the driver's own first line says why."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300] if str(exc).strip() else "no answer"
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return DatabaseUnreachable(
        f"Cannot open the studio database ({describe(url)}): {reason}. Start the database server, create the "
        "database if it is new (createdb NAME), or fix paths.database (form: "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE).")
