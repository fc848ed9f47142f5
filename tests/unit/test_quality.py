"""Objective scores on real speech (the f5-tts example clip)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio import quality
from tests.helpers import EN_CLIP


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    audio, sr = sf.read(str(EN_CLIP), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return audio, sr


def test_clip_against_itself_is_perfect(speech):
    audio, sr = speech
    s = quality.score(audio, audio, sr)
    assert s.ok, s.error
    assert s.pesq_wb == pytest.approx(4.64, abs=0.01)
    assert s.stoi == pytest.approx(1.0, abs=1e-3)
    assert s.estoi == pytest.approx(1.0, abs=1e-3)


def test_scores_fall_monotonically_with_noise(speech):
    audio, sr = speech
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(audio.size).astype(np.float32)
    level = float(np.sqrt(np.mean(audio**2)))
    rows = []
    for snr_db in (40, 20, 10, 0):
        noisy = audio + noise * level / (10 ** (snr_db / 20))
        s = quality.score(audio, noisy, sr)
        assert s.ok, s.error
        rows.append(s)
    pesqs = [r.pesq_wb for r in rows]
    assert all(a > b for a, b in zip(pesqs, pesqs[1:])), pesqs
    assert pesqs[0] < 4.64
    stois = [r.estoi for r in rows]
    assert all(a > b for a, b in zip(stois, stois[1:])), stois


def test_silence_gives_a_message_not_a_crash(speech):
    audio, sr = speech
    s = quality.score(audio, np.zeros_like(audio), sr)
    assert not s.ok and "silent" in s.error
    assert s.pesq_wb is None and s.stoi is None


def test_too_little_speech_for_stoi_is_not_a_score(speech):
    """A 2 s render with 0.1 s of speech: pystoi drops the silent frames, has too few left and answers 1e-5 with
    only a warning; that was stored and averaged as a real (terrible) STOI."""
    audio, sr = speech
    burst = audio[sr: sr + sr // 10]
    ref = np.zeros(2 * sr, np.float32)
    ref[sr: sr + burst.size] = burst
    s = quality.score(ref, ref.copy(), sr)
    assert s.stoi is None and s.estoi is None
    assert "STOI gave no score" in s.error


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda a: np.where(np.arange(a.size) == 100, np.nan, a).astype(np.float32), "NaN"),
        (lambda a: a[:2000], "too short"),
        (lambda a: np.zeros(0, np.float32), "empty"),
        (lambda a: a[: a.size // 2], "differ in length"),
    ],
)
def test_bad_inputs_are_explained(speech, make, words):
    audio, sr = speech
    s = quality.score(audio, make(audio), sr)
    assert not s.ok and words in s.error


def test_mean_ci():
    m, lo, hi = quality.mean_ci([1.0, 2.0, 3.0, None])
    assert m == pytest.approx(2.0)
    # t(0.975, 2) = 4.302653, sd = 1, n = 3
    assert hi - m == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)
    assert quality.mean_ci([None]) == (None, None, None)
    assert quality.mean_ci([5.0]) == (5.0, None, None)
    assert quality.mean_ci([5.0, 6.0]) == (5.5, None, None)  # too few for an interval


def test_interval_stays_inside_what_the_quantity_can_be():
    # issue 13: "RTF 1.130 [-2.485, 4.746]" (n = 2); a wide spread at n = 3 is cut at zero, STOI at one
    m, lo, hi = quality.mean_ci([0.05, 0.1, 3.0], bounds=quality.SCORE_BOUNDS["rtf"])
    assert lo == 0.0 and hi > m
    m, lo, hi = quality.mean_ci([0.2, 0.99, 0.99], bounds=quality.SCORE_BOUNDS["stoi"])
    assert hi == 1.0 and 0.0 <= lo < m
    rows = [{"nfe": 8, "pesq_wb": 1.1, "stoi": 0.5, "estoi": 0.4, "rtf": r, "error": None} for r in (0.02, 0.05, 3.3)]
    (e,) = quality.summarise(rows, 32)
    assert e["rtf_ci"][0] >= 0 and e["pesq_wb_ci"][0] >= 1.0


def test_summarise_per_nfe_by_hand():
    rows = [
        {"nfe": 32, "pesq_wb": None, "stoi": None, "estoi": None, "rtf": 0.5, "error": None},
        {"nfe": 32, "pesq_wb": None, "stoi": None, "estoi": None, "rtf": 0.7, "error": None},
        {"nfe": 8, "pesq_wb": 3.0, "stoi": 0.90, "estoi": 0.80, "rtf": 0.1, "error": None},
        {"nfe": 8, "pesq_wb": 4.0, "stoi": 0.94, "estoi": 0.84, "rtf": 0.2, "error": None},
        {"nfe": 8, "pesq_wb": None, "stoi": None, "estoi": None, "rtf": 0.3, "error": "The candidate render is silent"},
    ]
    ref, eight = sorted(quality.summarise(rows, 32), key=lambda e: -e["nfe"])
    assert ref["is_reference"] and ref["renders"] == 2 and ref["pesq_wb"] is None
    assert ref["rtf"] == pytest.approx(0.6)
    # two values give no interval (t(0.975, 1) = 12.7 would make it [-0.67, 1.87]: an RTF below zero)
    assert ref["rtf_ci"] == [None, None]
    assert (eight["renders"], eight["errors"], eight["pesq_wb_n"], eight["rtf_n"]) == (3, 1, 2, 3)
    assert eight["pesq_wb"] == pytest.approx(3.5) and eight["stoi"] == pytest.approx(0.92)
    assert eight["pesq_wb_ci"] == [None, None]  # two values: no interval
    # rtf 0.1, 0.2, 0.3: sd 0.1, t(0.975, 2) = 4.302653 -> half 0.24841; an RTF cannot be below 0
    assert eight["rtf_ci"] == pytest.approx([0.0, 0.2 + 0.24841], abs=1e-4)


def test_nfe_plots_frontier_and_error_bars():
    from ishowtts_studio.ui import plots

    # (rtf, pesq, nfe): 8 is beaten by 6 (faster and better), so it is off the frontier
    pts = [(0.1, 3.0, 4), (0.2, 3.8, 6), (0.3, 3.5, 8), (0.4, 4.2, 12)]
    assert [n for _, _, n in plots.pareto_frontier(pts)] == [4, 6, 12]
    rows = [{"nfe": n, "pesq_wb": 3.0 + n / 10, "stoi": 0.9, "estoi": 0.8, "rtf": n / 100, "error": None}
            for n in (4, 8) for _ in range(3)]
    rows[0]["pesq_wb"] = 3.3
    rows += [{"nfe": 32, "pesq_wb": None, "stoi": None, "estoi": None, "rtf": 0.5, "error": None}] * 2
    summary = quality.summarise(rows, 32)
    fig = plots.nfe_scores_figure(summary, 32, {"pesq_wb": 3.5})
    ax = fig.axes[0]
    assert "reference NFE 32" in ax.get_title()
    assert [round(x) for x in ax.lines[0].get_xdata()] == [4, 8]  # candidates only, the reference is not scored
    assert len(ax.containers) == 1 and len(fig.axes[1].containers) == 2  # PESQ left; STOI, ESTOI right
    rtf = plots.nfe_rtf_figure(summary).axes[0]
    assert list(rtf.lines[0].get_xdata()) == [4, 8, 32]
    front = plots.nfe_frontier_figure(summary).axes[0]
    assert {t.get_text() for t in front.texts} == {"4", "8", "32"}
    empty = plots.nfe_scores_figure([]).axes[0]
    assert plots.NO_NFE_MESSAGE in [t.get_text() for t in empty.texts]
