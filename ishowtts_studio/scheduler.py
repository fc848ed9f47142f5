"""Batch choice as a pure policy: which requests the worker takes in, and which chunk jobs run together.

No threads, no clocks, no torch: the runtime's worker hands it the jobs that wait and runs what it returns,
so the policy is tested on fake jobs in microseconds.

The rules: first chunks go first (they decide time to first audio); among the jobs that may go, the oldest
one's key (engine, NFE, CFG, sway) picks the batch, filled with every job of that key from any request, up to
the runtime's `max_batch` and the engine's own `max_batch`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Job(Generic[T]):
    """One chunk job waiting to run, as the scheduler sees it."""

    owner: T  # what the caller finds the job by again (the runtime: its accepted request)
    index: int  # chunk index in its request (0 = the first chunk: time to first audio)
    engine: str  # registered engine name
    key: Hashable  # jobs with equal engine and key can share one engine call


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
        if not waiting:
            return []
        firsts = [j for j in waiting if j.index == 0]
        pool = firsts or list(waiting)
        lead = pool[0]
        same = [j for j in pool if j.engine == lead.engine and j.key == lead.key]
        return same[: self.limit(lead.engine)]
