"""Summary statistics of request figures (percentiles, spread, throughput, per engine), for the live metrics
and the benchmark. Pure functions over plain numbers and dicts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

DEFAULT_PERCENTILES = (50, 95, 99)


# ------------------------------------------------------------------------------------------ arithmetic


def _finite(values: Iterable[Any]) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64).reshape(-1)
    return arr[np.isfinite(arr)]


def _key(q: float) -> str:
    return f"p{q:g}"


def percentiles(values: Iterable[float | None], qs: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, float | None]:
    """{"p50": ..., "p95": ..., "p99": ...} with numpy's linear interpolation between closest ranks.

    None and non-finite values are ignored; with no values left every percentile is None.
    """
    arr = _finite(values)
    if arr.size == 0:
        return {_key(q): None for q in qs}
    got = np.percentile(arr, list(qs))
    return {_key(q): float(v) for q, v in zip(qs, got)}


def coefficient_of_variation(values: Iterable[float | None]) -> float | None:
    """Sample standard deviation (ddof=1) over the mean, as `bench.summarise` reports it.

    None with no values, 0.0 with one value or a zero mean.
    """
    arr = _finite(values)
    if arr.size == 0:
        return None
    if arr.size == 1:
        return 0.0
    mean = float(arr.mean())
    return float(arr.std(ddof=1)) / mean if mean else 0.0


def per_engine(window: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each engine's share of the window (F5-TTS and IndexTTS run through the same worker)."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({str(r.get("engine")) for r in window}):
        rows = [r for r in window if str(r.get("engine")) == name]
        out[name] = {"n": len(rows), **{k: describe([r.get(k) for r in rows]) for k in ("latency_s", "ttfa_s", "rtf")}}
    return out


def describe(values: Iterable[float | None], qs: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    """n, mean, the percentiles and the CV of the finite values (None where there are none)."""
    arr = _finite(values)
    out: dict[str, Any] = {"n": int(arr.size), "mean": float(arr.mean()) if arr.size else None}
    out.update(percentiles(arr, qs))
    out["cv"] = coefficient_of_variation(arr)
    return out


def audio_seconds_per_second(requests: Sequence[dict[str, Any]]) -> float | None:
    """Throughput: seconds of audio delivered per wall-clock second, from the first request's start (finish
    minus latency) to the last request's finish. One request alone gives audio / latency = 1 / RTF."""
    spans = [(r["finished_at"] - r["latency_s"], r["finished_at"], r["audio_s"]) for r in requests
             if r.get("finished_at") and r.get("latency_s") is not None and r.get("audio_s") is not None]
    if not spans:
        return None
    start = min(s for s, _, _ in spans)
    end = max(e for _, e, _ in spans)
    total = sum(a for _, _, a in spans)
    return total / (end - start) if end > start else None


# ------------------------------------------------------------------------------------------- service
