"""Batch choice as a pure policy: which requests the worker takes in, and which chunk jobs run together.

No threads, no clocks, no torch: the runtime's worker hands it the jobs that wait and runs what it returns,
so the policy is tested on fake jobs in microseconds.

The rules (`chunk_schedule.pick_batch`): every job has a deadline, when playback needs it (a request's first
chunk is due at once, chunk i when the audio before it has played). The most urgent job's key (engine, NFE,
CFG, sway) picks the batch, filled by deadline with jobs of that key from other requests, at most one job per
request (its earliest: a request's later chunks are needed later, and batching them with the next one made
playback stall on slow devices), up to the runtime's `max_batch` and the engine's own `max_batch`.
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


class BatchScheduler:
    def __init__(self, max_batch: int, engine_limits: Mapping[str, int], *, active_per_batch: int = 4) -> None:
        """`engine_limits`: each engine's own `max_batch`. At most `active_per_batch * max_batch` requests are
        accepted at once, so the bounded queue in front keeps applying back-pressure."""
        self.max_batch = max(1, max_batch)
        self.engine_limits = dict(engine_limits)
        self.max_active = active_per_batch * self.max_batch

    def accept(self, active: int) -> bool:
        """Whether the worker may take one more request in, with `active` requests accepted already."""
        return active < self.max_active

    def limit(self, engine: str) -> int:
        return max(1, min(self.max_batch, self.engine_limits.get(engine, self.max_batch)))

    def choose(self, waiting: Sequence[Job[T]]) -> list[Job[T]]:
        """The next batch from `waiting` (oldest request first, each request's jobs in chunk order)."""
        owners: dict[int, int] = {}  # owner -> its rank in `waiting` (the oldest request first breaks ties)
        pending = [PendingChunk(owners.setdefault(id(j.owner), len(owners)), j.index, (j.engine, j.key), j.deadline)
                   for j in waiting]
        by_place = {(p.owner, p.index): j for p, j in zip(pending, waiting, strict=True)}
        return [by_place[(p.owner, p.index)] for p in pick_batch(pending, lambda key: self.limit(key[0]))]
