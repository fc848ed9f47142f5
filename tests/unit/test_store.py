"""Store against a real SQLite file in tmp_path and a real PostgreSQL database (the `database_url` fixture runs
each test on both; the SQLite-only tests at the top take a path of their own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ishowtts_studio.store import Store, SynthesisRecord


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.close()


def _rec(**overrides: object) -> SynthesisRecord:
    base = SynthesisRecord(
        text="Hello there",
        voice_name="Nature (English)",
        voice_slug="nature-english",
        engine="f5",
        nfe=16,
        seed=1234,
        speed=1.1,
        cfg_strength=2.5,
        audio_path="2024/out-1.wav",
        audio_seconds=3.5,
        latency_s=0.42,
        ttfa_s=0.12,
        rtf=0.12,
        device="NVIDIA H100",
        smoke=True,
    )
    return replace(base, **overrides)


def test_path_creates_parent_and_sqlite_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "deeper" / "studio.sqlite"
    with Store(db) as s:
        assert db.is_file()
        with s.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert s.url.get_backend_name() == "sqlite"


def test_sqlalchemy_url_accepted(tmp_path: Path) -> None:
    db = tmp_path / "viaurl" / "x.sqlite"
    with Store(f"sqlite:///{db}") as s:
        s.set_pref("k", 1)
        assert s.get_pref("k") == 1
    assert db.is_file()
    with Store(str(db)) as again:  # a plain string path reopens the same file
        assert again.get_pref("k") == 1


def test_in_memory_url_shares_one_database() -> None:
    with Store("sqlite://") as s:
        s.add_synthesis(_rec())
        assert s.count_syntheses() == 1


def test_synthesis_round_trip(store: Store) -> None:
    rec = _rec()
    new_id = store.add_synthesis(rec)
    got = store.get_synthesis(new_id)
    assert got is not None
    assert got.id == new_id
    assert got.created_at is not None and got.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - got.created_at).total_seconds()) < 60
    assert replace(got, id=None, created_at=None) == rec
    assert store.get_synthesis(new_id + 100) is None


def test_synthesis_optional_fields_stay_none(store: Store) -> None:
    rec = SynthesisRecord(text="t", voice_name="V", voice_slug="v", engine="f5", nfe=8, audio_path="a.wav")
    got = store.get_synthesis(store.add_synthesis(rec))
    assert got is not None
    assert got.seed is None and got.ttfa_s is None and got.rtf is None and got.smoke is False


def test_list_newest_first_with_paging_and_counts(store: Store) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ids = [
        store.add_synthesis(_rec(text=f"n{i}", voice_slug="a" if i % 3 else "b", created_at=t0 + timedelta(minutes=i)))
        for i in range(7)
    ]
    listed = store.list_syntheses(limit=3)
    assert [r.id for r in listed] == ids[::-1][:3]
    assert [r.text for r in store.list_syntheses(limit=3, offset=3)] == ["n3", "n2", "n1"]
    assert store.list_syntheses(limit=10, offset=6)[0].text == "n0"
    assert store.count_syntheses() == 7
    assert store.voice_usage_counts() == {"a": 4, "b": 3}
    # The stored timestamp keeps its UTC meaning.
    assert store.get_synthesis(ids[2]).created_at == t0 + timedelta(minutes=2)


def test_non_utc_timestamp_is_converted(store: Store) -> None:
    plus8 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=8)))
    got = store.get_synthesis(store.add_synthesis(_rec(created_at=plus8)))
    assert got.created_at == datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    assert got.created_at.utcoffset() == timedelta(0)


def test_preferences_upsert_and_json_types(store: Store) -> None:
    assert store.get_pref("default_nfe") is None
    assert store.get_pref("default_nfe", 32) == 32
    store.set_pref("default_nfe", 16)
    store.set_pref("default_nfe", 8)  # upsert, not a duplicate key error
    assert store.get_pref("default_nfe") == 8
    value = {"nfe": [8, 16], "note": "中文", "ok": True, "none": None}
    store.set_pref("complex", value)
    assert store.get_pref("complex") == value
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM preferences WHERE key='default_nfe'")).scalar() == 1
    with pytest.raises(TypeError):
        store.set_pref("bad", object())


def test_metric_samples(store: Store) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(5):
        store.add_metric_sample(
            created_at=t0 + timedelta(seconds=i),
            kind="request" if i != 2 else "bench",
            engine="f5",
            voice_slug="v",
            nfe=8,
            batch_size=2,
            text_chars=40 + i,
            queue_wait_s=0.01,
            latency_s=0.5,
            ttfa_s=0.1,
            audio_seconds=3.0,
            rtf=0.17,
        )
    new_id = store.add_metric_sample(latency_s=0.2)  # defaults: now, kind="request"
    assert isinstance(new_id, int)

    everything = store.list_metric_samples()
    assert len(everything) == 6
    assert everything[-1].id == new_id and everything[-1].kind == "request"
    assert [s.text_chars for s in everything[:5]] == [40, 41, 42, 43, 44]  # oldest first

    since = store.list_metric_samples(since=t0 + timedelta(seconds=3))
    assert [s.text_chars for s in since] == [43, 44, None]
    newest_two = store.list_metric_samples(limit=2)
    assert [s.id for s in newest_two] == [everything[-2].id, new_id]
    assert [s.text_chars for s in store.list_metric_samples(kind="bench")] == [42]
    assert everything[0].batch_size == 2 and everything[0].rtf == pytest.approx(0.17)

    with pytest.raises(TypeError, match="bogus"):
        store.add_metric_sample(bogus=1)


def test_benchmark_runs_and_baseline_replace(store: Store) -> None:
    first = store.add_benchmark_run({"device": "H100", "rtf": 0.2}, name="main", baseline=True)
    plain = store.add_benchmark_run({"rtf": 0.3}, name="main")  # an ordinary run may share the name
    assert store.get_baseline("main") == {"device": "H100", "rtf": 0.2}

    second = store.add_benchmark_run({"device": "H100", "rtf": 0.1}, name="main", baseline=True)
    assert store.get_baseline("main") == {"device": "H100", "rtf": 0.1}
    assert store.get_baseline("missing") is None
    assert store.list_baseline_names() == ["main"]

    runs = store.list_benchmark_runs()
    assert [r.id for r in runs] == [second, plain, first]
    by_id = {r.id: r for r in runs}
    assert by_id[second].is_baseline and not by_id[first].is_baseline  # old baseline kept as a plain run
    assert by_id[second].device == "H100"  # taken from the payload
    assert by_id[plain].device is None
    assert len(store.list_benchmark_runs(limit=1)) == 1

    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM benchmark_runs WHERE name='main' AND is_baseline")).scalar()
    assert n == 1

    with pytest.raises(ValueError, match="name"):
        store.add_benchmark_run({}, baseline=True)
    assert store.delete_benchmark_run(plain) is True
    assert store.delete_benchmark_run(plain) is False


def test_unique_baseline_enforced_by_database(store: Store) -> None:
    store.add_benchmark_run({"x": 1}, name="b", baseline=True)
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO benchmark_runs (created_at, name, is_baseline, payload) "
                "VALUES ('2024-01-01 00:00:00', 'b', true, '{}')"
            )
        )


def test_concurrent_inserts_from_threads(store: Store) -> None:
    n_threads, per_thread = 8, 25
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> list[int]:
        barrier.wait()  # start together so the writes really contend
        ids = []
        for i in range(per_thread):
            ids.append(store.add_synthesis(_rec(text=f"{t}-{i}", voice_slug=f"v{t}")))
            store.add_metric_sample(latency_s=float(i))
            store.set_pref(f"thread-{t}", i)
        return ids

    with ThreadPoolExecutor(n_threads) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(worker, t) for t in range(n_threads)]]
    ids = [i for r in results for i in r]
    assert len(set(ids)) == n_threads * per_thread
    assert store.count_syntheses() == n_threads * per_thread
    assert store.voice_usage_counts() == {f"v{t}": per_thread for t in range(n_threads)}
    assert len(store.list_metric_samples(limit=10_000)) == n_threads * per_thread
    assert all(store.get_pref(f"thread-{t}") == per_thread - 1 for t in range(n_threads))


def test_two_stores_on_one_database_see_each_other(database_url: str) -> None:
    with Store(database_url) as a, Store(database_url) as b:
        a.add_synthesis(_rec())
        b.set_pref("x", "y")
        assert b.count_syntheses() == 1
        assert a.get_pref("x") == "y"


# ---- NFE renders, A/B trials and votes: typed records --------------------------------------------------
def _render(store: Store, key: str, nfe: int, **overrides: object) -> int:
    fields: dict[str, object] = dict(
        key=key, group_key="g1", voice_slug="nature", voice_hash="h" * 64, text="Hello.", seed=0, nfe=nfe,
        reference_nfe=32, speed=1.0, cfg_strength=2.0, sway_coef=-1.0, duration_frames="[120]",
        audio_path=f"nfe/g1/{nfe}.wav", clip_path=f"nfe/g1/{nfe}-clip.wav", sample_rate=24000,
        audio_seconds=1.25, latency_s=0.2, rtf=0.16, pesq_wb=3.9, stoi=0.95, estoi=0.9)
    fields.update(overrides)
    return store.add_nfe_render(**fields)


def test_nfe_renders_are_typed_records_and_a_key_is_stored_once(store: Store) -> None:
    from ishowtts_studio.store import NfeRender

    first = _render(store, "k8", 8)
    assert _render(store, "k8", 8, rtf=9.9) == first, "the render already stored under the key wins"
    ref = _render(store, "k32", 32, pesq_wb=None, stoi=None, estoi=None)
    got = store.get_nfe_render("k8")
    assert isinstance(got, NfeRender) and got.id == first and got.rtf == pytest.approx(0.16)
    assert store.get_nfe_render_by_id(ref).nfe == 32 and store.get_nfe_render_by_id(ref).pesq_wb is None
    assert store.get_nfe_render("nope") is None and store.get_nfe_render_by_id(999) is None
    assert [r.id for r in store.list_nfe_renders()] == [first, ref]
    assert store.list_nfe_renders(group="other") == []
    as_dict = got.to_dict()
    assert as_dict["audio_path"] == "nfe/g1/8.wav" and isinstance(as_dict["created_at"], str)
    datetime.fromisoformat(as_dict["created_at"])


def test_trials_and_votes_one_vote_per_trial(store: Store) -> None:
    from ishowtts_studio.store import AbTrial, AbVote

    a, b = _render(store, "k8", 8), _render(store, "k32", 32)
    store.add_ab_trial(id="t1", reviewer="Rita", render_a_id=b, render_b_id=a, nfe_a=32, nfe_b=8,
                       clip_a="nfe/ab/t1-A.wav", clip_b="nfe/ab/t1-B.wav")
    trial = store.open_ab_trial("Rita")
    assert isinstance(trial, AbTrial) and (trial.id, trial.nfe_a, trial.nfe_b) == ("t1", 32, 8)
    assert store.open_ab_trial("Someone else") is None
    assert store.ab_pairs_seen("Rita") == {(a, b)}
    assert store.ab_pair_counts() == {(a, b): {"trials": 1, "low_on_a": 0}}
    store.add_ab_vote(trial_id="t1", reviewer="Rita", nfe_a=32, nfe_b=8, reference_nfe=32, choice="tie", seconds=4.5)
    with pytest.raises(ValueError, match="already been voted"):
        store.add_ab_vote(trial_id="t1", reviewer="Rita", nfe_a=32, nfe_b=8, reference_nfe=32, choice="A")
    assert store.open_ab_trial("Rita") is None, "a voted trial is not handed out again"
    (vote,) = store.list_ab_votes()
    assert isinstance(vote, AbVote) and (vote.choice, vote.seconds) == ("tie", 4.5)
    assert vote.to_dict()["trial_id"] == "t1" and store.get_ab_trial("t1").reviewer == "Rita"
