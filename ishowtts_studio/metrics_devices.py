"""Figures per device worker for the metrics service: each worker's share of the live window next to its state,
and the studio-wide sums of the devices' engine counters. Pure functions over plain dicts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ishowtts_studio.request_stats import audio_seconds_per_second, describe


def sum_dicts(dicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise sums of numeric dicts (the devices' cache counters and memory figures)."""
    out: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def device_rows(status: list[dict[str, Any]], window: list[dict[str, Any]],
                engine_stats: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per worker in `status` (`runtime.device_status()`): its state and counts, the window's requests it
    ran (n, latency, TTFA, audio seconds per second) and its engine's reference-cache size and GPU memory."""
    out = []
    for row in status:
        mine = [r for r in window if r.get("worker") == row["device"]]
        stats = engine_stats.get(row["device"], {})
        out.append({**row, "n": len(mine), "latency_s": describe([r.get("latency_s") for r in mine]),
                    "ttfa_s": describe([r.get("ttfa_s") for r in mine]),
                    "audio_s_per_s": audio_seconds_per_second(mine),
                    "cache_items": int(stats.get("cache", {}).get("ref_cache_items", 0)),
                    "gpu_memory": stats.get("memory", {})})
    return out
