"""The live figures' arithmetic (percentiles, coefficient of variation, describe, audio seconds per second)
against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from ishowtts_studio.bench import summarise
from ishowtts_studio.metrics import audio_seconds_per_second, coefficient_of_variation, describe, percentiles


def test_percentiles_against_hand_computed_values() -> None:
    # 1..10, linear interpolation: rank = q/100 * (n - 1) = 4.5, 8.55, 8.91 (0-based) on the sorted values
    got = percentiles(range(1, 11), (50, 95, 99))
    assert got == {"p50": pytest.approx(5.5), "p95": pytest.approx(9.55), "p99": pytest.approx(9.91)}
    # order does not matter; two values: p95 = 10 + 0.95 * (20 - 10)
    assert percentiles([20.0, 10.0], (50, 95)) == {"p50": pytest.approx(15.0), "p95": pytest.approx(19.5)}
    assert percentiles([3.0, 1.0, 2.0])["p50"] == pytest.approx(2.0)
    # None and non-finite values are left out
    assert percentiles([None, 1.0, float("nan"), 3.0, float("inf")], (50,)) == {"p50": pytest.approx(2.0)}
    assert percentiles([], (50, 99.9)) == {"p50": None, "p99.9": None}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}


def test_coefficient_of_variation_against_hand_computed_values() -> None:
    values = [2, 4, 4, 4, 5, 5, 7, 9]  # mean 5, squared deviations sum to 32, sample variance 32/7
    assert coefficient_of_variation(values) == pytest.approx(math.sqrt(32 / 7) / 5)
    assert coefficient_of_variation(values) == pytest.approx(summarise(values)["cv"])  # same as the benchmark's
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(math.sqrt(2) / 2)
    assert coefficient_of_variation([4.2]) == 0.0
    assert coefficient_of_variation([0.0, 0.0]) == 0.0
    assert coefficient_of_variation([]) is None


def test_describe_and_throughput() -> None:
    d = describe([0.1, 0.2, 0.3, 0.4])
    assert d["n"] == 4
    assert d["mean"] == pytest.approx(0.25)
    assert d["p50"] == pytest.approx(0.25)
    assert d["p95"] == pytest.approx(0.3 + 0.85 * 0.1)  # rank 2.85
    assert describe([])["mean"] is None and describe([])["p99"] is None
    # first start 10 - 2 = 8, last finish 12: 6 s of audio in 4 s
    reqs = [{"finished_at": 10.0, "latency_s": 2.0, "audio_s": 4.0},
            {"finished_at": 12.0, "latency_s": 1.0, "audio_s": 2.0}]
    assert audio_seconds_per_second(reqs) == pytest.approx(1.5)
    assert audio_seconds_per_second(reqs[:1]) == pytest.approx(2.0)  # = 1 / RTF
    assert audio_seconds_per_second([]) is None
