"""The benchmark's live workloads: seeded chat lines of distinct lengths submitted through the runtime at
Poisson arrival times (`paced`) or all at once (`burst`), with their latency, time to first audio, throughput,
batch sizes and new sampler shapes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ishowtts_studio.bench_config import VOICES, BenchConfig, builtin_voice
from ishowtts_studio.engines.base import GenerationParams
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest

_CJK = re.compile(r"[\u4e00-\u9fff]")
WORKLOAD_MESSAGES = {"paced": 80, "burst": 48}
WORKLOAD_WORDS = {"paced": (1, 14), "burst": (1, 15)}


def run_workload(runtime: EngineRuntime, cfg: BenchConfig, kind: str, nfe: int,
                 chunker: Callable[[str], list[str]] | None = None) -> dict[str, Any]:
    """Seeded chat lines of distinct lengths through the runtime, paced (Poisson at `cfg.rate`) or as one burst."""
    from ishowtts_studio.workloads import chat_lines, poisson_arrivals

    count = cfg.messages or WORKLOAD_MESSAGES[kind]
    low, high = WORKLOAD_WORDS[kind]
    seed = cfg.workload_seed + (0 if kind == "paced" else 1000)  # the two workloads share no seed
    lines = chat_lines(count, seed=seed, min_words=low, max_words=high)
    arrivals = poisson_arrivals(count, cfg.rate, seed=seed) if kind == "paced" else [0.0] * count
    voices = {lang: builtin_voice(lang) for lang in VOICES}
    params = GenerationParams(nfe=nfe, cfg_strength=cfg.cfg_strength, sway_coef=cfg.sway_coef, speed=1.0)
    runtime.call(lambda eng: [eng.prepare_voice(v) for v in voices.values()])  # references are not the subject
    before = runtime.call(lambda eng: dict(eng.cache_stats()))
    handles = []
    t0 = time.perf_counter()
    for i, (text, at) in enumerate(zip(lines, arrivals)):
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        voice = voices["zh" if _CJK.search(text) else "en"]
        chunks = chunker(text) if chunker else [text]
        handles.append(runtime.submit(SynthesisRequest(voice=voice, chunks=chunks, params=params,
                                                       seed=cfg.seed + i, text_chars=len(text), origin="bench")))
    stats = [h.result(timeout=600)[1] for h in handles]
    wall = max(h.submitted + st.latency_s for h, st in zip(handles, stats)) - t0
    after = runtime.call(lambda eng: dict(eng.cache_stats()))
    audio = sum(st.audio_s for st in stats)
    batches = [st.batch_size for st in stats]

    def tail(values: list[float]) -> dict[str, float]:
        arr = np.asarray(values, dtype=np.float64)
        return {"p50": float(np.median(arr)), "p95": float(np.percentile(arr, 95)), "max": float(arr.max()),
                "mean": float(arr.mean()), "n": int(arr.size)}

    return {
        "workload": kind, "nfe": nfe, "messages": count, "rate": cfg.rate if kind == "paced" else None,
        "seed": seed, "latency": tail([st.latency_s for st in stats]), "ttfa": tail([st.ttfa_s for st in stats]),
        "audio_s": audio, "wall_s": wall, "audio_s_per_s": audio / wall if wall > 0 else 0.0,
        "batch_sizes": {str(b): batches.count(b) for b in sorted(set(batches))},
        "chunks": sum(len(h.request.chunks) for h in handles),
        "new_shapes": {key: after.get(key, 0) - before.get(key, 0) for key in
                       ("new_shapes", "graph_captures", "padded_batches", "padded_batch_items")},
        "per_request": [{"chars": st.text_chars, "chunks": st.chunks, "latency_s": st.latency_s, "ttfa_s": st.ttfa_s,
                         "batch": st.batch_size, "audio_s": st.audio_s, "at_s": at}
                        for st, at in zip(stats, arrivals)],
    }

