"""Matplotlib figures for the Performance tab: live request figures and benchmark results.

Plain data in, `Figure` out (no gradio), so the figures can be tested and saved anywhere. The live
figures take the request dicts of `MetricsService.recent_requests()` (keys: finished_at, latency_s,
ttfa_s, rtf, audio_s, nfe) and the points of `MetricsService.memory_points()`. Figures are made with
`Figure()` rather than pyplot, so none is left in pyplot's global registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from ishowtts_studio.bench_plots import latency_figure, rtf_figure  # bench_plots also selects the Agg backend
from ishowtts_studio.metrics import percentiles

__all__ = [
    "EMPTY_MESSAGE",
    "benchmark_latency_figure",
    "benchmark_rtf_figure",
    "gpu_memory_figure",
    "latency_figure",
    "latency_histogram_figure",
    "rtf_figure",
    "rtf_over_time_figure",
    "rtf_vs_audio_figure",
]

EMPTY_MESSAGE = "No syntheses yet — the plots fill in as requests complete"
NO_BENCHMARK_MESSAGE = "No benchmark yet — press Run benchmark"
CPU_MEMORY_MESSAGE = "The engine runs on the CPU: there is no GPU memory to plot"
SIZE = (6.4, 3.6)
COLORS = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#14b8a6", "#eab308", "#64748b"]


def _figure(title: str, size: tuple[float, float] = SIZE) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def _empty(ax: Any, message: str = EMPTY_MESSAGE) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#64748b",
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_alpha(0.3)


def _values(requests: Sequence[dict[str, Any]], *keys: str) -> list[tuple[float, ...]]:
    """Rows of finite floats for `keys` (requests lacking any of them are left out)."""
    out = []
    for r in requests:
        try:
            row = tuple(float(r[k]) for k in keys)
        except (KeyError, TypeError, ValueError):
            continue
        if all(np.isfinite(row)):
            out.append(row)
    return out


def _finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _top(highest: float, at_least: float = 0.0) -> float:
    """An upper axis limit with head-room, so the highest point is not cut in half by the frame."""
    top = max(float(highest), at_least) * 1.15
    return top if top > 0 else 1.0


def _time_axis(ax: Any, when: Sequence[datetime]) -> None:
    # a few seconds of data would get sub-second ticks that all read the same: show at least a minute
    if when and (max(when) - min(when)).total_seconds() < 60:
        middle = min(when) + (max(when) - min(when)) / 2
        ax.set_xlim(middle - timedelta(seconds=30), middle + timedelta(seconds=30))
    ax.xaxis.set_major_locator(AutoDateLocator(maxticks=6))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))


def rtf_over_time_figure(requests: Sequence[dict[str, Any]]) -> Figure:
    """RTF of each request against the time it finished, with a running median; the line RTF = 1 is real time."""
    fig, ax = _figure("Real-time factor over time (lower is faster)")
    pts = _values(requests, "finished_at", "rtf")
    if not pts:
        _empty(ax)
        return fig
    when = [datetime.fromtimestamp(t) for t, _ in pts]
    rtf = np.array([v for _, v in pts])
    ax.plot(when, rtf, "o", ms=3.5, alpha=0.55, color=COLORS[0], label="request")
    if len(rtf) >= 5:
        k = min(15, len(rtf))
        running = [float(np.median(rtf[max(0, i - k + 1): i + 1])) for i in range(len(rtf))]
        ax.plot(when, running, "-", lw=1.8, color=COLORS[1], label=f"median of last {k}")
    if rtf.max() >= 0.5:
        ax.axhline(1.0, color="#ef4444", lw=1, ls="--", label="real time")
    ax.set_ylim(0, _top(rtf.max(), 1.0 if rtf.max() >= 0.5 else 0.0))
    ax.set_ylabel("RTF")
    ax.set_xlabel("finished at")
    _time_axis(ax, when)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def latency_histogram_figure(requests: Sequence[dict[str, Any]], key: str = "latency_s") -> Figure:
    """Distribution of request latency (or `key`, e.g. ttfa_s) with the p50 / p95 / p99 lines."""
    what = "Time to first audio" if key == "ttfa_s" else "Latency"
    fig, ax = _figure(f"{what} distribution")
    vals = np.array([v for (v,) in _values(requests, key)])
    if vals.size == 0:
        _empty(ax)
        return fig
    ms = float(vals.max()) < 2.0
    scale, unit = (1e3, "ms") if ms else (1.0, "s")
    shown = vals * scale
    bins = int(min(40, max(5, np.sqrt(vals.size) * 2)))
    ax.hist(shown, bins=bins, color=COLORS[0], alpha=0.75, edgecolor="white")
    pct = percentiles(vals, (50, 95, 99))
    for (name, value), color, style in zip(pct.items(), ("#10b981", "#f97316", "#ef4444"), ("-", "--", ":")):
        if value is not None:
            shown_value = f"{value * scale:.0f}" if ms else f"{value:.2f}"
            ax.axvline(value * scale, color=color, ls=style, lw=1.6, label=f"{name} {shown_value} {unit}")
    ax.set_xlabel(f"{what.lower()} ({unit})")
    ax.set_ylabel("requests")
    ax.set_title(f"{what} distribution (last {vals.size} requests)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def rtf_vs_audio_figure(requests: Sequence[dict[str, Any]]) -> Figure:
    """RTF against audio length, one colour per NFE: short texts pay fixed costs, so their RTF is higher."""
    fig, ax = _figure("RTF vs audio length")
    rows = [(r, a, v) for r in requests for (a, v) in _values([r], "audio_s", "rtf")]
    if not rows:
        _empty(ax)
        return fig
    nfes = sorted({r.get("nfe") for r, _, _ in rows}, key=lambda n: (n is None, n or 0))
    for i, nfe in enumerate(nfes):
        pts = [(a, v) for r, a, v in rows if r.get("nfe") == nfe]
        ax.scatter([a for a, _ in pts], [v for _, v in pts], s=16, alpha=0.7, color=COLORS[i % len(COLORS)],
                   label=f"NFE {nfe}" if nfe is not None else "NFE ?")
    ax.set_xlabel("audio length (s)")
    ax.set_ylabel("RTF (lower is faster)")
    ax.set_xlim(0, _top(max(a for _, a, _ in rows)))
    ax.set_ylim(0, _top(max(v for _, _, v in rows)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def gpu_memory_figure(points: Sequence[dict[str, Any]], device: str | None = None) -> Figure:
    """Allocated, reserved and peak GPU memory (MiB) over time."""
    title = "GPU memory over time" + (f" — {device}" if device else "")
    fig, ax = _figure(title)
    if not points:
        on_cpu = device is not None and device.lower().startswith("cpu")
        _empty(ax, CPU_MEMORY_MESSAGE if on_cpu else EMPTY_MESSAGE)
        return fig
    for (key, label), color in zip((("allocated_mib", "allocated"), ("reserved_mib", "reserved"),
                                    ("peak_mib", "peak allocated")), COLORS):
        pts = _values(points, "t", key)
        if pts:
            ax.step([datetime.fromtimestamp(t) for t, _ in pts], [v for _, v in pts], where="post", lw=1.6,
                    color=color, label=label)
    ax.set_ylim(0, _top(max((v for p in points for k, v in p.items() if k != "t" and _finite(v)), default=1.0)))
    ax.set_ylabel("MiB")
    ax.set_xlabel("time")
    _time_axis(ax, [datetime.fromtimestamp(p["t"]) for p in points if _finite(p.get("t"))])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _has_rows(result: dict[str, Any] | None) -> bool:
    return bool(result and result.get("rows"))


def benchmark_latency_figure(result: dict[str, Any] | None) -> Figure:
    """`bench_plots.latency_figure` of a benchmark result, or an empty-state figure."""
    if _has_rows(result):
        return latency_figure(result)  # type: ignore[arg-type]
    fig, ax = _figure("Benchmark latency")
    _empty(ax, NO_BENCHMARK_MESSAGE)
    return fig


def benchmark_rtf_figure(result: dict[str, Any] | None) -> Figure:
    """`bench_plots.rtf_figure` of a benchmark result, or an empty-state figure."""
    if _has_rows(result):
        return rtf_figure(result)  # type: ignore[arg-type]
    fig, ax = _figure("Benchmark real-time factor")
    _empty(ax, NO_BENCHMARK_MESSAGE)
    return fig
