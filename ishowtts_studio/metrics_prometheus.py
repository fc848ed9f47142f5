"""Prometheus exposition of the studio's live figures: counters and gauges read at scrape time from the runtime
and the metrics service's cached engine statistics, studio-wide and per device worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ishowtts_studio.metrics import MetricsService


class StudioCollector(Collector):
    """Counters and gauges read at scrape time from the runtime and the service's cached engine stats."""

    def __init__(self, service: MetricsService) -> None:
        self.service = service

    def describe(self) -> list[Any]:
        return []  # names are fixed and unique; skip the registry's duplicate check by collection

    def collect(self) -> Iterator[Any]:
        svc, rt = self.service, self.service.runtime
        for name, doc, value in (
            ("ishowtts_requests_completed", "Syntheses completed by the engine runtime.", rt.completed),
            ("ishowtts_requests_failed", "Syntheses that failed in the engine runtime.", rt.failed),
            ("ishowtts_requests_rejected_busy", "Syntheses refused because the queue was full.", rt.rejected_busy),
        ):
            fam = CounterMetricFamily(name, doc)
            fam.add_metric([], float(value))
            yield fam
        by_origin = CounterMetricFamily("ishowtts_requests_by_origin", "Syntheses completed, by who asked "
                                        "(ui, api, cli, nfe, bench).", labels=["origin"])
        for origin, n in sorted(svc.origin_counts().items()):
            by_origin.add_metric([origin], float(n))
        yield by_origin
        audio_total, cache, memory = svc.totals()
        audio = CounterMetricFamily("ishowtts_audio_generated_seconds", "Seconds of audio generated.")
        audio.add_metric([], audio_total)
        yield audio

        hits = CounterMetricFamily("ishowtts_ref_cache_hits", "Reference-audio cache hits (memory or disk).",
                                   labels=["tier"])
        hits.add_metric(["memory"], float(cache.get("ref_cache_hits", 0)))
        hits.add_metric(["disk"], float(cache.get("ref_cache_disk_hits", 0)))
        yield hits
        misses = CounterMetricFamily("ishowtts_ref_cache_misses", "Reference-audio cache misses (mel computed).")
        misses.add_metric([], float(cache.get("ref_cache_misses", 0)))
        yield misses
        items = GaugeMetricFamily("ishowtts_ref_cache_items", "Voices whose reference is held in memory.")
        items.add_metric([], float(cache.get("ref_cache_items", 0)))
        yield items

        depth = GaugeMetricFamily("ishowtts_queue_depth", "Requests waiting for the engine worker.")
        depth.add_metric([], float(rt.queue_depth()))
        yield depth
        ready = GaugeMetricFamily("ishowtts_engine_ready", "1 when the engine is loaded and serving, else 0.")
        ready.add_metric([], 1.0 if rt.status == "ready" else 0.0)
        yield ready

        mem = GaugeMetricFamily("ishowtts_gpu_memory_bytes", "GPU memory of the engine's device (PyTorch allocator).",
                                labels=["kind"])
        for kind in ("allocated", "reserved", "peak"):
            mib = memory.get(f"{kind}_mib")
            if mib is not None:
                mem.add_metric([kind], float(mib) * 2**20)
        yield mem

        info = rt.info
        if info is not None:
            fam = InfoMetricFamily("ishowtts_engine", "The engine, its device and its fast path.")
            fast = info.fast_path or {}
            fam.add_metric([], {
                "engine": str(info.name), "device": str(info.device), "precision": str(info.precision),
                "cuda_graphs": str(bool(fast.get("cuda_graphs"))).lower(),
                "compile": str(bool(fast.get("compile"))).lower(),
                "random_weights": str(bool(info.random_weights)).lower(),
            })
            yield fam

        yield from device_families(svc)


def device_families(svc: MetricsService) -> Iterator[Any]:
    """Per device worker (a `device` label: "cuda:0", "cuda:1", ...): state, queue, queued audio, counts, audio
    produced and GPU memory. With one device there is one series each, labelled with that device."""
    rows = svc.runtime.device_status()
    memory = svc.device_memory()
    audio = svc.device_audio()
    specs = (
        ("ishowtts_device_ready", "1 when this device's engine is loaded and serving, else 0.", GaugeMetricFamily,
         lambda r: 1.0 if r["status"] == "ready" else 0.0),
        ("ishowtts_device_queue_depth", "Requests waiting for this device's worker.", GaugeMetricFamily,
         lambda r: r["queue_depth"]),
        ("ishowtts_device_queued_audio_seconds", "Estimated seconds of audio this device's requests still have to "
         "produce (what requests are routed by).", GaugeMetricFamily, lambda r: r["queued_audio_s"]),
        ("ishowtts_device_requests_completed", "Syntheses completed on this device.", CounterMetricFamily,
         lambda r: r["completed"]),
        ("ishowtts_device_requests_failed", "Syntheses that failed on this device.", CounterMetricFamily,
         lambda r: r["failed"]),
        ("ishowtts_device_audio_generated_seconds", "Seconds of audio generated on this device.",
         CounterMetricFamily, lambda r: audio.get(r["device"], 0.0)),
    )
    for name, doc, kind, value in specs:
        fam = kind(name, doc, labels=["device"])
        for row in rows:
            fam.add_metric([row["device"]], float(value(row)))
        yield fam
    mem = GaugeMetricFamily("ishowtts_device_gpu_memory_bytes", "GPU memory of each device (PyTorch allocator).",
                            labels=["device", "kind"])
    for device, values in sorted(memory.items()):
        for kind in ("allocated", "reserved", "peak"):
            mib = values.get(f"{kind}_mib")
            if mib is not None:
                mem.add_metric([device, kind], float(mib) * 2**20)
    yield mem
