"""Favourites and skipped A/B trials in a real SQLite file (also one written before the columns existed), the
take-number and format checks of the downloads, and where each sentence sits in a joined take."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.regenerate import check_sentence, join_placements
from ishowtts_studio.services.takes import check_format, check_take_ids
from ishowtts_studio.store import Store, SynthesisRecord

# the history table as it was before favourites (and before `origin`)
OLD_SYNTHESES = """CREATE TABLE syntheses (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at DATETIME, text TEXT,
voice_name VARCHAR(200), voice_slug VARCHAR(100), engine VARCHAR(64), nfe INTEGER, seed INTEGER, speed FLOAT,
cfg_strength FLOAT, audio_path VARCHAR(500), audio_seconds FLOAT, latency_s FLOAT, ttfa_s FLOAT, rtf FLOAT,
device VARCHAR(200), smoke BOOLEAN)"""


def _take(store: Store, text: str) -> int:
    return store.add_synthesis(SynthesisRecord(text=text, voice_name="V", voice_slug="v", engine="f5", nfe=8,
                                               audio_path=f"history/{text}.wav"))


def test_favourites_are_stored_and_filtered(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        a, b, c = _take(store, "a"), _take(store, "b"), _take(store, "c")
        assert store.set_favourite(b, True).favourite is True
        store.set_favourite(c, True)
        assert [r.id for r in store.list_syntheses(favourites_only=True)] == [c, b]
        assert store.set_favourite(c, False).favourite is False
        assert [r.id for r in store.list_syntheses(favourites_only=True)] == [b]
        assert [r.id for r in store.list_syntheses()] == [c, b, a]
        assert store.set_favourite(999, True) is None


def test_an_old_database_gets_the_favourite_column_unstarred(tmp_path: Path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(OLD_SYNTHESES)
        conn.execute("INSERT INTO syntheses (created_at, text, voice_name, voice_slug, engine, nfe, audio_path) "
                     "VALUES ('2026-01-01 10:00:00', 'old take', 'V', 'v', 'f5', 16, 'history/a.wav')")
    with Store(db) as store:
        (old,) = store.list_syntheses()
        assert old.favourite is False
        store.set_favourite(old.id, True)
        assert [r.text for r in store.list_syntheses(favourites_only=True)] == ["old take"]


def test_a_skipped_trial_is_not_reopened_and_a_voted_one_cannot_be_skipped(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        fields = {"reviewer": "r", "render_a_id": 1, "render_b_id": 2, "nfe_a": 4, "nfe_b": 32, "clip_a": "a",
                  "clip_b": "b"}
        store.add_ab_trial(id="t1", **fields)
        assert store.open_ab_trial("r").id == "t1"
        assert store.skip_ab_trial("t1") is True
        assert store.get_ab_trial("t1").skipped_at is not None
        assert store.open_ab_trial("r") is None
        assert store.ab_pairs_skipped("r") == {(1, 2)} and store.ab_pairs_skipped("other") == set()
        store.add_ab_trial(id="t2", **dict(fields, render_a_id=3))
        store.add_ab_vote(trial_id="t2", reviewer="r", nfe_a=4, nfe_b=32, reference_nfe=32, choice="A")
        assert store.skip_ab_trial("t2") is False and store.get_ab_trial("t2").skipped_at is None
        assert store.skip_ab_trial("nope") is False


@pytest.mark.parametrize(("ids", "want"), [("3, 5 3", [3, 5]), ([7, 7.0, "8"], [7, 8])])
def test_take_numbers(ids, want):
    assert check_take_ids(ids) == want


@pytest.mark.parametrize(("ids", "message"), [("", "No takes to download"), ("3, x", "Select a take"),
                                              ([0], "whole number from 1"), (list(range(1, 502)), "At most 500")])
def test_bad_take_numbers_say_what_to_do(ids, message):
    with pytest.raises(InputError, match=message):
        check_take_ids(ids)


def test_formats():
    assert check_format("MP3") == "mp3" and check_format(None) == "wav"
    with pytest.raises(InputError, match="choose WAV or MP3"):
        check_format("flac")
    with pytest.raises(InputError, match="from 1 to 3"):
        check_sentence(4, 3)
    assert check_sentence("2", 3) == 1


def test_placements_follow_the_streaming_join():
    """The runtime's join (`runtime.py`, emit_ready): chunk i keeps a tail of at most `fade` samples and half of
    what is left of it, which cross-fades with at most half of chunk i+1. Worked by hand for 1200, 250 and 900
    samples with a 150-sample fade: the short middle chunk limits both of its cross-fades (125, then 62)."""
    placements, total = join_placements([1200, 250, 900], 150)
    assert total == 1200 + 250 + 900 - 125 - 62
    assert [(p.start, p.end) for p in placements] == [(0, 1200), (1075, 1325), (1263, 2163)]
    one, _ = join_placements([500], 150)
    assert [(p.start, p.end) for p in one] == [(0, 500)]
    plain, total = join_placements([300, 300], 0)  # no cross-fade: chunks simply follow each other
    assert total == 600 and [(p.start, p.end) for p in plain] == [(0, 300), (300, 600)]
