"""NfeService.render on the real smoke engine, in-process: several voices, texts and seeds in one run,
aligned renders, batching through the shared runtime, reuse, progress and input checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import soundfile as sf

from ishowtts_studio import quality
from ishowtts_studio.services.errors import InputError
from tests.helpers import running_studio

TEXTS = ["Hello there.", "今天天气很好，我们去公园散步吧。"]
CANDIDATES = [3, 5]
REF = 6


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_studio(tmp_path_factory.mktemp("nfe-studio"), **{"engine.max_batch": 4}) as s:
        yield s


@pytest.fixture(scope="module")
def run(studio: Any) -> dict[str, Any]:
    seen: list[tuple[float, str]] = []
    before = len(studio.runtime.recent)
    rows = studio.nfe.render(TEXTS, studio.voices.voice_names()[:2], CANDIDATES, REF, "0, 1",
                             progress=lambda f, desc="": seen.append((f, desc)))
    return {"rows": rows, "progress": seen, "stats": list(studio.runtime.recent)[before:]}


def test_every_voice_text_seed_and_nfe_is_rendered_and_scored(run, studio):
    rows = run["rows"]
    voices = studio.voices.voice_names()[:2]
    assert len(rows) == len(voices) * len(TEXTS) * 2 * (len(CANDIDATES) + 1)
    assert {(r["voice"], r["seed"]) for r in rows} == {(v, s) for v in voices for s in (0, 1)}
    assert {r["text"] for r in rows} == set(TEXTS)
    for r in rows:
        assert r["render_id"] is not None and not r["reused"]
        assert r["rtf"] > 0
        if r["is_reference"]:
            assert r["nfe"] == REF and r["pesq_wb"] is None
        else:  # scored, or a message that says why not
            assert (r["pesq_wb"] is not None and r["stoi"] is not None and r["estoi"] is not None) or r["error"]


def test_renders_of_a_sentence_are_aligned_with_their_reference(run, studio):
    samples = studio.settings.paths.samples
    by_group: dict[tuple, set[int]] = {}
    for r in run["rows"]:
        rec = studio.store.get_nfe_render_by_id(r["render_id"])
        frames = sf.info(str(samples / rec["audio_path"])).frames
        by_group.setdefault((r["voice"], r["text"], r["seed"]), set()).add(frames)
    assert all(len(lengths) == 1 for lengths in by_group.values()), by_group
    assert len({min(v) for v in by_group.values()}) > 1, "different sentences have different lengths"


def test_renders_of_one_nfe_share_batches(run):
    stats = run["stats"]
    assert len(stats) == len(run["rows"])
    assert max(s.batch_size for s in stats) > 1
    # one NFE at a time: the reference first, then each candidate, never mixed
    nfes = [s.nfe for s in stats]
    assert nfes == sorted(nfes, key=[REF, *CANDIDATES].index)


def test_progress_goes_from_zero_to_one(run):
    fractions = [f for f, _ in run["progress"]]
    assert fractions[0] == 0 and fractions[-1] == pytest.approx(1.0)
    assert all(a <= b + 1e-9 for a, b in zip(fractions, fractions[1:]))
    assert any("NFE 5" in d for _, d in run["progress"])


def test_second_run_reuses_everything_and_a_lost_file_is_rendered_again(run, studio):
    before = studio.runtime.completed
    again = studio.nfe.render(TEXTS, studio.voices.voice_names()[:2], CANDIDATES, REF, [0, 1])
    assert studio.runtime.completed == before, "nothing was rendered again"
    assert all(r["reused"] for r in again)
    key = ("pesq_wb", "stoi", "estoi", "rtf", "render_id")
    assert [tuple(r[k] for k in key) for r in again] == [tuple(r[k] for k in key) for r in run["rows"]]
    # a subset (one voice, one seed, one candidate) is all reused too
    sub = studio.nfe.render(TEXTS[:1], studio.voices.voice_names()[:1], [5], REF, 1)
    assert len(sub) == 2 and all(r["reused"] for r in sub)
    # a render whose file is gone is rendered again, the rest reused
    victim = next(r for r in again if r["nfe"] == 3)
    rec = studio.store.get_nfe_render_by_id(victim["render_id"])
    (studio.settings.paths.samples / rec["audio_path"]).unlink()
    third = studio.nfe.render(TEXTS, studio.voices.voice_names()[:2], CANDIDATES, REF, [0, 1])
    assert studio.runtime.completed == before + 1
    assert [r["render_id"] for r in third if not r["reused"]] == [victim["render_id"]]


def test_summary_per_nfe_across_sentences(run):
    summary = {e["nfe"]: e for e in quality.summarise(run["rows"], REF)}
    assert set(summary) == {REF, *CANDIDATES}
    assert summary[REF]["is_reference"] and summary[REF]["pesq_wb"] is None
    for n in CANDIDATES:
        e = summary[n]
        assert e["renders"] == 8
        lo, hi = e["rtf_ci"]
        assert lo <= e["rtf"] <= hi
        if e["pesq_wb"] is not None and e["pesq_wb_n"] > 1:
            assert e["pesq_wb_ci"][0] <= e["pesq_wb"] <= e["pesq_wb_ci"][1]


@pytest.mark.parametrize("kwargs, message", [
    ({"texts": []}, "Pick at least one sentence"),
    ({"texts": ["   "]}, "Pick at least one sentence"),
    ({"texts": ["ok", "x" * 5000]}, "Text 2"),
    ({"texts": ["🙂🙂"]}, "nothing to speak"),
    ({"voices": []}, "Pick at least one voice"),
    ({"voices": ["Nobody at all"]}, "Nobody at all"),
    ({"nfes": "4, five"}, "whole numbers"),
    ({"nfes": [0]}, "out of range"),
    ({"nfes": [65]}, "out of range"),
    ({"nfes": [2.5]}, "whole number"),
    ({"nfes": [REF]}, "different from the reference"),
    ({"reference_nfe": 200}, "out of range"),
    ({"seeds": "-1"}, "fixed seeds"),
    ({"seeds": "1, x"}, "whole numbers"),
    ({"seeds": [0.5]}, "whole numbers"),
    ({"seeds": list(range(17))}, "Too many seeds"),
    ({"texts": [f"Sentence number {i}." for i in range(300)], "nfes": [2, 3, 4, 5, 6, 7, 8, 10]}, "at most 2000"),
])
def test_bad_input_is_explained_before_anything_renders(studio, kwargs, message):
    args = {"texts": TEXTS[:1], "voices": studio.voices.voice_names()[:1], "nfes": [4], "reference_nfe": REF,
            "seeds": 0}
    args.update(kwargs)
    before = studio.runtime.completed
    with pytest.raises(InputError, match=message):
        studio.nfe.render(args["texts"], args["voices"], args["nfes"], args["reference_nfe"], args["seeds"])
    assert studio.runtime.completed == before
