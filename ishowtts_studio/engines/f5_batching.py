"""Which of one engine call's items run together, and at what length (`plan_runs`: a pure plan over their
lengths in frames, tested in microseconds), and running that plan on the sampler (`sample_runs`).

Items of one exact length share an unpadded batch. A single item runs unpadded if its length has an exact graph,
else in its length bucket's padded graph (prepared at warm-up, so a new length waits for no capture), and a length
met a second time is queued for an exact graph prepared between requests. A burst of chat lines has nearly every
length once, so it ran line by line at batch-1 speed, about half the GPU's batched throughput (docs/performance.md,
round 5). With `engine.batch_padding`, the lone items whose lengths fall in one cell of `batch_bucket_frames` run
as one padded batch at that cell's length instead, split into batches of PADDED_BATCHES, each row masked to its
own frames; such a batch runs only once its graph is prepared (queued between requests when first met; until then
its lines run as single items). Results do not depend on the path (padding is masked; tested).

Why not one padded batch of everything: measured on an H100 (benchmarks/h100-2026-11-23/probe3.json) and again on
the H200 (benchmarks/h200-2026-11-30/baseline/probe_live.json: 8 chat lines padded to one batch 183 ms, one by one
146 ms), padding a batch to its longest item (with attention over the padding) costs more than the batch saves; a
cell pads each line by less than `batch_bucket_frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem

# batch sizes a padded batch of mixed lengths is split into (largest first): each (size, cell length) is a graph
PADDED_BATCHES = (8, 4, 2)


@dataclass(frozen=True)
class Run:
    """Items of one call that are sampled together: their positions in the call, and how."""

    idx: tuple[int, ...]
    length: int  # frames the batch runs at: the exact length, or the padded cell's length
    mixed: bool  # a padded batch of different lengths (False: one exact length, or a single item)


def split_sizes(n: int, sizes: Sequence[int] = PADDED_BATCHES) -> list[int]:
    """`n` items as batches of the allowed sizes, largest first; what is left (fewer than the smallest) as ones."""
    out: list[int] = []
    for size in sorted(sizes, reverse=True):
        while size > 1 and n >= size:
            out.append(size)
            n -= size
    return out + [1] * n


def plan_runs(frames: Sequence[int], grid: int = 0) -> list[Run]:
    """The runs for items of these lengths, shortest first (a caller that hands audio over as it is ready serves
    short lines first). Equal lengths share one unpadded run; with `grid` > 0 the remaining lone items of one
    cell of `grid` frames form padded runs of the sizes in PADDED_BATCHES, in order of length."""
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(frames):
        by_length.setdefault(n, []).append(i)
    runs = [Run(tuple(idx), n, False) for n, idx in by_length.items() if len(idx) > 1 or grid <= 0]
    if grid > 0:
        cells: dict[int, list[int]] = {}
        for n, idx in sorted(by_length.items()):
            if len(idx) == 1:
                cells.setdefault(-(-n // grid) * grid, []).append(idx[0])  # n rounded up to the grid
        for length, idx in cells.items():
            start = 0
            for size in split_sizes(len(idx)):
                part = tuple(idx[start:start + size])
                start += size
                runs.append(Run(part, length, True) if size > 1 else Run(part, frames[part[0]], False))
    return sorted(runs, key=lambda r: (max(frames[i] for i in r.idx), r.idx))


def sample_runs(sampler: F5Sampler, items: list[SampleItem], params: Any, grid: int, exact_graphs: bool) -> list[Any]:
    """Each item's mel, sampled in the runs `plan_runs` makes (see the module's docstring for how each is served)."""
    use_cfg = params.cfg_strength >= 1e-5
    frames = [sampler.duration_of(it) for it in items]
    mels: list[Any] = [None] * len(items)
    kw = {"nfe": params.nfe, "cfg_strength": params.cfg_strength, "sway_coef": params.sway_coef}
    for run in plan_runs(frames, grid):
        idx = list(run.idx)
        parts = [idx]
        if run.mixed and not sampler.padded_batch_ready(len(idx), run.length, use_cfg):
            sampler.note_padded_batch(len(idx), run.length, use_cfg)  # prepared between requests
            parts = [[i] for i in idx]  # this time, as single items
        for part in parts:
            group = [items[i] for i in part]
            if run.mixed and len(part) > 1:
                out = sampler.sample(group, length=run.length, force_padded=True, **kw)
            else:
                out = _one_length(sampler, group, frames[part[0]], use_cfg, exact_graphs, kw)
            for i, mel in zip(part, out):
                mels[i] = mel
    return mels


def _one_length(sampler: F5Sampler, group: list[SampleItem], frames: int, use_cfg: bool, exact_graphs: bool,
                kw: dict[str, Any]) -> list[Any]:
    """Items of one length: several as one unpadded batch; one alone unpadded if its exact graph is held, else
    in its bucket's padded graph (its length noted, to get an exact graph when met again)."""
    bucketed = sampler.bucket_frames > 1 and len(group) == 1
    if bucketed and exact_graphs and sampler.exact_ready(frames, use_cfg):
        bucketed = False
    if not bucketed:
        return sampler.sample(group, length=frames, **kw)
    out = sampler.sample(group, length=-(-frames // sampler.bucket_frames) * sampler.bucket_frames,
                         force_padded=True, **kw)
    if exact_graphs:
        sampler.note_length(frames, use_cfg)
    return out
