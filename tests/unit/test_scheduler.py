"""The runtime's batch policy on fake jobs: no threads, no engine, no torch."""

from __future__ import annotations

from ishowtts_studio.scheduler import BatchScheduler, Job


def jobs(*specs: tuple[str, int, str, int]) -> list[Job[str]]:
    """(request, chunk index, engine, nfe) -> jobs, in the order the worker lists them (oldest request first)."""
    return [Job(owner=r, index=i, engine=e, key=(n, 2.0, -1.0)) for r, i, e, n in specs]


def picked(batch: list[Job[str]]) -> list[tuple[str, int]]:
    return [(j.owner, j.index) for j in batch]


def test_nothing_waiting_gives_an_empty_batch() -> None:
    assert BatchScheduler(8, {"f5": 8}).choose([]) == []


def test_first_chunks_go_before_later_chunks_of_older_requests() -> None:
    waiting = jobs(("old", 1, "f5", 16), ("old", 2, "f5", 16), ("new", 0, "f5", 16), ("newer", 0, "f5", 16))
    assert picked(BatchScheduler(8, {"f5": 8}).choose(waiting)) == [("new", 0), ("newer", 0)]


def test_the_oldest_jobs_key_picks_the_batch_and_it_fills_from_any_request() -> None:
    waiting = jobs(("a", 1, "f5", 16), ("b", 1, "f5", 8), ("c", 1, "f5", 16), ("c", 2, "f5", 16))
    assert picked(BatchScheduler(8, {"f5": 8}).choose(waiting)) == [("a", 1), ("c", 1), ("c", 2)]


def test_engines_are_never_mixed_in_one_batch() -> None:
    waiting = jobs(("a", 0, "indextts", 0), ("b", 0, "f5", 0), ("c", 0, "indextts", 0))
    batch = BatchScheduler(8, {"f5": 8, "indextts": 8}).choose(waiting)
    assert {j.engine for j in batch} == {"indextts"} and picked(batch) == [("a", 0), ("c", 0)]


def test_the_batch_is_capped_by_the_runtime_and_by_the_engine() -> None:
    waiting = jobs(*[(f"r{k}", 0, "f5", 16) for k in range(10)], *[(f"i{k}", 0, "indextts", 0) for k in range(3)])
    limits = {"f5": 64, "indextts": 1}
    assert len(BatchScheduler(4, limits).choose(waiting)) == 4  # the runtime's max_batch
    only_index = [j for j in waiting if j.engine == "indextts"]
    assert picked(BatchScheduler(4, limits).choose(only_index)) == [("i0", 0)]  # the engine's own max_batch
    assert BatchScheduler(4, limits).limit("unknown") == 4
    assert BatchScheduler(0, limits).limit("f5") == 1  # never an empty batch


def test_accept_keeps_a_bounded_number_of_requests_in() -> None:
    s = BatchScheduler(2, {"f5": 8})
    assert s.accept(0) and s.accept(7)
    assert not s.accept(8) and not s.accept(9)
    assert BatchScheduler(2, {}, active_per_batch=1).max_active == 2
