"""Alembic migrations on SQLite and a real PostgreSQL database: a new database matches the models, a database
of the last release (schema of commit 9492ccd, before Alembic) upgrades with every row kept, several studios may
open one new database at once, and a database newer than the code (or a server that does not answer) is refused
with a clear message and left unchanged."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import ishowtts_studio.services.chat.store  # noqa: F401 - puts the chat tables on the shared metadata
from ishowtts_studio.migrate import DatabaseTooNew, head_revision
from ishowtts_studio.store import Store, SynthesisRecord
from ishowtts_studio.store_engine import DatabaseUnreachable, to_url
from ishowtts_studio.store_models import Base
from tests.helpers import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(to_url(url))


def _version(url: str) -> list[str]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def test_the_code_knows_three_revisions() -> None:
    assert head_revision() == "0003"


def test_a_new_database_is_at_head_and_matches_the_models(database_url: str) -> None:
    with Store(database_url) as store:
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diffs == [], "the migrations and store_models.py disagree: add a revision for the model change"
        assert store.list_syntheses() == []
    assert _version(database_url) == [head_revision()]


# ---- a database made by the last release, before Alembic ----------------------------------------------
def _value(col: dict[str, Any], i: int) -> Any:
    kind = col["type"]
    if isinstance(kind, sa.Boolean):
        return i % 2 == 0
    if isinstance(kind, sa.Integer):
        return 1000 + i
    if isinstance(kind, sa.Float):
        return 0.25 + i
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 11, 1, 12, 0) + timedelta(minutes=i)
    text = f"{i}中{col['name']}"  # strings and texts (JSON columns only hold text here), within their length
    return text[: getattr(kind, "length", None) or len(text)]


def _release_database(url: str, backend: str) -> None:
    """The schema the 9492ccd models created (tests/fixtures, generated from them), built with the driver."""
    script = (FIXTURES / f"schema_9492ccd.{backend}.sql").read_text(encoding="utf-8")
    if backend == "sqlite":
        with sqlite3.connect(url) as con:
            con.executescript(script)
    else:
        import psycopg

        parsed = to_url(url)
        with psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database,
                             autocommit=True) as con:
            con.execute(script)


def _all_rows(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    meta = sa.MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name == "alembic_version":
                continue
            pk = list(table.primary_key.columns)
            out[name] = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*pk))]
    return out


def test_a_release_database_upgrades_in_place_with_every_row(database_url: str) -> None:
    backend = "postgresql" if "://" in database_url else "sqlite"
    _release_database(database_url, backend)
    engine = _engine(database_url)
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    assert "alembic_version" not in tables and "syntheses" in tables and "chat_messages" in tables
    with engine.begin() as conn:  # three rows in every table, every column filled
        for name in sorted(tables):
            cols = inspector.get_columns(name)
            table = sa.table(name, *[sa.column(c["name"]) for c in cols])
            conn.execute(sa.insert(table), [{c["name"]: _value(c, i) for c in cols} for i in range(3)])
    before = _all_rows(engine)
    engine.dispose()
    assert all(len(rows) == 3 for rows in before.values()) and len(before) == 9

    with Store(database_url) as store:
        after = _all_rows(store.engine)
        history = store.list_syntheses()
        # the new column exists, false for every old row, and new rows can set it
        assert [r.favourite for r in history] == [False, False, False]
        new_id = store.add_synthesis(SynthesisRecord(text="new", voice_name="V", voice_slug="v", engine="f5", nfe=8,
                                                     audio_path="history/new.wav", favourite=True))
        assert store.get_synthesis(new_id).favourite is True
        assert store.get_pref("key-0") is None or isinstance(store.get_pref("key-0"), str | dict | list | int)
    assert set(after) == set(before)
    for name, rows in before.items():
        kept = [{k: v for k, v in row.items() if k not in ("favourite", "skipped_at")} for row in after[name]]
        assert kept == rows, f"rows of {name} changed in the upgrade"
    assert all(row["favourite"] is False for row in after["syntheses"])
    assert all(row["skipped_at"] is None for row in after["ab_trials"])  # revision 0003: no old trial was skipped
    assert _version(database_url) == [head_revision()]
    with Store(database_url) as again:  # opening an upgraded database changes nothing
        assert again.count_syntheses() == 4


def test_a_pre_origin_database_is_taken_in_too(tmp_path: Path) -> None:
    """Releases before the `origin` columns: 0001 adds exactly those (the rest of the schema was the same)."""
    db = tmp_path / "old.db"
    script = (FIXTURES / "schema_9492ccd.sqlite.sql").read_text(encoding="utf-8")
    script = script.replace("\torigin VARCHAR(32) DEFAULT 'ui' NOT NULL, \n", "").replace(
        "\torigin VARCHAR(32), \n", "").replace("CREATE INDEX ix_syntheses_origin ON syntheses (origin);", "")
    with sqlite3.connect(db) as con:
        con.executescript(script)
        assert "origin" not in {r[1] for r in con.execute("PRAGMA table_info('syntheses')")}
    with Store(db) as store:
        assert [c["name"] for c in sa.inspect(store.engine).get_indexes("syntheses")
                if c["column_names"] == ["origin"]] == ["ix_syntheses_origin"]
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_a_foreign_table_is_not_taken_for_a_studio_table_and_nothing_is_half_done(database_url: str) -> None:
    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE syntheses (id INTEGER PRIMARY KEY, something TEXT)"))
    with pytest.raises(RuntimeError, match="has no column created_at"):
        Store(database_url)
    # the migration ran in one transaction: not even the alembic_version table is left behind
    assert sa.inspect(engine).get_table_names() == ["syntheses"]
    engine.dispose()


# ---- several studios, one new database ---------------------------------------------------------------
def test_studios_opening_one_new_database_at_once_all_start(database_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        try:
            barrier.wait()
            with Store(database_url) as store:
                store.set_pref("seen", 1)
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _version(database_url) == [head_revision()]


# ---- refusals -----------------------------------------------------------------------------------------
def test_a_database_from_a_newer_studio_is_refused_and_left_alone(database_url: str) -> None:
    with Store(database_url) as store:
        store.add_synthesis(SynthesisRecord(text="kept", voice_name="V", voice_slug="v", engine="f5", nfe=8,
                                            audio_path="history/a.wav"))
        with store.engine.begin() as conn:  # what a newer studio's revision 0004 would leave
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
            conn.execute(sa.text("CREATE TABLE from_the_future (id INTEGER PRIMARY KEY)"))
    with pytest.raises(DatabaseTooNew) as err:
        Store(database_url)
    message = str(err.value)
    assert "schema revision '0004'" in message and "knows up to '0003'" in message
    assert "newer iShowTTS Studio" in message and "Nothing was changed" in message
    assert "/tmp/" not in message, "a file is named without its folder"
    assert _version(database_url) == ["0004"]
    engine = _engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT text FROM syntheses")).scalars().all() == ["kept"]
    engine.dispose()


def test_a_postgresql_server_that_does_not_answer_is_refused_without_the_password() -> None:
    url = f"postgresql://studio:s3cret-pw@127.0.0.1:{free_port()}/team"
    with pytest.raises(DatabaseUnreachable) as err:
        Store(url)
    message = str(err.value)
    assert "Cannot open the studio database (postgresql 127.0.0.1:" in message and "/team)" in message
    assert "Start the database server" in message and "s3cret" not in message


def test_a_database_that_does_not_exist_on_the_server_is_refused_with_what_to_do(postgres) -> None:
    with pytest.raises(DatabaseUnreachable) as err:
        Store(postgres.url("no_such_database"))
    message = str(err.value)
    assert 'database "no_such_database" does not exist' in message and "createdb NAME" in message
