"""Why a padded batch of chat lines of one length cell was slower than the same lines one by one (round 5, call 1:
burst 1.28 s with `engine.batch_padding` against 1.22 s without). On the device machine:

    python benchmarks/probe_batching.py [--config extra.toml] --out probe_batching.json

For cells of `batch_bucket_frames` (64) frames holding at least 4 chat lines of distinct lengths (English and
Chinese, the burst's kind), on the sampler alone (graphs captured before timing; wall time with the GPU drained,
median of 5, and the GPU's own time from CUDA events):
1. each line alone at its exact length (what the default serves), summed over the lines;
2. the lines as one padded batch at the cell's length (what `batch_padding` serves), for 2 and 4 lines;
3. one line repeated 4 times as an unpadded batch at its exact length (batching without padding);
4. that line repeated 4 times, padded to the cell (padding without mixed lengths);
5. that line alone, padded to the cell.
Then a torch.profiler table (top kernels by GPU time) of one padded batch of 4 against 4 identical lines unpadded.
"""

from __future__ import annotations

import json
import statistics
import time

import torch
from probe_setup import probe_args, warmed_up

from ishowtts_studio.bench_config import builtin_voice
from ishowtts_studio.engines.base import GenerationParams
from ishowtts_studio.engines.f5_sampler import round_up
from ishowtts_studio.workloads import chat_lines

PARAMS = GenerationParams(nfe=8, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
CUDA = torch.cuda.is_available()
KW = {"nfe": PARAMS.nfe, "cfg_strength": PARAMS.cfg_strength, "sway_coef": PARAMS.sway_coef}


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def timed(sampler, items, length: int, padded: bool) -> dict:
    """Median wall and GPU time of one `sampler.sample` call (its graph captured by a first call)."""
    sampler.sample(items, length=length, force_padded=padded, **KW)
    walls, gpus = [], []
    for _ in range(5):
        sync()
        start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2)) if CUDA else (None, None)
        t0 = time.perf_counter()
        if start is not None:
            start.record()
        sampler.sample(items, length=length, force_padded=padded, **KW)
        if end is not None:
            end.record()
        sync()
        walls.append((time.perf_counter() - t0) * 1e3)
        gpus.append(start.elapsed_time(end) if start is not None else float("nan"))
    return {"wall_ms": round(statistics.median(walls), 2), "gpu_ms": round(statistics.median(gpus), 2)}


def cells(eng, count: int, grid: int) -> list[tuple[int, list]]:
    """(cell length, items) for cells with at least 4 lines, items in order of length."""
    by_cell: dict[int, list] = {}
    seen: set[int] = set()
    for i, text in enumerate(chat_lines(count, seed=9090, distinct_lengths=False)):
        voice = builtin_voice("zh" if i % 2 else "en")
        item, _ = eng.sample_item(voice, text, seed=i)
        frames = eng.sampler.duration_of(item)
        if frames in seen:
            continue
        seen.add(frames)
        by_cell.setdefault(round_up(frames, grid), []).append((frames, item))
    full = sorted((c, sorted(v, key=lambda p: p[0])) for c, v in by_cell.items() if len(v) >= 4)
    picked = [full[0], full[len(full) // 2], full[-1]] if len(full) >= 3 else full
    return [(c, [it for _, it in v]) for c, v in picked]


def probe_cell(eng, length: int, items: list) -> dict:
    sampler = eng.sampler
    frames = [sampler.duration_of(it) for it in items[:4]]
    row: dict = {"cell": length, "frames": frames}
    singles = [timed(sampler, [it], n, False) for it, n in zip(items[:4], frames)]
    row["singles_exact"] = singles
    for b in (2, 4):
        row[f"sum_{b}_singles_wall_ms"] = round(sum(s["wall_ms"] for s in singles[:b]), 2)
        row[f"padded_mixed_{b}"] = timed(sampler, items[:b], length, True)
    one = items[0]
    row["same_4_exact"] = timed(sampler, [one] * 4, frames[0], False)
    row["same_4_padded"] = timed(sampler, [one] * 4, length, True)
    row["one_padded"] = timed(sampler, [one], length, True)
    print(json.dumps(row), flush=True)
    return row


def kernel_table(eng, length: int, items: list) -> dict:
    from torch.profiler import ProfilerActivity, profile

    sampler = eng.sampler
    out = {}
    for label, group, n, padded in (("padded_mixed_4", items[:4], length, True),
                                    ("same_4_exact", [items[0]] * 4, sampler.duration_of(items[0]), False)):
        sampler.sample(group, length=n, force_padded=padded, **KW)
        sync()
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if CUDA else [])) as prof:
            sampler.sample(group, length=n, force_padded=padded, **KW)
            sync()
        events = prof.key_averages()
        table = events.table(sort_by="self_device_time_total", row_limit=14)
        print(f"--- {label}\n{table}", flush=True)
        out[label] = {"gpu_ms": sum(e.self_device_time_total for e in events) / 1e3, "table": table}
    return out


def main() -> None:
    args = probe_args(160)
    settings, _, runtime, result = warmed_up(args, PARAMS.nfe)
    picked = runtime.call(lambda e: cells(e, args.lines, settings.engine.batch_bucket_frames))
    result["cells"] = [runtime.call(lambda e, c=c, its=its: probe_cell(e, c, its)) for c, its in picked]
    mid = picked[len(picked) // 2]
    result["kernels"] = runtime.call(lambda e: kernel_table(e, *mid))
    runtime.stop()
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
