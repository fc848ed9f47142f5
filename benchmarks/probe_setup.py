"""What the sampler probes (probe_batching.py, probe_streams.py) share: their command line and an engine warmed up
behind a real runtime, as the studio runs it (the full-size model on the GPU, or with --smoke the tiny one on the
CPU, which checks a script and times nothing)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ishowtts_studio.bench_config import builtin_voice
from ishowtts_studio.engine_factory import f5_engine
from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.settings import load_settings


def probe_args(lines: int) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path)
    p.add_argument("--lines", type=int, default=lines)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--smoke", action="store_true", help="the tiny model on the CPU: checks the script, times nothing")
    return p.parse_args()


def warmed_up(args: argparse.Namespace, nfe: int) -> tuple[Any, Any, EngineRuntime, dict]:
    """(settings, engine, running runtime, the result's header: device, torch, fast path)."""
    settings = load_settings(args.config) if args.config else load_settings()
    eng = f5_engine(settings, "cpu", "smoke") if args.smoke else f5_engine(settings, "cuda", "full")
    runtime = EngineRuntime(eng, max_batch=settings.engine.max_batch, batch_wait_s=0.0)
    runtime.start(lambda e, say: e.warmup([builtin_voice("en"), builtin_voice("zh")], nfe, say))
    if not runtime.wait_ready(600):
        raise SystemExit(f"engine not ready: {runtime.message}")
    cuda = torch.cuda.is_available()
    header = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
              "fast_path": eng.info().fast_path}
    return settings, eng, runtime, header
