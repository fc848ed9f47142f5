"""The metrics service's snapshot: every live figure as one JSON-safe dict (the Performance tab, /metrics_snapshot),
built from copies the service took under its lock and the runtime's own counters. Never waits for the engine."""

from __future__ import annotations

from typing import Any

from ishowtts_studio.request_stats import audio_seconds_per_second, describe, per_engine, per_origin

SERIES = ("latency_s", "ttfa_s", "rtf", "queue_wait_s")
# origins of traffic that is not live use (NFE compare renders, the benchmark): the live figures leave it out
NOT_LIVE = ("nfe", "bench")


def build_snapshot(rt: Any, *, every: list[dict[str, Any]], window: list[dict[str, Any]], cache: dict[str, Any],
                   memory: dict[str, Any], stats_at: float | None, total_seen: int, audio_total: float, version: int,
                   window_size: int, warmup: str, origins: dict[str, int], per_device: list[dict[str, Any]],
                   dropped_writes: int) -> dict[str, Any]:
    """`every`: the last requests of any origin; `window`: the last live ones (the figures are over these)."""
    info = rt.info
    fast = dict(info.fast_path) if info and info.fast_path else {}
    hits = int(cache.get("ref_cache_hits", 0)) + int(cache.get("ref_cache_disk_hits", 0))
    misses = int(cache.get("ref_cache_misses", 0))
    lookups = hits + misses
    stats: dict[str, Any] = {k: describe([r.get(k) for r in window]) for k in SERIES}
    stats["audio_s"] = describe([r.get("audio_s") for r in window])
    last = window[-1] if window else None
    return {
        "status": rt.status,
        "message": rt.message,
        "ready": rt.status == "ready",
        "warmup": warmup,
        "engine": info.name if info else rt.engine.name,
        "device": info.device if info else None,
        "precision": info.precision if info else None,
        "random_weights": bool(info.random_weights) if info else None,
        "smoke": bool(info.smoke) if info else None,
        "fast_path": fast,
        "cuda_graphs": bool(fast.get("cuda_graphs")),
        "compile": bool(fast.get("compile")),
        "counts": {"completed": rt.completed, "failed": rt.failed, "rejected_busy": rt.rejected_busy},
        "queue_depth": rt.queue_depth(),
        "cache": {
            "hits": hits,
            "memory_hits": int(cache.get("ref_cache_hits", 0)),
            "disk_hits": int(cache.get("ref_cache_disk_hits", 0)),
            "misses": misses,
            "items": int(cache.get("ref_cache_items", 0)),
            "hit_rate": hits / lookups if lookups else None,
        },
        "gpu_memory": memory,  # {} on CPU or before the first reading
        "engine_stats_at": stats_at,
        "window": {"size": window_size, "n": len(window), "seen": total_seen, **stats,
                   "audio_s_per_s": audio_seconds_per_second(window)},
        "audio_seconds_total": audio_total,
        # each engine's share of the window (F5-TTS and IndexTTS run through the same worker)
        "per_engine": per_engine(window),
        # and each caller's (ui, api, cli, ...); `origins` counts every request since start
        "per_origin": per_origin(window),
        "origins": origins,
        # each device worker's figures (engine.devices; one entry with one device)
        "per_device": per_device,
        # requests of the benchmark and NFE compare among the last `window` requests (not in the figures)
        "other_traffic": {o: sum(r.get("origin") == o for r in every)
                          for o in sorted({r.get("origin") for r in every} & set(NOT_LIVE))},
        "engines": rt.engine_status() if hasattr(rt, "engine_status") else [],
        "last_request": last,
        "version": version,
        "dropped_writes": dropped_writes,
    }
