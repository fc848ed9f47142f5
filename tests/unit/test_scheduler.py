"""The runtime's batch policy on fake jobs: no threads, no engine, no torch."""

from __future__ import annotations

from ishowtts_studio.scheduler import BatchScheduler, Job


def jobs(*specs: tuple) -> list[Job[str]]:
    """(request, chunk index, engine, nfe[, deadline]) -> jobs, in the order the worker lists them (oldest request
    first)."""
    return [Job(owner=s[0], index=s[1], engine=s[2], key=(s[3], 2.0, -1.0), deadline=s[4] if len(s) > 4 else 0.0)
            for s in specs]


def picked(batch: list[Job[str]]) -> list[tuple[str, int]]:
    return [(j.owner, j.index) for j in batch]


def test_nothing_waiting_gives_an_empty_batch() -> None:
    assert BatchScheduler(8, {"f5": 8}).choose([]) == []


def test_jobs_go_by_when_playback_needs_them_one_per_request() -> None:
    # new requests' first chunks are due now; the playing request's next chunks when its audio runs out
    waiting = jobs(("old", 1, "f5", 16, 5.0), ("old", 2, "f5", 16, 8.0), ("new", 0, "f5", 16, 1.0),
                   ("newer", 0, "f5", 16, 2.0))
    assert picked(BatchScheduler(8, {"f5": 8}).choose(waiting)) == [("new", 0), ("newer", 0), ("old", 1)]


def test_the_urgent_jobs_key_picks_the_batch_and_it_fills_from_other_requests() -> None:
    # equal deadlines: the oldest request leads; a request's later chunk never joins its earlier one
    waiting = jobs(("a", 1, "f5", 16), ("b", 1, "f5", 8), ("c", 1, "f5", 16), ("c", 2, "f5", 16))
    assert picked(BatchScheduler(8, {"f5": 8}).choose(waiting)) == [("a", 1), ("c", 1)]


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


def sized(*specs: tuple) -> list[Job[str]]:
    """(request, deadline, size) -> first-chunk jobs of one key on f5, in the order the worker lists them."""
    return [Job(owner=s[0], index=0, engine="f5", key=(8, 2.0, -1.0), deadline=s[1], size=s[2]) for s in specs]


def test_a_late_burst_fills_the_batch_by_length_cell_for_an_engine_with_a_grid() -> None:
    # all due at once and late at now=10: the oldest leads, then the lines of its 64-frame cell by deadline
    waiting = sized(("a", 1.0, 650), ("b", 1.1, 900), ("c", 1.2, 660), ("d", 1.3, 1400), ("e", 1.4, 700),
                    ("f", 1.5, 641))
    grid = BatchScheduler(4, {"f5": 64}, engine_grids={"f5": 64})
    assert [j.owner for j in grid.choose(waiting, now=10.0)] == ["a", "c", "e", "f"]
    # an engine without a grid, or no clock given: deadline order as before
    assert [j.owner for j in BatchScheduler(4, {"f5": 64}).choose(waiting, now=10.0)] == ["a", "b", "c", "d"]
    assert [j.owner for j in grid.choose(waiting)] == ["a", "b", "c", "d"]


def test_lengths_do_not_reorder_jobs_that_are_not_late() -> None:
    # the urgent job is not due yet (a streamed request's later chunk): deadline order, whatever the lengths
    waiting = sized(("a", 20.0, 650), ("b", 21.0, 900), ("c", 22.0, 660))
    grid = BatchScheduler(2, {"f5": 64}, engine_grids={"f5": 64})
    assert [j.owner for j in grid.choose(waiting, now=10.0)] == ["a", "b"]
    # late jobs grouped by length come before jobs not yet due
    mixed = sized(("a", 1.0, 650), ("b", 30.0, 660), ("c", 2.0, 2000))
    assert [j.owner for j in grid.choose(mixed, now=10.0)] == ["a", "c"]


def test_a_grid_keeps_one_job_per_request_and_its_earliest() -> None:
    # request r's second chunk is in the head's cell but r's first chunk (another cell) must go first
    waiting = [Job("h", 0, "f5", (8, 2.0, -1.0), 1.0, 650), Job("r", 0, "f5", (8, 2.0, -1.0), 1.1, 1500),
               Job("r", 1, "f5", (8, 2.0, -1.0), 1.2, 655), Job("s", 0, "f5", (8, 2.0, -1.0), 1.3, 1490)]
    batch = BatchScheduler(8, {"f5": 64}, engine_grids={"f5": 64}).choose(waiting, now=10.0)
    assert picked(batch) == [("h", 0), ("r", 0), ("s", 0)]
