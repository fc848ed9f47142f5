"""Which chunk jobs run next: a pure policy over the jobs that wait, ordered by when playback needs them.

A streamed request plays its chunks one after another. Chunk i is needed when the audio before it has
played: at `start + (estimated seconds of chunks 0..i-1)`, where `start` is when its first audio went out
(or, before that, when it was submitted: it is late already). Running the most urgent job first, and at
most one job per request in a batch, means chunk 2 is computed on its own right after chunk 1 instead of
in one batch with chunks 3..n, which on a device only a few times faster than real time takes longer
than chunk 1 lasts, so playback stalled. Jobs of other requests that share the urgent job's batch key
fill the batch, earliest deadline first. No threads, no clocks: the runtime hands in plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PendingChunk:
    """One chunk job that has not run: whose it is, which chunk, what it can be batched with, when it is due."""

    owner: int  # the request it belongs to (any id unique among the waiting requests)
    index: int  # chunk index within that request
    key: Hashable  # batch key: jobs with equal keys can run in one batch (engine, NFE, CFG, sway)
    deadline: float  # when playback needs it, on the runtime's clock
    size: int = 0  # the job's length (F5: total frames), compared only where its key has a size grid


def chunk_deadlines(start: float, chunk_seconds: Sequence[float]) -> list[float]:
    """When each chunk of a request is needed: `start` plus the estimated length of the chunks before it."""
    out, before = [], 0.0
    for seconds in chunk_seconds:
        out.append(start + before)
        before += max(0.0, float(seconds))
    return out


def pick_batch(pending: Sequence[PendingChunk], limit: Callable[[Hashable], int], *, now: float | None = None,
               grid: Callable[[Hashable], int] | None = None) -> list[PendingChunk]:
    """The next batch: the most urgent job, then other requests' jobs with the same key by deadline, at most
    one job per request (its earliest) and at most `limit(key)` jobs. Empty when nothing waits.

    With a size grid for the key (`grid(key)` frames > 0, an engine that pads a batch to one length) and the
    most urgent job already late at `now` (a burst: every job due at once), the late jobs fill the batch by how
    close their length is to the urgent job's, in cells of the grid, then by deadline: lines of one length
    cell can run as one padded batch, where lines of mixed lengths run one length at a time."""
    if not pending:
        return []
    ordered = sorted(pending, key=lambda p: (p.deadline, p.owner, p.index))
    head = ordered[0]
    cap = max(1, int(limit(head.key)))
    firsts: list[PendingChunk] = []
    owners: set[int] = set()
    for p in ordered:
        if p.owner in owners:
            continue  # a request's later chunks wait for its earlier ones (they are needed later)
        owners.add(p.owner)  # a request whose earliest job has another key is not batched out of order
        if p.key == head.key:
            firsts.append(p)
    step = int(grid(head.key)) if grid is not None else 0
    if step > 0 and now is not None and head.deadline <= now:
        late = [p for p in firsts if p.deadline <= now]
        on_time = [p for p in firsts if p.deadline > now]
        # the head has distance 0 and the earliest deadline, so it stays first
        late.sort(key=lambda p: (abs(cell(p.size, step) - cell(head.size, step)), p.deadline, p.owner, p.index))
        firsts = late + on_time
    return firsts[:cap]


def cell(size: int, step: int) -> int:
    """The grid cell of a length: lengths in one cell pad to the same multiple of `step`."""
    return -(-max(0, size) // step)
