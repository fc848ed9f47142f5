"""Benchmark: our engine against f5-tts's own pipeline, same weights, same process, alternating runs.

    python -m ishowtts_studio.bench --random-weights full --compare-stock --nfe 8 16 32 --json out.json
    python -m ishowtts_studio.bench --smoke --runs 2 --json /tmp/smoke.json
    python -m ishowtts_studio.bench --random-weights full --no-rows --workload paced burst --rate 4 --nfe 8

Every measured row is text + voice in, full waveform in host memory out, batch 1, warm, timed with a
device synchronisation (the engine copies the waveform to the host). The stock side calls
`f5_tts.infer.utils_infer.infer_batch_process` on the same CFM and Vocos objects with the same NFE,
CFG and sway. All engine work runs on the runtime's worker thread (`EngineRuntime.call`).

The workloads are live traffic instead of a timed loop: seeded chat lines of distinct lengths
(`workloads.chat_lines`), English lines in the English voice and Chinese lines in the Chinese one, submitted
through the runtime either at Poisson arrival times (`paced`) or all at once (`burst`). Each reports request ->
complete audio and time to first audio (p50 / p95 / max), audio seconds per second of wall time, the batch sizes
the runtime formed and how many sampler shapes the requests met for the first time.

The pieces live beside this entry point: `bench_config` (texts, voices, configuration, statistics), `bench_rows`
(the timed rows), `bench_workloads` (live traffic), `bench_report` (regression check, table); `--workload chat`
runs `services/chat/bench.py` (a whole studio) instead.

No gradio here: the Performance tab calls `run_benchmark` through the Studio.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ishowtts_studio.bench_config import TEXTS, VOICES, BenchConfig, builtin_voice, engine_overrides, summarise
from ishowtts_studio.bench_report import comparability, compare, compare_workloads, format_table
from ishowtts_studio.bench_rows import compute_floor_ms, measure_concurrent, measure_row
from ishowtts_studio.bench_workloads import WORKLOAD_MESSAGES, run_workload
from ishowtts_studio.runtime import EngineRuntime

# the names callers import from here (the Performance tab, the bench service, tests, benchmarks/ scripts)
__all__ = ["TEXTS", "VOICES", "BenchConfig", "builtin_voice", "compare", "compare_workloads", "compute_floor_ms",
           "format_table", "main", "run_benchmark", "run_workload", "summarise"]

log = logging.getLogger(__name__)


def run_benchmark(runtime: EngineRuntime, cfg: BenchConfig,
                  progress: Callable[[float, str], None] | None = None,
                  chunker: Callable[[str], list[str]] | None = None) -> dict[str, Any]:
    """Run the configured rows through a started, ready runtime and return the result dict."""
    info = runtime.info
    rows = []
    plan = [(lang, size, nfe) for lang in cfg.langs for size in cfg.texts for nfe in cfg.nfes]
    for i, (lang, size, nfe) in enumerate(plan if cfg.rows else []):
        if progress:
            progress(i / max(1, len(plan)), f"{lang} {size} NFE {nfe}")
        rows.append(measure_row(runtime.engine, runtime, cfg, lang, size, nfe, chunker))
    result: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": info.device if info else "?",
        "precision": info.precision if info else "?",
        "random_weights": bool(info.random_weights) if info else None,
        "weights_label": runtime.engine.random_weights or "real",
        "fast_path": info.fast_path if info else {},
        "config": cfg.__dict__,
        "rows": rows,
    }
    if cfg.concurrency:
        if progress:
            progress(0.95, f"{cfg.concurrency} concurrent requests")
        result["concurrent"] = [measure_concurrent(runtime, cfg, nfe) for nfe in cfg.nfes[:1]]
    for kind in cfg.workloads:
        if progress:
            progress(0.97, f"workload {kind}")
        result.setdefault("workloads", []).append(run_workload(runtime, cfg, kind, cfg.nfes[0], chunker))
    result["memory"] = runtime.call(lambda eng: eng.memory_stats())
    result["fast_path_at_end"] = runtime.call(lambda eng: eng.info().fast_path)  # graphs prepared since warm-up
    result["shapes"] = runtime.call(lambda eng: dict(eng.cache_stats()))
    return result
def main(argv: list[str] | None = None) -> int:
    from ishowtts_studio.services.chat import bench as chat_bench

    argv = sys.argv[1:] if argv is None else list(argv)
    if chat_bench.wants_chat(argv):  # the chat workload runs a whole studio (chat service + runtime): its own CLI
        from ishowtts_studio.settings import default_config_path

        # the same settings file as every CLI; a --config in argv comes later and wins (argparse keeps the last)
        default = default_config_path(None)
        return chat_bench.main(["--config", str(default), *argv] if default is not None else argv)
    from ishowtts_studio.engine_factory import f5_engine
    from ishowtts_studio.settings import ConfigError, default_config_path, load_settings
    from ishowtts_studio.store import Store
    from ishowtts_studio.textproc import chunk_for_engine

    p = argparse.ArgumentParser(prog="python -m ishowtts_studio.bench", description=__doc__.split("\n")[0])
    p.add_argument("--config", metavar="PATH", help="settings file (default: $ISHOWTTS_CONFIG, else config.toml beside "
                   "app.py if present, else the built-in defaults)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--smoke", action="store_true", help="tiny random model (CPU-friendly; figures meaningless)")
    weights.add_argument("--random-weights", choices=["full"], help="full-size architecture with random weights")
    p.add_argument("--nfe", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--texts", nargs="+", default=["short", "medium", "long"], choices=["short", "medium", "long"])
    p.add_argument("--langs", nargs="+", default=["en"], choices=sorted(TEXTS))
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compare-stock", action="store_true", help="also time f5-tts's own pipeline, alternating")
    p.add_argument("--concurrency", type=int, default=0, help="also time N concurrent short requests (micro-batching)")
    p.add_argument("--workload", nargs="+", default=[], choices=["paced", "burst", "chat"],
                   help="also run live traffic: new chat lines at --rate per second (paced) or all at once (burst); "
                   "chat replays a live chat through the chat service and runs on its own (see "
                   "--workload chat --help for its options)")
    p.add_argument("--messages", type=int, default=0, help="lines per workload (default 80 paced, 48 burst)")
    p.add_argument("--rate", type=float, default=4.0, help="paced workload: arrivals per second (Poisson)")
    p.add_argument("--no-rows", action="store_true", help="skip the known-text rows (run only --workload)")
    p.add_argument("--max-batch", type=int, help="override engine.max_batch")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"])
    p.add_argument("--devices", action="append", default=[], metavar="LIST",
                   help="compare device configurations in one run (repeat: --devices cuda:0 --devices cuda:0,cuda:1): "
                   "--concurrency and --workload on each, aggregate audio s/s and the ratio (bench_devices.py)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"])
    p.add_argument("--no-graphs", action="store_true", help="disable CUDA graphs")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the model's step pieces (the vocoder too where engine.compile_vocoder is on); "
                   "default: engine.compile (on); --no-compile switches it off")
    p.add_argument("--attention", choices=["triton", "cudnn", "flash"], help="override engine.attention")
    p.add_argument("--no-fused-kernels", action="store_true", help="disable the hand-written kernels")
    p.add_argument("--peak-tflops", type=float, default=790.0, help="dense matrix rate for the compute floor")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--plots", type=Path, help="write PNG plots into this folder")
    p.add_argument("--save-baseline", metavar="NAME")
    p.add_argument("--against", metavar="NAME", help="compare with a saved baseline; exit 3 on a >5%% slowdown")
    p.add_argument("--baseline-dir", type=Path, help="folder for baseline JSON (default: <samples>/baselines)")
    args = p.parse_args(argv)
    if "chat" in args.workload:  # only reached when the chat bench's own check above missed it (e.g. "--work chat")
        p.error("--workload chat runs on its own (it runs the whole studio): run it without paced/burst, "
                "as python -m ishowtts_studio.bench --workload chat")
    if args.no_rows and not args.workload and not args.devices:
        p.error("--no-rows leaves nothing to run: add --workload paced and/or burst")
    if args.messages < 0 or args.rate <= 0:
        p.error("--messages must be 0 or more and --rate above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    overrides: dict[str, object] = {}
    if args.device:
        overrides["engine.device"] = args.device
    if args.precision:
        overrides["engine.precision"] = args.precision
    if args.max_batch:
        overrides["engine.max_batch"] = args.max_batch
    if args.attention:
        overrides["engine.attention"] = args.attention
    if args.no_fused_kernels:
        overrides["engine.fused_kernels"] = False
    try:
        settings = load_settings(default_config_path(args.config), overrides=overrides, smoke=args.smoke)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    eng_s = settings.engine
    store = Store(settings.paths.database_url) if (args.save_baseline or args.against) else None
    baseline = None
    if args.against:  # fail before spending minutes on a run that cannot be compared
        baseline = store.get_baseline(args.against)
        if baseline is None:
            names = ", ".join(store.list_baseline_names()) or "none yet"
            print(f"no baseline named {args.against!r} (saved: {names}); save one with --save-baseline",
                  file=sys.stderr)
            return 2
    kind = "smoke" if args.smoke else args.random_weights
    if args.devices:  # several device configurations compared in one run: bench_devices.py
        from ishowtts_studio.bench_devices import run_devices

        return run_devices(settings, args, kind, lambda text: chunk_for_engine(text, eng_s))
    # the studio's own engine from the settings (engine_factory), with the command line's switches on top
    engine = f5_engine(settings, eng_s.device, kind, **engine_overrides(args, eng_s))
    queue_room = max(args.concurrency, (args.messages or max(WORKLOAD_MESSAGES.values())) if args.workload else 0)
    runtime = EngineRuntime(engine, queue_size=max(eng_s.queue_size, queue_room + 1),
                            max_batch=max(eng_s.max_batch, args.concurrency), batch_wait_s=eng_s.batch_wait_ms / 1000)
    cfg = BenchConfig(nfes=args.nfe, texts=args.texts, langs=args.langs, runs=args.runs, warmup=args.warmup,
                      compare_stock=args.compare_stock, concurrency=args.concurrency, peak_tflops=args.peak_tflops,
                      rows=not args.no_rows, workloads=args.workload, messages=args.messages, rate=args.rate)
    timings: dict[str, float] = {}
    pools: dict[str, dict[str, float]] = {}  # where reserved GPU memory sits, at each stage

    def warm(eng: Any, progress: Callable[[float, str], None]) -> None:
        timings["load_s"] = time.perf_counter() - t_start
        t_warm = time.perf_counter()
        langs = list(dict.fromkeys(args.langs + (sorted(VOICES) if args.workload else [])))
        eng.warmup([builtin_voice(lang) for lang in langs], args.nfe[0], progress)
        timings["warmup_s"] = time.perf_counter() - t_warm
        timings.update({f"after_warmup_{k}": v for k, v in eng.memory_stats().items()})
        timings["graphs_after_warmup"] = eng.info().fast_path.get("graphs_captured", 0)
        pools["after_warmup"] = eng.memory_pools()

    t_start = time.perf_counter()
    runtime.start(warm)
    if not runtime.wait_ready(3600):
        print(f"engine unavailable: {runtime.message}", file=sys.stderr)
        return 2

    # after it is ready the engine goes on preparing between requests (the voices' chat-line graphs): a studio has
    # done so by the time its chat starts, so the benchmark waits for that too and reports how long it took
    t_settle = time.perf_counter()
    while runtime.call(lambda eng: eng.pending_shapes()) and time.perf_counter() - t_settle < 600:
        time.sleep(1.0)
    timings["prepared_s"] = time.perf_counter() - t_settle
    timings.update(runtime.call(lambda eng: {f"after_prepared_{k}": v for k, v in eng.memory_stats().items()}))
    timings["graphs_after_prepared"] = runtime.call(lambda eng: eng.info().fast_path.get("graphs_captured", 0))
    pools["after_prepared"] = runtime.call(lambda eng: eng.memory_pools())
    result = run_benchmark(runtime, cfg, chunker=lambda text: chunk_for_engine(text, eng_s))
    result["startup"] = timings
    pools["end"] = runtime.call(lambda eng: eng.memory_pools())
    if any(pools.values()):
        result["memory_pools"] = pools
    runtime.stop()
    print(format_table(result))

    status = 0
    if baseline is not None:
        mismatch = comparability(result, baseline)
        result["baseline_mismatch"] = mismatch
        for line in mismatch:
            print(f"WARNING the baseline does not match this run: {line}")
        slower = compare(result, baseline)
        result["regressions"] = slower
        for row in slower:
            what = f" {row['metric']}" if "metric" in row else ""
            if "now_rate" in row:  # a throughput: seconds of audio per second, higher is better
                change = f"{row['baseline_rate']:.1f} -> {row['now_rate']:.1f} audio s/s"
            else:
                change = f"{row['baseline_s'] * 1e3:.1f} ms -> {row['now_s'] * 1e3:.1f} ms"
            print(f"REGRESSION {row['lang']} {row['text']} NFE {row['nfe']}{what}: {change} "
                  f"({row['slower_by'] * 100:.1f}% worse)")
        if slower:
            status = 3
        else:
            print(f"no regression against baseline {args.against!r} (rows: 5% and beyond their noise; "
                  "workloads: 20%)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    if args.plots:
        from ishowtts_studio.bench_plots import save_plots

        save_plots(result, args.plots)
    if store is not None:
        if args.save_baseline:
            store.add_benchmark_run(result, name=args.save_baseline, baseline=True, device=result["device"])
            base_dir = args.baseline_dir or settings.paths.samples / "baselines"
            base_dir.mkdir(parents=True, exist_ok=True)
            (base_dir / f"{args.save_baseline}.json").write_text(json.dumps(result, indent=2, default=str))
            print(f"saved baseline {args.save_baseline!r}")
        store.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
