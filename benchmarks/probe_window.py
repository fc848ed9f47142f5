"""How long the runtime's worker sits waiting for batch company with a request already in hand.

Runs the benchmark's paced workload (seeded chat lines of new lengths at Poisson arrivals) through a real runtime
and times every wait on the request queue that has a batch-window timeout and ends with nothing (the 0.1 s idle
poll is not counted). That time is added to some request's latency and the GPU does nothing meanwhile.

    PYTHONPATH=. python benchmarks/probe_window.py --smoke --rate 2 --messages 40   # the CPU, tiny model
    PYTHONPATH=. python benchmarks/probe_window.py --rate 4 --messages 80           # a GPU, full size, random weights

Run it on two commits to compare the worker's take policies; the engine's speed does not enter the count, only how
often requests meet a busy worker (rate x engine time).
"""

from __future__ import annotations

import argparse
import json
import queue
import time
from typing import Any

from ishowtts_studio.bench_config import BenchConfig, builtin_voice
from ishowtts_studio.bench_workloads import run_workload
from ishowtts_studio.engine_factory import f5_engine
from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.settings import load_settings
from ishowtts_studio.textproc import chunk_for_engine


class TimedQueue(queue.Queue):
    """The runtime's request queue, noting each window wait that came back empty."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.empty_waits: list[float] = []

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return super().get(block, timeout)
        except queue.Empty:
            if block and timeout is not None and timeout < 0.1:
                self.empty_waits.append(time.perf_counter() - started)
            raise


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="tiny random model on the CPU")
    p.add_argument("--rate", type=float, default=4.0)
    p.add_argument("--messages", type=int, default=80)
    args = p.parse_args()
    settings = load_settings(None, smoke=args.smoke)
    eng_s = settings.engine
    engine = f5_engine(settings, "cpu" if args.smoke else eng_s.device, "smoke" if args.smoke else "full")
    runtime = EngineRuntime(engine, queue_size=args.messages + 1, max_batch=eng_s.max_batch,
                            batch_wait_s=eng_s.batch_wait_ms / 1000)
    timed = TimedQueue(args.messages + 1)
    runtime._queue = timed  # before start: the worker has not looked at it yet
    runtime.start(lambda eng, progress: eng.warmup([builtin_voice("en"), builtin_voice("zh")], 8, progress))
    if not runtime.wait_ready(3600):
        raise SystemExit(runtime.message)
    while runtime.call(lambda eng: eng.pending_shapes()):
        time.sleep(1.0)
    cfg = BenchConfig(nfes=[8], texts=[], langs=["en"], runs=1, warmup=0, compare_stock=False, concurrency=0,
                      peak_tflops=1.0, rows=False, workloads=["paced"], messages=args.messages, rate=args.rate)
    result = run_workload(runtime, cfg, "paced", 8, lambda text: chunk_for_engine(text, eng_s))
    runtime.stop()
    print(json.dumps({
        "rate": args.rate, "messages": args.messages, "batch_wait_ms": eng_s.batch_wait_ms,
        "latency_ms": {k: round(v * 1e3, 1) for k, v in result["latency"].items() if k != "n"},
        "window_waits": len(timed.empty_waits), "window_wait_ms": round(sum(timed.empty_waits) * 1e3, 1),
    }))


if __name__ == "__main__":
    main()
