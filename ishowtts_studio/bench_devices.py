"""The several-devices benchmark: the same traffic on one device and on several, in one run, and the ratio of
aggregate audio seconds per second (the goal on two GPUs: at least 1.8 times one).

    python -m ishowtts_studio.bench --random-weights full --nfe 8 --devices cuda:0 --devices cuda:0,cuda:1 \\
        --concurrency 32 --workload paced burst --json devices.json --plots devices-plots
    python -m ishowtts_studio.bench --smoke --devices cpu --devices cpu,cpu --concurrency 4 ...   (CI, on the CPU)

For each `--devices` list the runtime is built as the studio builds it (`engine_factory.build_runtime`: one engine
and worker per device, requests to the worker with the least queued audio), warmed up, then measured: the
concurrent short requests (`--concurrency`, `bench_rows.measure_concurrent`) and the paced / burst chat workloads
(`bench_workloads.run_workload`). Each configuration's engines are dropped before the next is built, so they
never share a GPU. A paced workload's throughput is capped by its arrival rate: there the devices show in the
latency, and the ratio that answers the goal is the concurrent and burst one.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ishowtts_studio.bench_config import VOICES, BenchConfig, builtin_voice, engine_overrides
from ishowtts_studio.bench_rows import measure_concurrent
from ishowtts_studio.bench_workloads import run_workload
from ishowtts_studio.device_routing import check_devices, parse_devices
from ishowtts_studio.engine_factory import build_runtime, cuda_count, f5_engine
from ishowtts_studio.engine_pool import empty_cache
from ishowtts_studio.settings import Settings

TARGET_RATIO = 1.8  # issue 16: aggregate audio seconds per second on two GPUs against one


def device_lists(values: list[str]) -> list[list[str]] | str:
    """The `--devices` values as device lists, or the problem with the first bad one (for argparse's error)."""
    out = []
    for value in values:
        problem = check_devices(value)
        if problem or not value.strip():
            return f"--devices {value!r} {problem or 'is empty'}"
        out.append(parse_devices(value, "cpu", cuda_count) if value.strip() == "all" else
                   [d.strip() for d in value.split(",")])
    return out


def measure_configuration(settings: Settings, devices: list[str], cfg: BenchConfig, kind: str | None,
                          engine_args: dict[str, Any], runtime_args: dict[str, Any],
                          chunker: Callable[[str], list[str]]) -> dict[str, Any]:
    """One device list: build, warm up, run the concurrent requests and the workloads, drop the engines."""
    nfe = cfg.nfes[0]
    t0 = time.perf_counter()
    runtime = build_runtime(devices, lambda d: f5_engine(settings, d, kind, **engine_args), **runtime_args)
    voices = [builtin_voice(lang) for lang in VOICES]
    runtime.start(lambda eng, progress: eng.warmup(voices, nfe, progress))
    try:
        if not runtime.wait_ready(3600):
            raise RuntimeError(f"devices {','.join(devices)}: engine unavailable: {runtime.message}")
        # the studio serves once its first device is ready; a measurement of N devices needs all N warm
        for worker in runtime.workers:
            if not worker.wait_ready(3600):
                raise RuntimeError(f"device {worker.device}: engine unavailable: {worker.message}")
        out: dict[str, Any] = {"devices": devices, "ready_s": time.perf_counter() - t0,
                               "engine": runtime.info.device if runtime.info else "?"}
        runtime.call_all(lambda eng: [eng.prepare_voice(v) for v in voices])  # every device's reference cache

        def served() -> dict[str, int]:
            return {row["device"]: row["completed"] for row in runtime.device_status()}

        if cfg.concurrency:
            before = served()
            out["concurrent"] = measure_concurrent(runtime, cfg, nfe)
            out["concurrent"]["per_device"] = {d: n - before[d] for d, n in served().items()}
        for workload in cfg.workloads:
            before = served()
            result = run_workload(runtime, cfg, workload, nfe, chunker)
            result.pop("per_request", None)  # the figures compare configurations; the lines are in each run's log
            result["per_device"] = {d: n - before[d] for d, n in served().items()}
            out[workload] = result
        out["memory"] = runtime.call_all(lambda eng: eng.memory_stats())
        return out
    finally:
        runtime.stop()
        for worker in runtime.workers:
            for engine in worker.engines.values():
                engine.unload()  # the model, vocoder and graphs go; the next configuration gets the GPU memory
        gc.collect()
        empty_cache()


def throughput(config: dict[str, Any], workload: str) -> float | None:
    """Aggregate audio seconds per second of one configuration on one workload (concurrent: the median run)."""
    part = config.get(workload)
    if not part:
        return None
    value = part["audio_s_per_s"]
    return float(value["median"] if isinstance(value, dict) else value)


def compare_configurations(configs: list[dict[str, Any]], workloads: list[str]) -> dict[str, Any]:
    """Each configuration's throughput per workload and its ratio to the first configuration's."""
    base = configs[0]
    table = []
    for config in configs:
        row: dict[str, Any] = {"devices": ",".join(config["devices"])}
        for workload in workloads:
            value, ref = throughput(config, workload), throughput(base, workload)
            row[workload] = {"audio_s_per_s": value, "ratio": value / ref if value is not None and ref else None}
        table.append(row)
    return {"target_ratio": TARGET_RATIO, "table": table}


def format_comparison(summary: dict[str, Any], workloads: list[str]) -> str:
    lines = [f"{'devices':<24}" + "".join(f"{w + ' audio s/s (x)':>30}" for w in workloads)]
    for row in summary["table"]:
        cells = []
        for w in workloads:
            v, r = row[w]["audio_s_per_s"], row[w]["ratio"]
            cells.append(f"{(f'{v:.2f}' if v is not None else '-')} ({(f'{r:.2f}x' if r else '-')})".rjust(30))
        lines.append(f"{row['devices']:<24}" + "".join(cells))
    lines.append(f"goal: several GPUs >= {summary['target_ratio']}x one on concurrent and burst (paced is capped by "
                 "its arrival rate)")
    return "\n".join(lines)


def save_plot(summary: dict[str, Any], workloads: list[str], folder: Path) -> Path:
    """A bar chart: audio seconds per second per workload, one bar per device configuration, ratios on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    rows = summary["table"]
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6, 2.5 * len(workloads)), 4), layout="constrained")
    for i, row in enumerate(rows):
        xs = [k + (i - (len(rows) - 1) / 2) * width for k in range(len(workloads))]
        ys = [row[w]["audio_s_per_s"] or 0.0 for w in workloads]
        bars = ax.bar(xs, ys, width, label=row["devices"])
        for bar, w in zip(bars, workloads):
            ratio = row[w]["ratio"]
            if ratio and i > 0:
                ax.annotate(f"{ratio:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel("audio seconds per second (aggregate)")
    ax.set_title(f"One device against several (goal {summary['target_ratio']}x)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    path = folder / "devices.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_devices(settings: Settings, args: argparse.Namespace, kind: str | None,
                chunker: Callable[[str], list[str]]) -> int:
    """The `--devices` entry of `python -m ishowtts_studio.bench` (bench.py hands over after parsing)."""
    lists = device_lists(args.devices)
    if isinstance(lists, str):
        print(lists, file=sys.stderr)
        return 2
    if args.save_baseline or args.against or args.compare_stock:
        print("--devices compares device configurations with each other; run --save-baseline, --against and "
              "--compare-stock without --devices", file=sys.stderr)
        return 2
    if not args.concurrency and not args.workload:
        print("--devices measures --concurrency N and/or --workload paced burst: add at least one", file=sys.stderr)
        return 2
    eng = settings.engine
    engine_args = engine_overrides(args, eng)
    queue_room = max(args.concurrency, args.messages or 80)
    runtime_args = {"queue_size": max(eng.queue_size, queue_room + 1),
                    "max_batch": max(eng.max_batch, args.concurrency), "batch_wait_s": eng.batch_wait_ms / 1000}
    cfg = BenchConfig(nfes=args.nfe, runs=args.runs, warmup=args.warmup, concurrency=args.concurrency, rows=False,
                      workloads=args.workload, messages=args.messages, rate=args.rate)
    configs = []
    for devices in lists:
        print(f"measuring on {','.join(devices)} ...", file=sys.stderr)
        try:
            configs.append(measure_configuration(settings, devices, cfg, kind, engine_args, runtime_args, chunker))
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
    workloads = (["concurrent"] if args.concurrency else []) + list(args.workload)
    summary = compare_configurations(configs, workloads)
    result = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "kind": "devices", "weights": kind or "real",
              "nfe": cfg.nfes[0], "config": cfg.__dict__, "summary": summary, "configurations": configs}
    print(format_comparison(summary, workloads))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    if args.plots:
        print(f"plot: {save_plot(summary, workloads, args.plots)}", file=sys.stderr)
    return 0
