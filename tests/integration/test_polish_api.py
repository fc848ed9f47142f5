"""Issue 13 at the Studio facade (an in-process smoke Studio with a real SQLite file and the real engine):
the blind vote's listening check and the live figures that leave benchmark and NFE-render traffic out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import EN_CLIP, running_studio

TEXT = "Hello there, friend."


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # the shipped listening check (tests elsewhere relax it so they can vote at once)
    with running_studio(tmp_path_factory.mktemp("polish-studio"), **{"nfe.listen_slack_s": 0.5}) as s:
        yield s


def test_a_vote_before_both_clips_could_be_heard_is_refused(studio: Any) -> None:
    from ishowtts_studio.studio import InputError

    voice = studio.voices.voice_names()[0]
    rows = studio.nfe.scores(TEXT, voice, [4], 6, 3)
    clips = sum(r["audio_s"] for r in rows)
    assert clips > 1.0, "the two clips of a trial last long enough to test the rule"
    trial_id, a, b = studio.ab.next_trial("quick-voter")
    with pytest.raises(InputError, match=r"Listen to both clips first: together they last \d+\.\d s"):
        studio.ab.vote(trial_id, "quick-voter", "A")
    # nothing was recorded, and the same trial can be voted once the clips could have been played
    assert studio.store.list_ab_votes() == []
    time.sleep(max(0.0, clips - 0.5) + 1.0)
    revealed = studio.ab.vote(trial_id, "quick-voter", "A")
    assert revealed["trial_id"] == trial_id and len(studio.store.list_ab_votes()) == 1


def test_live_figures_count_live_requests_only(studio: Any) -> None:
    before = studio.metrics.snapshot()
    studio.synthesis.synthesize("A live line for the figures.", studio.voices.voice_names()[0], nfe=4, seed=1)
    studio.nfe.scores("A render for the comparison only.", studio.voices.voice_names()[0], [3], 5, 2)
    assert studio.metrics.flush(10)
    snap = studio.metrics.snapshot()
    # one live request more in the window; the two NFE renders are reported apart, never as live traffic
    assert snap["window"]["n"] == before["window"]["n"] + 1
    assert snap["other_traffic"].get("nfe", 0) >= before.get("other_traffic", {}).get("nfe", 0) + 2
    assert all(r["origin"] not in ("nfe", "bench") for r in studio.metrics.recent_requests(live_only=True))
    from ishowtts_studio.ui.performance import tiles_html

    html = tiles_html(snap)
    assert "live requests" in html and "NFE-compare render" in html


def test_benchmark_table_shows_dashes_not_nan_and_ttfa_beside_the_served_latency() -> None:
    from ishowtts_studio.bench import format_table

    stats = {"median": 0.05, "p95": 0.06, "cv": 0.1}
    row = {"lang": "en", "text": "short", "nfe": 8, "audio_s": 3.9, "ours_latency": stats,
           "ours_rtf": {"median": 0.013}, "peak_mem_mib": None, "parts": {}}
    served = dict(row, ours_ttfa={"median": 0.09}, ours_served_latency={"median": 0.11})
    table = format_table({"device": "cpu", "precision": "float32", "rows": [row, served]})
    assert "nan" not in table.lower()  # before: "nan" in every column this run did not measure
    head, first, second = table.splitlines()[1:4]
    assert "served ms" in head and "—" in first

    def column(line: str, name: str) -> str:  # right-aligned: a value ends where its header ends
        end = head.index(name) + len(name)
        return line[:end].split()[-1]

    assert column(first, "TTFA ms") == "—" and column(first, "stock ms") == "—"
    ttfa, total = float(column(second, "TTFA ms")), float(column(second, "served ms"))
    assert ttfa <= total  # the TTFA column stands next to the latency of the same requests


def test_an_adopted_nfe_reaches_the_open_page(studio: Any) -> None:
    """Smoke renders cannot be scored by PESQ (noise), so no candidate is ever adoptable in a smoke browser; the
    page's wiring is checked on the built Blocks instead, and the updates it sends on the real Studio."""
    from ishowtts_studio.ui.app import build_ui
    from ishowtts_studio.ui.live import nfe_slider
    from ishowtts_studio.ui.performance import bench_nfes_update

    studio.preferences.set_default_nfe(7)
    slider = nfe_slider(studio)
    assert slider.value == 7 and "default is 7 (adopted in NFE compare)" in slider.info
    bench = bench_nfes_update(studio)
    assert 7 in [c[1] if isinstance(c, tuple) else c for c in bench.choices] and bench.value == [7]

    config = build_ui(studio).get_config_file()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"] if c.get("props", {}).get("elem_id")}
    deps = config["dependencies"]
    adopt = next(d for d in deps if [ids["nfe-adopt"], "click"] in [list(t) for t in d["targets"]])
    after = [d for d in deps if d.get("trigger_after") == adopt["id"]]
    # before the fix nothing followed the adopt click: the Live slider kept its old value until a reload
    assert after and after[0]["trigger_only_on_success"]
    assert {ids["live-nfe"], ids["bench-nfe"]} <= set(after[0]["outputs"])


