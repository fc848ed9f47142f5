"""Batch choice as a pure policy: which requests the worker takes in, and which chunk jobs run together.

No threads, no clocks, no torch: the runtime's worker hands it the jobs that wait and runs what it returns,
so the policy is tested on fake jobs in microseconds.

The rules (`chunk_schedule.pick_batch`): every job has a deadline, when playback needs it (a request's first
chunk is due at once, chunk i when the audio before it has played). The most urgent job's key (engine, NFE,
CFG, sway) picks the batch, filled by deadline with jobs of that key from other requests, at most one job per
request (its earliest: a request's later chunks are needed later, and batching them with the next one made
playback stall on slow devices), up to the runtime's `max_batch` and the engine's own `max_batch`. An engine
that pads a batch to one length (its `batch_grid` > 0) gets, when the urgent job is late already (a burst), the
late jobs closest to its length first, so lines of one length cell can share a padded batch.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ishowtts_studio.chunk_schedule import PendingChunk, pick_batch

T = TypeVar("T")


@dataclass(frozen=True)
class Job(Generic[T]):
    """One chunk job waiting to run, as the scheduler sees it."""

    owner: T  # what the caller finds the job by again (the runtime: its accepted request)
    index: int  # chunk index in its request (0 = the first chunk: time to first audio)
    engine: str  # registered engine name
    key: Hashable  # jobs with equal engine and key can share one engine call
    deadline: float = 0.0  # when playback needs it (the runtime's clock); ties go to the earlier-listed job
    size: int = 0  # its length in the engine's frames (compared only for an engine with a batch grid)


class BatchScheduler:
    def __init__(self, max_batch: int, engine_limits: Mapping[str, int], *, active_per_batch: int = 4,
                 engine_grids: Mapping[str, int] | None = None) -> None:
        """`engine_limits`: each engine's own `max_batch`; `engine_grids`: each engine's `batch_grid` (frames of
        one length cell of its padded batches; 0 or absent: lengths do not matter). At most
        `active_per_batch * max_batch` requests are accepted at once, so the bounded queue in front keeps
        applying back-pressure."""
        self.max_batch = max(1, max_batch)
        self.engine_limits = dict(engine_limits)
        self.engine_grids = dict(engine_grids or {})
        self.max_active = active_per_batch * self.max_batch

    def accept(self, active: int) -> bool:
        """Whether the worker may take one more request in, with `active` requests accepted already."""
        return active < self.max_active

    def limit(self, engine: str) -> int:
        return max(1, min(self.max_batch, self.engine_limits.get(engine, self.max_batch)))

    def choose(self, waiting: Sequence[Job[T]], now: float | None = None) -> list[Job[T]]:
        """The next batch from `waiting` (oldest request first, each request's jobs in chunk order); `now` (the
        deadlines' clock) lets a late burst be grouped by length for an engine with a batch grid."""
        owners: dict[int, int] = {}  # owner -> its rank in `waiting` (the oldest request first breaks ties)
        pending = [PendingChunk(owners.setdefault(id(j.owner), len(owners)), j.index, (j.engine, j.key), j.deadline,
                                j.size) for j in waiting]
        by_place = {(p.owner, p.index): j for p, j in zip(pending, waiting, strict=True)}
        chosen = pick_batch(pending, lambda key: self.limit(key[0]), now=now,
                            grid=lambda key: self.engine_grids.get(key[0], 0))
        return [by_place[(p.owner, p.index)] for p in chosen]
