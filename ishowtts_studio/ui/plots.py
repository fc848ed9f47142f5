"""Matplotlib figures for the Performance tab (live request figures, benchmark results) and the NFE
compare tab (scores, RTF and the quality/speed frontier per NFE).

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
    "nfe_frontier_figure",
    "nfe_rtf_figure",
    "nfe_scores_figure",
    "pareto_frontier",
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


# ---- NFE compare ---------------------------------------------------------------------------------------
# These take the per-NFE summary of `quality.summarise` (keys nfe, is_reference, pesq_wb, pesq_wb_ci, stoi,
# stoi_ci, estoi, estoi_ci, rtf, rtf_ci, renders): means with 95% intervals across sentences as error bars.
NO_NFE_MESSAGE = "No renders yet — pick texts and NFEs, then press Render and score"
PESQ_MAX = 4.64


def _yerr(entries: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """Asymmetric error bars from the `<key>_ci` intervals (zero where an interval is missing)."""
    lows, highs = [], []
    for e in entries:
        lo, hi = e.get(f"{key}_ci") or [None, None]
        m = e[key]
        lows.append(m - lo if lo is not None else 0.0)
        highs.append(hi - m if hi is not None else 0.0)
    return np.array([lows, highs])


def _scored(summary: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [e for e in summary if _finite(e.get(key))]


def nfe_scores_figure(summary: Sequence[dict[str, Any]], reference_nfe: int | None = None,
                      thresholds: dict[str, float] | None = None) -> Figure:
    """PESQ-WB (left axis) and STOI / ESTOI (right axis) of each candidate NFE against the reference render,
    mean and 95% interval across sentences; dashed lines are the thresholds a verdict needs."""
    title = "Scores vs NFE" + (f" (against reference NFE {reference_nfe})" if reference_nfe else "")
    fig, ax = _figure(title)
    cand = [e for e in summary if not e.get("is_reference")]
    pesq = _scored(cand, "pesq_wb")
    stoi, estoi = _scored(cand, "stoi"), _scored(cand, "estoi")
    if not (pesq or stoi or estoi):
        _empty(ax, NO_NFE_MESSAGE if not cand else "No candidate could be scored — see the per-render problems")
        return fig
    th = thresholds or {}
    if pesq:
        ax.errorbar([e["nfe"] for e in pesq], [e["pesq_wb"] for e in pesq], yerr=_yerr(pesq, "pesq_wb"),
                    marker="o", capsize=3, color=COLORS[0], label="PESQ-WB (left)")
    if th.get("pesq_wb"):
        ax.axhline(th["pesq_wb"], color=COLORS[0], ls="--", lw=1, alpha=0.6)
    ax.set_ylim(1.0, PESQ_MAX + 0.1)
    ax.set_ylabel("PESQ-WB (1 – 4.64)")
    ax.set_xlabel("NFE (ODE steps)")
    right = ax.twinx()
    for entries, key, color, label in ((stoi, "stoi", COLORS[1], "STOI (right)"),
                                       (estoi, "estoi", COLORS[2], "ESTOI (right)")):
        if entries:
            right.errorbar([e["nfe"] for e in entries], [e[key] for e in entries], yerr=_yerr(entries, key),
                           marker="s", ms=4, capsize=3, color=color, label=label)
        if th.get(key):
            right.axhline(th[key], color=color, ls="--", lw=1, alpha=0.6)
    right.set_ylim(0.0, 1.05)
    right.set_ylabel("STOI / ESTOI (0 – 1)")
    ax.set_xticks(sorted({e["nfe"] for e in cand}))
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="lower right")
    return fig


def nfe_rtf_figure(summary: Sequence[dict[str, Any]]) -> Figure:
    """Real-time factor of each NFE (the reference included), mean and 95% interval across sentences."""
    fig, ax = _figure("RTF vs NFE (lower is faster)")
    pts = _scored(summary, "rtf")
    if not pts:
        _empty(ax, NO_NFE_MESSAGE)
        return fig
    ax.errorbar([e["nfe"] for e in pts], [e["rtf"] for e in pts], yerr=_yerr(pts, "rtf"), marker="o", capsize=3,
                color=COLORS[4], label="render RTF")
    for e in pts:
        if e.get("is_reference"):
            ax.annotate("reference", (e["nfe"], e["rtf"]), textcoords="offset points", xytext=(-10, 8), fontsize=8)
    top = max(e["rtf"] + _yerr([e], "rtf")[1][0] for e in pts)
    if top >= 0.5:
        ax.axhline(1.0, color="#64748b", lw=1, ls=":", label="real time")
    ax.set_ylim(0, _top(top))
    ax.set_xticks([e["nfe"] for e in pts])
    ax.set_xlabel("NFE (ODE steps)")
    ax.set_ylabel("RTF (compute s per audio s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def pareto_frontier(points: Sequence[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """The (rtf, quality, nfe) points no other point beats on both speed (lower RTF) and quality."""
    front, best = [], -np.inf
    for x, y, n in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y, n))
            best = y
    return front


def nfe_frontier_figure(summary: Sequence[dict[str, Any]]) -> Figure:
    """Quality (PESQ-WB) against speed (RTF) per NFE; the line joins the NFEs no other NFE beats on both.
    The reference is at 4.64 by definition (it is what the others are compared with)."""
    fig, ax = _figure("Quality / speed frontier")
    pts = [(e["rtf"], e["pesq_wb"], e["nfe"]) for e in summary
           if not e.get("is_reference") and _finite(e.get("rtf")) and _finite(e.get("pesq_wb"))]
    ref = [(e["rtf"], PESQ_MAX, e["nfe"]) for e in summary if e.get("is_reference") and _finite(e.get("rtf"))]
    if not pts:
        _empty(ax, NO_NFE_MESSAGE if not summary else "No candidate could be scored — see the per-render problems")
        return fig
    front = pareto_frontier(pts + ref)
    ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=COLORS[2], lw=1.5, alpha=0.8,
            label="frontier")
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=COLORS[0], zorder=3, label="candidate NFE")
    if ref:
        ax.scatter([ref[0][0]], [ref[0][1]], marker="*", s=120, color=COLORS[1], zorder=3,
                   label=f"reference NFE {ref[0][2]}")
    for x, y, n in pts + ref:
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlim(0, _top(max(p[0] for p in pts + ref)))
    ax.set_ylim(max(1.0, min(p[1] for p in pts) - 0.3), PESQ_MAX + 0.15)
    ax.set_xlabel("RTF (lower is faster)")
    ax.set_ylabel("PESQ-WB against the reference")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig
