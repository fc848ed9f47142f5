"""Issue 13 at the Studio facade (an in-process smoke Studio with a real SQLite file and the real engine):
the blind vote's listening check and the live figures that leave benchmark and NFE-render traffic out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import running_studio

TEXT = "Hello there, friend."


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # the shipped listening check (tests elsewhere relax it so they can vote at once)
    with running_studio(tmp_path_factory.mktemp("polish-studio"), **{"nfe.listen_slack_s": 0.5}) as s:
        yield s


def test_a_vote_before_both_clips_could_be_heard_is_refused(studio: Any) -> None:
    from ishowtts_studio.studio import InputError

    voice = studio.voice_names()[0]
    rows = studio.nfe_scores(TEXT, voice, [4], 6, 3)
    clips = sum(r["audio_s"] for r in rows)
    assert clips > 1.0, "the two clips of a trial last long enough to test the rule"
    trial_id, a, b = studio.ab_next_trial("quick-voter")
    with pytest.raises(InputError, match=r"Listen to both clips first: together they last \d+\.\d s"):
        studio.ab_vote(trial_id, "quick-voter", "A")
    # nothing was recorded, and the same trial can be voted once the clips could have been played
    assert studio.store.list_ab_votes() == []
    time.sleep(max(0.0, clips - 0.5) + 1.0)
    revealed = studio.ab_vote(trial_id, "quick-voter", "A")
    assert revealed["trial_id"] == trial_id and len(studio.store.list_ab_votes()) == 1


def test_live_figures_count_live_requests_only(studio: Any) -> None:
    before = studio.metrics.snapshot()
    studio.synthesize("A live line for the figures.", studio.voice_names()[0], nfe=4, seed=1)
    studio.nfe_scores("A render for the comparison only.", studio.voice_names()[0], [3], 5, 2)
    assert studio.metrics.flush(10)
    snap = studio.metrics.snapshot()
    # one live request more in the window; the two NFE renders are reported apart, never as live traffic
    assert snap["window"]["n"] == before["window"]["n"] + 1
    assert snap["other_traffic"].get("nfe", 0) >= before.get("other_traffic", {}).get("nfe", 0) + 2
    assert all(r["source"] == "live" for r in studio.metrics.recent_requests(live_only=True))
    from ishowtts_studio.ui.performance import tiles_html

    html = tiles_html(snap)
    assert "live requests" in html and "NFE-compare render" in html
