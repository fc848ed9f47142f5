"""Which items of one F5 engine call run together (engines/f5_batching.py): a pure plan over their lengths."""

from __future__ import annotations

import pytest

from ishowtts_studio.engines.f5_batching import PADDED_BATCHES, Run, plan_runs, split_sizes


def _covers_each_once(runs: list[Run], n: int) -> None:
    flat = [i for r in runs for i in r.idx]
    assert sorted(flat) == list(range(n)), runs


def test_without_a_grid_each_length_runs_alone_and_equal_lengths_together() -> None:
    frames = [700, 650, 700, 655, 900]
    runs = plan_runs(frames)
    _covers_each_once(runs, len(frames))
    assert runs == [Run((1,), 650, False), Run((3,), 655, False), Run((0, 2), 700, False), Run((4,), 900, False)]


def test_lone_lengths_of_one_cell_share_a_padded_run_at_the_cells_length() -> None:
    frames = [650, 700, 655, 641, 700, 900, 704]
    runs = plan_runs(frames, grid=64)
    _covers_each_once(runs, len(frames))
    # 641, 650, 655 fall in the cell up to 704 with 704 itself; the two 700s stay one exact run; 900 alone
    assert Run((1, 4), 700, False) in runs
    padded = [r for r in runs if r.mixed]
    assert padded == [Run((3, 0, 2, 6), 704, True)]  # in order of length
    assert Run((5,), 900, False) in runs
    for r in padded:
        assert all(frames[i] <= r.length < frames[i] + 64 for i in r.idx)  # each padded by less than a cell


def test_runs_come_shortest_first() -> None:
    frames = [1000, 300, 640, 310, 990, 305]
    runs = plan_runs(frames, grid=64)
    longest = [max(frames[i] for i in r.idx) for r in runs]
    assert longest == sorted(longest)
    assert runs[:2] == [Run((1, 5), 320, True), Run((3,), 310, False)]  # three in a cell: a pair and one


def test_a_cell_splits_into_the_prepared_batch_sizes_and_singles() -> None:
    frames = [600 + k for k in range(15)]  # 15 lone lengths in one cell of 64
    runs = plan_runs(frames, grid=64)
    _covers_each_once(runs, 15)
    sizes = sorted((len(r.idx) for r in runs), reverse=True)
    assert sizes == [8, 4, 2, 1]
    assert all(r.mixed and r.length == 640 for r in runs if len(r.idx) > 1)
    single = next(r for r in runs if len(r.idx) == 1)
    assert not single.mixed and single.length == frames[single.idx[0]]  # a lone item keeps its own way


@pytest.mark.parametrize(("n", "sizes"), [(0, []), (1, [1]), (2, [2]), (3, [2, 1]), (7, [4, 2, 1]), (8, [8]),
                                          (19, [8, 8, 2, 1])])
def test_split_sizes(n: int, sizes: list[int]) -> None:
    assert split_sizes(n) == sizes
    assert sum(split_sizes(n)) == n
    assert all(s in PADDED_BATCHES or s == 1 for s in split_sizes(n))
