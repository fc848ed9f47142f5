"""Matplotlib figures of a benchmark result (no gradio): used by the CLI and the Performance tab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the CLI and the server never open windows
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def latency_figure(result: dict[str, Any]) -> Figure:
    """Median latency per row, ours beside stock f5-tts when it was measured (log scale)."""
    rows = result["rows"]
    labels = [f"{r['lang']} {r['text']}\nNFE {r['nfe']}" for r in rows]
    ours = [r["ours_latency"]["median"] * 1e3 for r in rows]
    stock = [r.get("stock_latency", {}).get("median") for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.9), 4), layout="constrained")
    x = range(len(rows))
    width = 0.4 if any(s is not None for s in stock) else 0.8
    ax.bar([i - width / 2 if width < 0.8 else i for i in x], ours, width, label="iShowTTS", color="#3b82f6")
    if width < 0.8:
        ax.bar([i + width / 2 for i in x], [(s or 0) * 1e3 for s in stock], width, label="stock f5-tts",
               color="#9ca3af")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("median latency (ms, log)")
    title = f"Latency on {result['device']} ({result['precision']})"
    if result.get("random_weights"):
        title += " — random weights"
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return fig


def rtf_figure(result: dict[str, Any]) -> Figure:
    """Real-time factor against audio length, one line per NFE."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for nfe in sorted({r["nfe"] for r in result["rows"]}):
        pts = sorted((r["audio_s"], r["ours_rtf"]["median"]) for r in result["rows"] if r["nfe"] == nfe)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"NFE {nfe}")
    ax.set_xlabel("audio length (s)")
    ax.set_ylabel("RTF (lower is faster)")
    ax.set_title("Real-time factor vs audio length")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def workload_figure(result: dict[str, Any]) -> Figure:
    """Each workload request's latency (request -> complete) and time to first audio against its arrival."""
    loads = result.get("workloads", [])
    fig, axes = plt.subplots(1, max(1, len(loads)), figsize=(6 * max(1, len(loads)), 4), layout="constrained",
                             squeeze=False)
    for ax, w in zip(axes[0], loads):
        reqs = w["per_request"]
        order = range(len(reqs))
        ax.plot(order, [r["latency_s"] * 1e3 for r in reqs], "o", ms=3, label="request -> complete")
        ax.plot(order, [r["ttfa_s"] * 1e3 for r in reqs], "x", ms=3, label="first audio")
        ax.set_yscale("log")
        ax.set_xlabel("request (in arrival order)")
        ax.set_ylabel("ms (log)")
        rate = f" at {w['rate']}/s" if w.get("rate") else ""
        ax.set_title(f"{w['workload']}: {w['messages']} new lines{rate}, NFE {w['nfe']}")
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def save_plots(result: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    makers = [("latency.png", latency_figure), ("rtf.png", rtf_figure)] if result.get("rows") else []
    if result.get("workloads"):
        makers.append(("workloads.png", workload_figure))
    for name, make in makers:
        fig = make(result)
        path = folder / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
