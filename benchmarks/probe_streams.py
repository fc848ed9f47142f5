"""Would chat lines of different lengths clear sooner on several CUDA streams at once than one after another?

A burst of chat lines has nearly every length once, so the engine runs it line by line; round 5 measured that a
batch of 4 equal short lines takes 75% of the time of the 4 alone (benchmarks/h200-2026-12-02-r5/call2), so a short
line leaves part of the H200 idle, and padding lines of different lengths into one batch cost more than it saved.
Running lines on streams of their own overlaps them without padding. Before building that into the engine, this
measures what it would give. On the device machine:

    python benchmarks/probe_streams.py [--config extra.toml] --out probe_streams.json

Each stream gets a sampler of its own (`F5Engine.new_sampler`: its own graphs, graph memory pool and input buffers;
the model's weights shared). For groups of 2 and 4 chat lines of distinct lengths (English and Chinese; short,
mixed and long groups), with every graph captured before timing, the GPU time (CUDA events on the launching
stream) and the wall time of:
1. the group's lines one after another on one stream (what the engine does today);
2. each line on its own stream, all launched before any is waited for.
Median of 5 runs each, the ratio concurrent / sequential, and whether the mels are bitwise the same both ways.
With `--smoke` the tiny model runs on the CPU (no streams): it checks the script, it times nothing worth reading.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time

import torch
from probe_setup import probe_args, warmed_up

from ishowtts_studio.bench_config import builtin_voice
from ishowtts_studio.engines.base import GenerationParams
from ishowtts_studio.workloads import chat_lines

PARAMS = GenerationParams(nfe=8, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
CUDA = torch.cuda.is_available()
KW = {"nfe": PARAMS.nfe, "cfg_strength": PARAMS.cfg_strength, "sway_coef": PARAMS.sway_coef}
RUNS = 5


def stream_of(s: torch.cuda.Stream | None) -> contextlib.AbstractContextManager:
    return torch.cuda.stream(s) if s is not None else contextlib.nullcontext()


def run_group(samplers: list, streams: list, items: list, frames: list[int], concurrent: bool) -> tuple[float, float,
                                                                                                      list]:
    """One timed run: (GPU ms, wall ms, mels). Sequential: every line on the first sampler and stream, in order.
    Concurrent: line i on sampler i and stream i, each stream waiting only for what came before the run."""
    main = torch.cuda.current_stream() if CUDA else None
    if CUDA:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    t0 = time.perf_counter()
    mels = []
    for i, (item, n) in enumerate(zip(items, frames)):
        k = i if concurrent else 0
        s = streams[k]
        if s is not None:
            s.wait_stream(main)
        with stream_of(s):
            mels.append(samplers[k].sample([item], length=n, **KW)[0])
    if CUDA:
        for s in streams[: len(items) if concurrent else 1]:
            main.wait_stream(s)
        end.record()
        torch.cuda.synchronize()
    wall = (time.perf_counter() - t0) * 1e3
    gpu = start.elapsed_time(end) if CUDA else float("nan")
    return gpu, wall, [m.float().cpu() for m in mels]


def probe_group(samplers: list, streams: list, items: list, frames: list[int]) -> dict:
    row: dict = {"lines": len(items), "frames": frames}
    outs = {}
    for label, conc in (("sequential", False), ("concurrent", True)):
        for i, (item, n) in enumerate(zip(items, frames)):  # capture every graph this mode replays, untimed
            k = i if conc else 0
            with stream_of(streams[k]):
                samplers[k].sample([item], length=n, **KW)
        runs = [run_group(samplers, streams, items, frames, conc) for _ in range(RUNS)]
        row[label] = {"gpu_ms": round(statistics.median(r[0] for r in runs), 3),
                      "wall_ms": round(statistics.median(r[1] for r in runs), 3)}
        outs[label] = runs[-1][2]
    row["ratio_gpu"] = round(row["concurrent"]["gpu_ms"] / row["sequential"]["gpu_ms"], 3) if CUDA else None
    row["ratio_wall"] = round(row["concurrent"]["wall_ms"] / row["sequential"]["wall_ms"], 3)
    row["same_mels"] = all(torch.equal(a, b) for a, b in zip(outs["sequential"], outs["concurrent"]))
    print(json.dumps(row), flush=True)
    return row


def groups(eng, count: int) -> list[tuple[str, list, list[int]]]:
    """(label, items, frames): groups of 2 and 4 distinct-length lines, short, mixed and long."""
    pool = []
    for i, text in enumerate(chat_lines(count, seed=5151)):
        item, _ = eng.sample_item(builtin_voice("zh" if i % 2 else "en"), text, seed=i)
        pool.append((eng.sampler.duration_of(item), item))
    pool.sort(key=lambda p: p[0])
    third = len(pool) // 3
    picks = {"short": pool[:4], "mixed": [pool[0], pool[third], pool[2 * third], pool[-1]], "long": pool[-4:]}
    out = []
    for label, four in picks.items():
        for size in (2, 4):
            part = four[:size] if label != "mixed" else four[::2][:size] if size == 2 else four
            out.append((f"{label}_{size}", [it for _, it in part], [n for n, _ in part]))
    return out


def main() -> None:
    args = probe_args(48)
    _, _, runtime, result = warmed_up(args, PARAMS.nfe)

    def probe(e) -> list[dict]:
        samplers = [e.sampler] + [e.new_sampler() for _ in range(3)]
        streams = [torch.cuda.Stream() for _ in range(4)] if CUDA else [None] * 4
        rows = []
        for label, items, frames in groups(e, args.lines):
            rows.append({"group": label, **probe_group(samplers, streams, items, frames)})
        if CUDA:
            result["memory"] = e.memory_stats()
        return rows

    result["groups"] = runtime.call(probe)  # on the worker thread, as the runtime runs everything
    runtime.stop()
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
