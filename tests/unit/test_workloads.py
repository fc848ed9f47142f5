"""The synthetic live-traffic generator: seeded, distinct lengths, Poisson arrivals, clear errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ishowtts_studio.workloads import chat_lines, poisson_arrivals


def test_chat_lines_are_seeded_distinct_and_mixed() -> None:
    lines = chat_lines(80, seed=3, max_words=14)
    assert lines == chat_lines(80, seed=3, max_words=14)
    assert lines != chat_lines(80, seed=4, max_words=14)
    sizes = [len(line.encode("utf-8")) for line in lines]
    assert len(set(sizes)) == 80  # every line asks the duration rule for a new length
    assert any(re.search(r"[\u4e00-\u9fff]", line) for line in lines)
    assert any(re.fullmatch(r"[A-Za-z' !?.]+", line) for line in lines)
    assert all(line.strip() for line in lines)


def test_chat_lines_word_range_and_language_choice() -> None:
    lines = chat_lines(30, seed=1, min_words=2, max_words=4, languages=("en",), distinct_lengths=False)
    assert all(2 <= len(line.split()) <= 4 for line in lines)
    assert not any(re.search(r"[\u4e00-\u9fff]", line) for line in lines)
    assert chat_lines(0) == []


def test_chat_lines_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="min_words"):
        chat_lines(3, min_words=5, max_words=2)
    with pytest.raises(ValueError, match="languages"):
        chat_lines(3, languages=("fr",))
    with pytest.raises(ValueError, match="distinct lengths"):
        chat_lines(50, max_words=1, languages=("en",))  # one word cannot give 50 byte lengths


def test_poisson_arrivals_rate_and_order() -> None:
    times = poisson_arrivals(4000, rate=4.0, seed=7)
    assert times == poisson_arrivals(4000, rate=4.0, seed=7)
    assert times[0] == 0.0 and all(b >= a for a, b in zip(times, times[1:]))
    gaps = np.diff(times)
    assert abs(gaps.mean() - 0.25) < 0.02  # exponential gaps of mean 1/rate
    assert abs(gaps.std() - 0.25) < 0.03
    with pytest.raises(ValueError, match="rate"):
        poisson_arrivals(3, rate=0)
    with pytest.raises(ValueError, match="count"):
        poisson_arrivals(-1, rate=1)