def test_history_search_delete_and_descriptive_file_names(studio: Any) -> None:
    from ishowtts_studio.studio import InputError

    voice = studio.voices.get_voice(studio.voices.voice_names()[0])
    outcome = studio.synthesis.synthesize("Zebra crossing at noon, please.", voice.name, nfe=4, seed=3)
    assert outcome.wav_path.name.startswith(f"{voice.slug}-zebra-crossing-at-noon-please-")
    found = studio.synthesis.search_history("ZEBRA noon")
    assert [r["id"] for r in found] == [outcome.history_id]
    assert studio.synthesis.search_history("zebra giraffe") == []
    assert studio.synthesis.delete_history(outcome.history_id)["id"] == outcome.history_id
    assert not outcome.wav_path.exists() and studio.synthesis.search_history("zebra") == []
    with pytest.raises(InputError, match="deleted already"):
        studio.synthesis.delete_history(outcome.history_id)
    with pytest.raises(InputError, match="Select a take"):
        studio.synthesis.delete_history(None)


def test_cleaning_report_words_agree_with_numbers() -> None:
    from ishowtts_studio.ui.voices import words_kept
    from ishowtts_studio.voice_cleaning import loudness_message

    assert loudness_message(-25.0, -20.0, -20.0) == "Raised the loudness from -25.0 to -20.0 LUFS (target -20 LUFS)."
    assert loudness_message(-14.0, -20.0, -20.0).startswith("Lowered the loudness from -14.0 to -20.0 LUFS")
    # peaks kept it 4 dB under: said in numbers (before: "a little quieter than the target")
    limited = loudness_message(-30.0, -24.0, -20.0)
    assert "4.0 dB under the target of -20 LUFS" in limited and "a little" not in limited
    assert "already at the target" in loudness_message(-20.0, -20.0, -20.0)
    kept = words_kept("one two three four five six seven eight nine ten", 6.0, 12.0)
    assert kept and "first 5 of 10 words" in kept and "one two three four five …" in kept
    assert words_kept("one two", 12.0, 12.0) is None and words_kept("", 6.0, 12.0) is None


def test_a_long_real_clip_cut_says_which_words_remain(studio: Any, tmp_path: Any) -> None:
    import numpy as np
    import soundfile as sf

    from ishowtts_studio.ui.voices import clean_preview

    audio, sr = sf.read(str(EN_CLIP), dtype="float32")
    long = tmp_path / "long.wav"
    sf.write(str(long), np.concatenate([audio, audio, audio]), sr)  # ~16 s of real speech: over the limit
    words = "Some call me nature, others call me mother nature."
    _, _, report = clean_preview(studio, str(long), " ".join([words] * 3))
    assert "Cut to" in report and "About the first" in report and "of 27 words remain" in report
