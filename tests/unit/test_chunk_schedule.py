"""The chunk scheduling policy: pure, plain values in, a batch out (the runtime test is in tests/integration)."""

from __future__ import annotations

from typing import Any

from ishowtts_studio.chunk_schedule import PendingChunk, chunk_deadlines, pick_batch

KEY = ("f5", 8, 2.0, -1.0)
OTHER = ("f5", 16, 2.0, -1.0)


def _request(owner: int, start: float, seconds: list[float], done: int = 0, key: Any = KEY) -> list[PendingChunk]:
    """The jobs of a request whose first `done` chunks are computed already."""
    due = chunk_deadlines(start, seconds)
    return [PendingChunk(owner, i, key, due[i]) for i in range(done, len(seconds))]


def test_deadlines_follow_the_audio_before_each_chunk() -> None:
    assert chunk_deadlines(10.0, [1.5, 2.0, 3.0]) == [10.0, 11.5, 13.5]
    assert chunk_deadlines(0.0, []) == []


def test_one_playing_request_gets_chunk_two_alone_not_with_the_rest() -> None:
    # chunk 1 is out; chunks 2..5 wait: the batch is chunk 2 only, though eight would fit
    batch = pick_batch(_request(0, 100.0, [1.0, 3.0, 3.0, 3.0, 3.0], done=1), lambda k: 8)
    assert [(p.owner, p.index) for p in batch] == [(0, 1)]


def test_next_chunks_of_several_requests_share_a_batch_in_deadline_order() -> None:
    pending = (_request(0, 100.0, [2.0, 2.0, 2.0], done=1)      # chunk 1 due at 102
               + _request(1, 99.0, [1.0, 2.0, 2.0], done=1)     # chunk 1 due at 100 (more urgent)
               + _request(2, 101.5, [2.0, 2.0]))                 # new request: first audio due at 101.5
    batch = pick_batch(pending, lambda k: 8)
    assert [(p.owner, p.index) for p in batch] == [(1, 1), (2, 0), (0, 1)]
    assert [(p.owner, p.index) for p in pick_batch(pending, lambda k: 2)] == [(1, 1), (2, 0)]


def test_a_starving_stream_goes_before_a_new_request() -> None:
    # request 0 played its first 1 s of audio long ago: its chunk 1 is overdue, more urgent than new work
    pending = _request(0, 50.0, [1.0, 2.0], done=1) + _request(1, 60.0, [2.0])
    assert [(p.owner, p.index) for p in pick_batch(pending, lambda k: 1)] == [(0, 1)]


def test_only_the_urgent_key_is_batched_and_the_engine_limit_holds() -> None:
    pending = _request(0, 10.0, [1.0], key=OTHER) + _request(1, 11.0, [1.0]) + _request(2, 12.0, [1.0], key=OTHER)
    batch = pick_batch(pending, lambda k: 8)
    assert [(p.owner, p.key) for p in batch] == [(0, OTHER), (2, OTHER)]
    assert len(pick_batch(pending, lambda k: 1)) == 1
    assert len(pick_batch(pending, lambda k: 0)) == 1  # a bad limit still makes progress
    assert pick_batch([], lambda k: 8) == []
