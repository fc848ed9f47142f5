"""A database written before the origin columns existed gets them on open (Alembic revision 0001 takes in a
pre-Alembic database: docs/database.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ishowtts_studio.store import Store, SynthesisRecord

OLD_SYNTHESES = """CREATE TABLE syntheses (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at DATETIME, text TEXT,
voice_name VARCHAR(200), voice_slug VARCHAR(100), engine VARCHAR(64), nfe INTEGER, seed INTEGER, speed FLOAT,
cfg_strength FLOAT, audio_path VARCHAR(500), audio_seconds FLOAT, latency_s FLOAT, ttfa_s FLOAT, rtf FLOAT,
device VARCHAR(200), smoke BOOLEAN)"""
OLD_METRICS = """CREATE TABLE metric_samples (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at DATETIME,
kind VARCHAR(64), engine VARCHAR(64), voice_slug VARCHAR(100), nfe INTEGER, batch_size INTEGER, text_chars INTEGER,
queue_wait_s FLOAT, latency_s FLOAT, ttfa_s FLOAT, audio_seconds FLOAT, rtf FLOAT)"""


def test_old_database_gets_the_origin_columns_and_keeps_its_rows(tmp_path: Path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(OLD_SYNTHESES)
        conn.execute(OLD_METRICS)
        conn.execute("INSERT INTO syntheses (created_at, text, voice_name, voice_slug, engine, nfe, seed, speed, "
                     "cfg_strength, audio_path, audio_seconds, latency_s, device, smoke) VALUES "
                     "('2026-01-01 10:00:00', 'old take', 'V', 'v', 'f5', 16, 1, 1.0, 2.0, 'history/a.wav', 1.5, "
                     "0.2, 'cpu', 0)")
    with Store(db) as store:
        old = store.list_syntheses()
        assert [(r.text, r.origin) for r in old] == [("old take", "ui")]  # rows from before were the page's
        store.add_synthesis(SynthesisRecord(text="new", voice_name="V", voice_slug="v", engine="f5", nfe=8,
                                            audio_path="history/b.wav", origin="api"))
        store.add_metric_sample(kind="request", origin="api", latency_s=0.1)
        assert [r.origin for r in store.list_syntheses()] == ["api", "ui"]
        assert [s.origin for s in store.list_metric_samples()] == ["api"]
    with sqlite3.connect(db) as conn:  # the column index exists too
        indexes = {row[1] for row in conn.execute("PRAGMA index_list('syntheses')")}
    assert any("origin" in name for name in indexes), indexes
    with Store(db) as store:  # opening again changes nothing
        assert len(store.list_syntheses()) == 2
