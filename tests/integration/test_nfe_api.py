"""NFE compare endpoints through gradio_client against the real smoke server (see conftest.py)."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf
from gradio_client.exceptions import AppError

from tests.helpers import start_server, stop

ON_BOTH_DATABASES = True  # server tests run on a studio with SQLite and one with PostgreSQL (conftest.py)

EN = "Nature (English)"
TEXT = "The quick brown fox jumps over the lazy dog."
NFES = [4, 6]
REF = 8


def _scores(client, text=TEXT, nfes=NFES, ref=REF, seed=7):
    return client.predict(text, EN, nfes, ref, seed, api_name="/nfe_scores")


def _path(f) -> str:
    return f["path"] if isinstance(f, dict) else str(f)


@pytest.fixture(scope="module")
def rendered(client):
    return _scores(client)


def _own_wavs(client, server) -> list[Path]:
    """The WAVs of this module's own renders (TEXT, seed 7, reference REF), wherever the shared server keeps
    other modules' renders: their group folders come from the studio's database (the export leaves the folder
    names out, issue 12)."""
    import sqlalchemy as sa

    from ishowtts_studio.store_engine import to_url

    engine = sa.create_engine(to_url(server.database_url))
    with engine.connect() as con:
        groups = {row[0] for row in con.execute(sa.text(
            "SELECT group_key FROM nfe_renders WHERE text = :t AND seed = 7 AND reference_nfe = :r"),
            {"t": TEXT, "r": REF})}
    engine.dispose()
    assert len(groups) == 1, groups
    return sorted((server.folder / "samples" / "nfe" / groups.pop()).glob("*.wav"))


def _vote_once(client, reviewer: str) -> dict:
    trial_id, _, _ = client.predict(reviewer, api_name="/ab_next_trial")
    return client.predict(trial_id, reviewer, "tie", api_name="/ab_vote")


def test_nfe_scores_rows(client, rendered, studio_server):
    assert [r["nfe"] for r in rendered] == [REF, *NFES]
    ref, *cands = rendered
    assert ref["is_reference"] and ref["pesq_wb"] is None
    for r in cands:
        assert set(r) >= {"nfe", "pesq_wb", "stoi", "estoi", "rtf"}
        assert r["rtf"] > 0
        # smoke weights give noise: a row is either scored or explains why not
        assert (r["pesq_wb"] is not None and r["stoi"] is not None) or r["error"]
    wavs = _own_wavs(client, studio_server)
    lengths = {sf.info(str(w)).frames for w in wavs if not w.name.endswith("-clip.wav")}
    assert len(lengths) == 1, "every NFE render of a text has the reference's duration"


def test_nfe_scores_reused(client, rendered, studio_server):
    again = _scores(client)
    assert again == rendered
    assert len(_own_wavs(client, studio_server)) == 2 * (len(NFES) + 1), "a render and a clip per NFE, no more"


@pytest.mark.parametrize("args, message", [
    ((TEXT, EN, [0], REF, 1), "out of range"),
    ((TEXT, EN, [4, 99], REF, 1), "out of range"),
    ((TEXT, EN, [REF], REF, 1), "different from the reference"),
    ((TEXT, EN, NFES, 0, 1), "out of range"),
    ((TEXT, EN, NFES, REF, -1), "fixed seed"),
    (("", EN, NFES, REF, 1), "Type some text"),
    (("   ", EN, NFES, REF, 1), "Type some text"),
    (("word " * 1000, EN, NFES, REF, 1), "limit is"),
    ((TEXT, "", NFES, REF, 1), "Pick at least one voice"),
    ((TEXT, "No such voice", NFES, REF, 1), "No such voice"),
])
def test_nfe_scores_bad_input(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/nfe_scores")


@pytest.mark.parametrize("name, message", [
    ("", "Enter your name"),
    ("   ", "Enter your name"),
    ("x" * 101, "too long"),
    ("bob\x00", "control characters"),
    ("eve\u202egnp.exe", "invisible or control"),
    ("zero\u200bwidth", "invisible or control"),
    ("tab\there", "control characters"),
    ("!!!", "at least one letter or digit"),
])
def test_hostile_reviewer_names_are_refused_with_a_reason(client, rendered, name, message):
    with pytest.raises(AppError, match=message):
        client.predict(name, api_name="/ab_next_trial")


def _config(url: str) -> str:
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as r:
        return r.read().decode("utf-8")


def test_no_label_leak_before_vote(client, rendered, studio_url):
    trial_id, a, b = client.predict("leak-check", api_name="/ab_next_trial")
    answers = [trial_id, a, b]
    # the answer is the trial id and two files; nothing names an NFE
    assert re.fullmatch(r"[0-9a-f]{32}", trial_id)
    for f in (a, b):
        name = Path(_path(f)).name
        assert re.fullmatch(r"[0-9a-f]{32}-[AB]\.wav", name), name
    text = json.dumps(answers, default=str)
    assert "nfe" not in text.replace("/nfe/", "/").lower()
    config = _config(studio_url)
    for secret in ("nfe_a", "nfe_b", "render_a_id", trial_id):
        assert secret not in config
    # the statistics answer does not know about open trials, so it cannot name this trial's NFEs either
    assert trial_id not in json.dumps(client.predict(api_name="/ab_results"), default=str)
    # the same reviewer asking again before voting gets the same trial (no fishing for other mappings)
    again = client.predict("leak-check", api_name="/ab_next_trial")
    assert again[0] == trial_id
    revealed = client.predict(trial_id, "leak-check", "A", api_name="/ab_vote")
    assert {revealed["a_nfe"], revealed["b_nfe"]} <= {REF, *NFES}
    assert revealed["a_nfe"] != revealed["b_nfe"]
    assert revealed["choice"] == "A"


def test_double_vote_refused(client, rendered):
    trial_id, _, _ = client.predict("double", api_name="/ab_next_trial")
    client.predict(trial_id, "double", "tie", api_name="/ab_vote")
    with pytest.raises(AppError, match="already been voted"):
        client.predict(trial_id, "double", "B", api_name="/ab_vote")
    with pytest.raises(AppError, match="another reviewer"):
        client.predict(trial_id, "someone-else", "B", api_name="/ab_vote")
    with pytest.raises(AppError, match="A, B or tie"):
        t2, _, _ = client.predict("double", api_name="/ab_next_trial")
        client.predict(t2, "double", "maybe", api_name="/ab_vote")


def test_concurrent_reviewers_get_their_own_trials(client, rendered, studio_url):
    from gradio_client import Client

    got: dict[str, str] = {}
    errors = []

    def run(name: str) -> None:
        try:
            c = Client(studio_url, verbose=False, analytics_enabled=False, download_files=False)
            got[name] = c.predict(name, api_name="/ab_next_trial")[0]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"rev{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(set(got.values())) == 4
    for name, tid in got.items():
        with pytest.raises(AppError):
            client.predict(tid, name + "x", "A", api_name="/ab_vote")
        client.predict(tid, name, "B", api_name="/ab_vote")


def test_results_dict(client, rendered):
    # its own vote: the other tests may run in any order, or not at all
    revealed = _vote_once(client, "results-check")
    assert client.predict(revealed["reference_nfe"], api_name="/ab_results")["total_votes"] >= 1
    res = client.predict(REF, api_name="/ab_results")
    for key in ("pairs", "bradley_terry", "position_bias", "votes_per_reviewer", "verdicts", "recommended_nfe",
                "scores", "total_votes"):
        assert key in res
    assert res["smoke"] is True
    assert set(NFES) <= {v["nfe"] for v in res["verdicts"]}  # the shared server may hold other renders too


def test_votes_survive_restart(tmp_path):
    from gradio_client import Client

    server = start_server(tmp_path / "restart")
    try:
        c = Client(server.url, verbose=False, analytics_enabled=False, download_files=False)
        c.predict("Hello there, how are you today?", EN, [4], 6, 3, api_name="/nfe_scores")
        tid, _, _ = c.predict("keeper", api_name="/ab_next_trial")
        c.predict(tid, "keeper", "tie", api_name="/ab_vote")
    finally:
        stop(server.process)
    server = start_server(tmp_path / "restart")
    try:
        c = Client(server.url, verbose=False, analytics_enabled=False, download_files=False)
        res = c.predict(api_name="/ab_results")
        assert res["total_votes"] == 1 and res["votes_per_reviewer"] == {"keeper": 1}
        with pytest.raises(AppError, match="already been voted"):
            c.predict(tid, "keeper", "A", api_name="/ab_vote")
    finally:
        stop(server.process)


def test_fewest_voted_pairs_first_counterbalanced_and_loudness_matched(tmp_path):
    import pyloudnorm
    from gradio_client import Client

    server = start_server(tmp_path / "balance")
    try:
        c = Client(server.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl"))
        c.predict(TEXT, EN, [4, 6], 8, 5, api_name="/nfe_scores")  # pairs: 4-8, 6-8, 4-6
        seen = []
        for i in range(6):
            tid, a, b = c.predict(f"bal{i}", api_name="/ab_next_trial")
            levels = []
            for f in (a, b):
                audio, sr = sf.read(_path(f), dtype="float64")
                levels.append(pyloudnorm.Meter(sr).integrated_loudness(audio))
            assert levels[0] == pytest.approx(levels[1], abs=0.5)
            r = c.predict(tid, f"bal{i}", "tie", api_name="/ab_vote")
            seen.append((r["a_nfe"], r["b_nfe"]))
        pairs = [tuple(sorted(p)) for p in seen]
        assert sorted(set(pairs[:3])) == [(4, 6), (4, 8), (6, 8)], "every pair before any pair twice"
        assert sorted(pairs[3:]) == sorted(pairs[:3])
        for pair in set(pairs):
            sides = [p for p in seen if tuple(sorted(p)) == pair]
            assert sides[0] != sides[1], "the second trial of a pair swaps the sides"
    finally:
        stop(server.process)


def test_export_csv_and_json_with_a_hostile_name(tmp_path):
    import csv

    from gradio_client import Client

    server = start_server(tmp_path / "export")
    try:
        c = Client(server.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl"))
        c.predict(TEXT, EN, [4], 6, 2, api_name="/nfe_scores")
        hostile = '=HYPERLINK("http://evil.example","x") <img src=x onerror=alert(1)>'
        tid, _, _ = c.predict(hostile, api_name="/ab_next_trial")
        revealed = c.predict(tid, hostile, "B", api_name="/ab_vote")
        res = c.predict(api_name="/ab_results", reference_nfe=6)
        assert res["votes_per_reviewer"] == {hostile: 1}  # stored as typed (JSON data, escaped where shown)
        files = [Path(_path(f)) for f in c.predict(api_name="/nfe_export")]
        names = sorted(f.name for f in files)
        assert [n.split("-")[1] for n in names] == ["export", "renders", "verdicts", "votes"]
        verdicts_csv = next(f for f in files if f.name.startswith("nfe-verdicts-"))
        with open(verdicts_csv, newline="", encoding="utf-8") as fh:
            verdicts = list(csv.DictReader(fh))
        # the verdicts are in the export too (issue 13): one row for candidate 4 against reference 6
        assert [(v["reference_nfe"], v["nfe"], v["votes"]) for v in verdicts] == [("6", "4", "1")]
        assert verdicts[0]["verdict"].startswith("not enough votes")
        votes_csv = next(f for f in files if f.name.startswith("nfe-votes-"))
        with open(votes_csv, newline="", encoding="utf-8") as fh:
            (vote,) = list(csv.DictReader(fh))
        assert vote["reviewer"] == "'" + hostile, "a cell starting with = is quoted for spreadsheets"
        assert (int(vote["nfe_a"]), int(vote["nfe_b"])) == (revealed["a_nfe"], revealed["b_nfe"])
        assert vote["choice"] == "B" and vote["text"] == TEXT and vote["seed"] == "2"
        assert vote["voice_slug"] and float(vote["seconds"] or 0) >= 0
        renders_csv = next(f for f in files if f.name.startswith("nfe-renders-"))
        with open(renders_csv, newline="", encoding="utf-8") as fh:
            renders = list(csv.DictReader(fh))
        assert sorted(int(r["nfe"]) for r in renders) == [4, 6]
        assert {"pesq_wb", "stoi", "estoi", "rtf", "error"} <= set(renders[0])
        data = json.loads(next(f for f in files if f.suffix == ".json").read_text(encoding="utf-8"))
        assert data["votes"][0]["reviewer"] == hostile and len(data["renders"]) == 2
    finally:
        stop(server.process)
