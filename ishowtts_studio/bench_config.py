"""The benchmark's fixed inputs and shared pieces: the known texts and built-in voices, the run configuration and
the summary statistics (used by the rows, the workloads, the Performance tab and the scripts in benchmarks/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.engines.base import VoiceRef

# English short/medium/long give 3.9 / 9.6 / 16.9 s of audio with the English reference clip under f5-tts's
# duration rule: the rows of the stock measurements in ARCHITECTURE.md, so figures compare.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "short": "Really, I don't care what you call me.",
        "medium": "I don't really care what you call me. I have been a silent spectator, watching species evolve.",
        "long": "I don't really care what you call me. I've been a silent spectator, watching species evolve, "
        "empires rise and fall. But always remember, I am mighty and so enduring.",
    },
    "zh": {
        "short": "你好，欢迎来到直播间。",
        "medium": "今天我们一起聊聊语音合成，看看它到底有多快，效果怎么样。",
        "long": "我不在乎你怎么称呼我。我一直是一个沉默的旁观者，看着物种进化，帝国兴衰。但请永远记住，我强大而持久。",
    },
}
VOICES = {
    "en": ("basic_ref_en.wav", "Some call me nature, others call me mother nature."),
    "zh": ("basic_ref_zh.wav", "对，这就是我，万人敬仰的太乙真人。"),
}


def builtin_voice(lang: str) -> VoiceRef:
    import hashlib

    name, transcript = VOICES[lang]
    path = Path(str(files("f5_tts").joinpath(f"infer/examples/basic/{name}")))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return VoiceRef(slug=f"builtin-{lang}", audio_path=path, transcript=transcript, content_hash=digest)


def summarise(values: list[float]) -> dict[str, float]:
    """mean, median, p95, min, max and coefficient of variation (sample std / mean)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {}
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {
        "mean": mean,
        "median": float(np.median(arr)),
        "p95": float(np.percentile(arr, 95)),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "cv": std / mean if mean else 0.0,
        "n": int(arr.size),
    }


@dataclass
class BenchConfig:
    nfes: list[int] = field(default_factory=lambda: [8, 16, 32])
    texts: list[str] = field(default_factory=lambda: ["short", "medium", "long"])
    langs: list[str] = field(default_factory=lambda: ["en"])
    runs: int = 10
    warmup: int = 2
    compare_stock: bool = False
    cfg_strength: float = 2.0
    sway_coef: float = -1.0
    seed: int = 1234
    concurrency: int = 0  # >0: also time that many concurrent short requests through the queue
    streaming: bool = True  # also time the first audio chunk through the runtime
    peak_tflops: float = 790.0  # dense bf16/fp16 rate measured on the device machine's H100/H200
    rows: bool = True  # the known-text rows above; off to run only workloads
    workloads: list[str] = field(default_factory=list)  # "paced" and/or "burst"
    messages: int = 0  # lines per workload; 0 = 80 paced, 48 burst
    rate: float = 4.0  # paced arrivals per second
    workload_seed: int = 17


def engine_overrides(args: Any, eng: Any) -> dict[str, Any]:
    """The benchmark command line's engine switches (`--no-graphs`, `--compile`/`--no-compile`) over the [engine]
    settings, as `engine_factory.f5_engine` overrides; the vocoder is compiled only where the model is."""
    compile_model = bool(eng.compile if args.compile is None else args.compile)  # None: neither flag given
    return {"cuda_graphs": eng.cuda_graphs and not args.no_graphs, "compile_model": compile_model,
            "compile_vocoder": compile_model and eng.compile_vocoder}
