"""Bring a studio database to the schema this code expects, with Alembic, when a Store opens.

- An empty database gets every table (revision 0001, then each later one).
- A database made before Alembic existed (no alembic_version table) is taken in by revision 0001, which only
  adds what it lacks, then upgraded; no row is lost.
- A database at an older revision is upgraded in place (one transaction on PostgreSQL).
- A database at a revision this code does not know (a newer studio upgraded it) is refused with
  `DatabaseTooNew`, before anything is changed.

Several studio processes may start at once on one PostgreSQL database: a transaction-level advisory lock
makes them migrate one after the other (the second finds nothing left to do).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from ishowtts_studio.dbfile import DatabaseUnusable
from ishowtts_studio.store_engine import is_sqlite_memory

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x15_7775  # any constant: names the studio's migration lock among PostgreSQL advisory locks


class DatabaseTooNew(DatabaseUnusable):
    """The database was upgraded by a newer studio; this code does not know its schema."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revisions(conn: Connection) -> tuple[str, ...]:
    """The revisions recorded in the database (empty: a new or pre-Alembic database)."""
    return tuple(MigrationContext.configure(conn).get_current_heads())


def _refuse_unknown(revisions: tuple[str, ...], where: str) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    for rev in revisions:
        try:
            known = script.get_revision(rev) is not None
        except CommandError:  # alembic's "no such revision"
            known = False
        if not known:
            raise DatabaseTooNew(
                f"The studio database {where} is at schema revision {rev!r}, which this version of the studio does "
                f"not know (it knows up to {head_revision()!r}): a newer iShowTTS Studio has upgraded it. Nothing "
                "was changed. Start the newer studio version on it, or point paths.database at another database "
                "(or restore a backup made before the upgrade).")


def _sqlite_migration_engine(engine: Engine) -> Engine:
    """An engine whose transactions hold DDL too: Python's sqlite3 commits before every CREATE or ALTER on its
    own, which would leave a failed migration half done. BEGIN IMMEDIATE also makes a second studio opening the
    same file wait until the first has migrated."""
    migration = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(migration, "connect")
    def _own_transactions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver begins nothing by itself; "begin" below does
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(migration, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migration


def upgrade_database(engine: Engine, where: str) -> tuple[tuple[str, ...], str]:
    """Upgrade the database behind `engine` to the head revision in one transaction; returns (revisions before,
    head). `where` names the database in messages (never with a password or a folder)."""
    on_file = engine.dialect.name == "sqlite" and not is_sqlite_memory(engine.url)
    migration = _sqlite_migration_engine(engine) if on_file else engine
    try:
        return _upgrade(migration, where)
    finally:
        if migration is not engine:
            migration.dispose()


def _upgrade(engine: Engine, where: str) -> tuple[tuple[str, ...], str]:
    cfg = alembic_config()
    head = head_revision()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # held to the end of this transaction; a second studio starting now waits here, then finds head
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        before = current_revisions(conn)
        _refuse_unknown(before, where)
        if before != (head,):
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            log.info("database %s upgraded from %s to %s", where, ", ".join(before) or "no revision", head)
    return before, head
