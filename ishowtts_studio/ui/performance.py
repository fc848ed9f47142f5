"""Performance tab: live tiles and plots of the shared engine, a benchmark runner, baselines; /metrics.

The UI owner calls `build_performance_tab(studio, metrics)` inside `with gr.Tab("Performance")`. The
live view is refreshed by a `gr.Timer` whose events are not queued (`queue=False`) so they never
wait behind GPU work, and plots are only redrawn when the metrics changed. The benchmark runs on the
engine worker through `bench.run_benchmark` (GPU concurrency group) and is saved in the database.

The logic (benchmark settings, runs, baselines, live figures) is `services/bench.py` (`studio.bench`);
this module holds widgets and formatting, and `mount_prometheus(app, metrics)` adds GET /metrics.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import gradio as gr
from prometheus_client import CONTENT_TYPE_LATEST

from ishowtts_studio.bench import TEXTS, compare, format_table
from ishowtts_studio.metrics import MetricsService
from ishowtts_studio.numbers import finite_or_none
from ishowtts_studio.services.bench import RUNS_MAX, RUNS_MIN, TEXT_SIZES, WARMUP_MAX, BenchService, bench_config
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui import plots
from ishowtts_studio.ui.common import GPU, user_errors

log = logging.getLogger(__name__)

REFRESH_S = 2.0
NFE_CHOICES = [4, 8, 16, 32]
REGRESSION_TOLERANCE = 0.05


# ------------------------------------------------------------------------------------------ formatting


def fmt_seconds(value: Any) -> str:
    v = finite_or_none(value)
    if v is None:
        return "—"
    return f"{v * 1e3:.0f} ms" if v < 1.0 else f"{v:.2f} s"


def fmt_rtf(value: Any) -> str:
    v = finite_or_none(value)
    return "—" if v is None else f"{v:.3f}"


def _tile(label: str, value: str, sub: str = "") -> str:
    return (
        '<div class="perf-tile" style="flex:1 1 150px;min-width:140px;padding:0.55rem 0.8rem;border-radius:10px;'
        'border:1px solid var(--border-color-primary);background:var(--block-background-fill)">'
        f'<div style="font-size:0.78rem;opacity:0.75">{html.escape(label)}</div>'
        f'<div class="perf-value" style="font-size:1.35rem;font-weight:600;line-height:1.6">{html.escape(value)}</div>'
        f'<div style="font-size:0.75rem;opacity:0.7">{html.escape(sub)}</div></div>'
    )


def tiles_html(snap: dict[str, Any]) -> str:
    """The tile row of a `MetricsService.snapshot()`."""
    w = snap.get("window") or {}
    n = int(w.get("n") or 0)
    rtf = (w.get("rtf") or {}).get("p50")
    lat = w.get("latency_s") or {}
    ttfa = w.get("ttfa_s") or {}
    mem = snap.get("gpu_memory") or {}
    cache = snap.get("cache") or {}
    counts = snap.get("counts") or {}
    speed = finite_or_none(rtf)
    rate = finite_or_none(w.get("audio_s_per_s"))
    hit_rate = finite_or_none(cache.get("hit_rate"))
    if mem:
        mib = {k: finite_or_none(mem.get(f"{k}_mib")) or 0 for k in ("allocated", "reserved", "peak")}
        mem_value = f"{mib['allocated']:,.0f} MiB"
        mem_sub = f"reserved {mib['reserved']:,.0f} · peak {mib['peak']:,.0f} MiB"
    else:
        on_cpu = str(snap.get("device") or "").lower().startswith("cpu")
        mem_value, mem_sub = ("CPU", "no GPU memory") if on_cpu else ("—", "not measured yet")
    last = f"last {n} live requests" if n else "no live requests yet"
    tiles = [
        _tile("RTF p50", fmt_rtf(rtf), f"{1 / speed:.1f}× real time · {last}" if speed else last),
        _tile("Latency p50 / p95", f"{fmt_seconds(lat.get('p50'))} / {fmt_seconds(lat.get('p95'))}",
              f"p99 {fmt_seconds(lat.get('p99'))} · mean {fmt_seconds(lat.get('mean'))}"),
        _tile("First audio p50", fmt_seconds(ttfa.get("p50")), f"p95 {fmt_seconds(ttfa.get('p95'))}"),
        _tile("Queue", str(snap.get("queue_depth", 0)),
              f"{counts.get('completed', 0)} done · {counts.get('failed', 0)} failed · "
              f"{counts.get('rejected_busy', 0)} busy"),
        _tile("GPU memory", mem_value, mem_sub),
        _tile("Voice cache hit rate", "—" if hit_rate is None else f"{hit_rate:.0%}",
              f"{cache.get('hits', 0)} hits · {cache.get('misses', 0)} misses · {cache.get('items', 0)} held"),
        _tile("Throughput", "—" if rate is None else f"{rate:.1f} s/s", "audio seconds per second"),
    ]
    other = snap.get("other_traffic") or {}
    names = {"bench": "benchmark", "nfe": "NFE-compare render"}
    note = ""
    if other:
        parts = [f"{c} {names.get(s, s)} request{'s' if c != 1 else ''}" for s, c in sorted(other.items())]
        note = ('<div id="perf-other-traffic" style="font-size:0.8rem;opacity:0.75;margin-top:0.3rem">'
                f"Not in these figures: {html.escape(', '.join(parts))} (see the benchmark results and the NFE "
                "compare tab).</div>")
    return ('<div id="perf-tiles" style="display:flex;flex-wrap:wrap;gap:0.6rem">' + "".join(tiles) + "</div>"
            + note)


def engine_markdown(snap: dict[str, Any]) -> str:
    """One line: device, precision, fast-path flags, warm-up state and engine status."""
    def on_off(flag: Any) -> str:
        return "on" if flag else "off"

    fast = snap.get("fast_path") or {}
    pending = int(fast.get("shapes_pending") or 0)  # exact graphs still being prepared between requests
    graphs = f"{int(fast.get('graphs_captured') or 0)} captured" + (f", {pending} more coming" if pending else "")
    parts = [
        f"**{html.escape(str(snap.get('device') or '?'))}**",
        f"precision **{html.escape(str(snap.get('precision') or '?'))}**",
        f"CUDA graphs **{on_off(snap.get('cuda_graphs'))}**" + (f" ({graphs})" if snap.get("cuda_graphs") else ""),
        f"torch.compile **{on_off(snap.get('compile'))}**",
        f"warm-up **{html.escape(str(snap.get('warmup') or '?'))}**",
        f"engine **{html.escape(str(snap.get('status') or '?'))}**",
    ]
    line = " · ".join(parts)
    if snap.get("random_weights"):
        line += " · `random weights: speed figures only, the audio is noise`"
    per = snap.get("per_engine") or {}
    engines = []
    for e in snap.get("engines") or []:
        figures = per.get(e["name"]) or {}
        lat, rtf = (figures.get("latency_s") or {}).get("p50"), (figures.get("rtf") or {}).get("p50")
        load = "loaded" if e.get("loaded") else html.escape(str(e.get("status")))
        seen = f", {figures['n']} requests, median {fmt_seconds(lat)}, RTF {fmt_rtf(rtf)}" if figures.get("n") else ""
        engines.append(f"{html.escape(str(e.get('label')))}: {load}{seen}")
    if engines:
        line += "  \nEngines — " + " · ".join(engines)
    return line + devices_markdown(snap.get("per_device") or [])


def devices_markdown(rows: list[dict[str, Any]]) -> str:
    """With several devices (engine.devices), one more line: each device's state, queue and figures."""
    if len(rows) < 2:
        return ""
    parts = []
    for row in rows:
        rate, queued = row.get("audio_s_per_s"), float(row.get("queued_audio_s") or 0)
        text = (f"{html.escape(str(row['device']))}: {html.escape(str(row.get('status')))}, queue "
                f"{row.get('queue_depth', 0)} ({queued:.1f} s of audio), {row.get('completed', 0)} done")
        if rate:
            text += f", {float(rate):.1f} audio s/s"
        if row.get("failed"):
            text += f", {int(row['failed'])} failed"
        parts.append(text)
    return "  \nDevices — " + " · ".join(parts)


def comparison_markdown(result: dict[str, Any], baseline: dict[str, Any], name: str,
                        tolerance: float = REGRESSION_TOLERANCE) -> str:
    """A table of every row both runs share (median latency), with rows more than `tolerance` slower flagged."""
    slower = {(s["lang"], s["text"], s["nfe"]) for s in compare(result, baseline, tolerance)}
    base = {(r["lang"], r["text"], r["nfe"]): r for r in baseline.get("rows", [])}
    lines = [
        f"**Against baseline `{html.escape(name)}`** ({html.escape(str(baseline.get('device', '?')))}, "
        f"{html.escape(str(baseline.get('created', '?')))}) — median latency, flagged when more than "
        f"{tolerance:.0%} slower",
        "",
        "| lang | text | NFE | baseline | now | change | |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    shared = 0
    for r in result.get("rows", []):
        key = (r["lang"], r["text"], r["nfe"])
        b = base.get(key)
        if not b:
            continue
        shared += 1
        now, then = r["ours_latency"]["median"], b["ours_latency"]["median"]
        change = (now / then - 1) if then else float("nan")
        flag = "⚠️ **slower**" if key in slower else "✓"
        lines.append(f"| {r['lang']} | {r['text']} | {r['nfe']} | {fmt_seconds(then)} | {fmt_seconds(now)} | "
                     f"{change:+.1%} | {flag} |")
    if not shared:
        return (f"Baseline `{html.escape(name)}` has no row in common with this run (compare the same languages, "
                "text sizes and NFEs).")
    verdict = (f"**{len(slower)} row(s) regressed.**" if slower else "No row is more than "
               f"{tolerance:.0%} slower than the baseline.")
    if baseline.get("device") != result.get("device"):
        verdict += " Note: the baseline was measured on a different device."
    return "\n".join(lines + ["", verdict])


def mount_prometheus(app: Any, metrics: MetricsService, *, path: str = "/metrics",
                     basic_auth: tuple[str, str] | None = None) -> None:
    """Add GET `path` serving `metrics.prometheus_text()` to a FastAPI/Starlette app (Gradio's included).

    Works before the server starts and after (Starlette looks routes up per request). Gradio's login does
    not cover routes added this way: pass `basic_auth=(user, password)` to require HTTP basic auth, which
    Prometheus supports (`basic_auth` in the scrape config).
    """
    from starlette.requests import Request
    from starlette.responses import Response

    def authorised(request: Request) -> bool:
        if basic_auth is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user.encode(), basic_auth[0].encode()) & secrets.compare_digest(
            password.encode(), basic_auth[1].encode())

    def prometheus_metrics(request: Request) -> Response:  # sync: Starlette runs it in its thread pool
        if not authorised(request):
            return Response("authentication required\n", status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="ishowtts-metrics"'})
        return Response(metrics.prometheus_text(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.add_route(path, prometheus_metrics, methods=["GET"], name="prometheus_metrics", include_in_schema=False)


# ------------------------------------------------------------------------------------------------ tab


@dataclass
class PerformanceTab:
    timer: gr.Timer
    tiles: gr.HTML
    engine: gr.Markdown
    plots: list[gr.Plot]
    baselines: gr.Dropdown
    nfes: gr.CheckboxGroup


def bench_nfe_choices(studio: Studio) -> list[int]:
    """The benchmark's NFE choices: the standard ones plus the studio's default (say, an adopted 7)."""
    return sorted({*NFE_CHOICES, studio.default_nfe()})


def bench_nfes_update(studio: Studio) -> gr.CheckboxGroup:
    """Choices that include the current default NFE, which is ticked."""
    return gr.CheckboxGroup(choices=bench_nfe_choices(studio), value=[studio.default_nfe()])


def _live_figures(bench: BenchService, metrics: MetricsService) -> list[Any]:
    reqs = metrics.recent_requests(live_only=True)  # benchmark and NFE renders are not live traffic
    device = bench.device()
    return [
        plots.rtf_over_time_figure(reqs),
        plots.latency_histogram_figure(reqs),
        plots.rtf_vs_audio_figure(reqs),
        plots.gpu_memory_figure(metrics.memory_points(), device=device),
    ]


def build_performance_tab(studio: Studio, metrics: MetricsService, *, refresh_s: float = REFRESH_S) -> PerformanceTab:
    """Build the tab's content; call inside `with gr.Tab("Performance")` within the page's Blocks."""
    bench = studio.bench
    snap = metrics.snapshot()
    gr.Markdown("Live figures of the shared engine over the last requests; they refresh every few seconds.")
    engine = gr.Markdown(engine_markdown(snap), elem_id="perf-engine")
    tiles = gr.HTML(tiles_html(snap), elem_id="perf-tiles-box")
    with gr.Row(elem_classes=["plot-row"]):
        rtf_time = gr.Plot(label="RTF over time", format="png", show_label=False)
        latency_hist = gr.Plot(label="Latency distribution", format="png", show_label=False)
    with gr.Row(elem_classes=["plot-row"]):
        rtf_audio = gr.Plot(label="RTF vs audio length", format="png", show_label=False)
        memory = gr.Plot(label="GPU memory", format="png", show_label=False)
    live_plots = [rtf_time, latency_hist, rtf_audio, memory]
    seen = gr.State(-1)  # metrics version this page last drew

    with gr.Accordion("Benchmark", open=True):
        gr.Markdown(
            "Standard texts at the chosen NFEs: warm-up runs, then timed runs (device-synchronised) of our "
            "engine, optionally alternating with the stock f5-tts pipeline on the same weights. It uses the "
            "engine, so live requests wait while a row runs. The run is saved; save it as a baseline to catch "
            f"regressions (rows more than {REGRESSION_TOLERANCE:.0%} slower are flagged)."
        )
        with gr.Row():
            nfes = gr.CheckboxGroup(bench_nfe_choices(studio), value=[studio.default_nfe()], label="NFE (ODE steps)",
                                    elem_id="bench-nfe")
            sizes = gr.CheckboxGroup(TEXT_SIZES, value=["short"], label="Text sizes", elem_id="bench-texts")
            langs = gr.CheckboxGroup(sorted(TEXTS), value=["en"], label="Languages", elem_id="bench-langs")
        with gr.Row():
            runs = gr.Slider(RUNS_MIN, RUNS_MAX, value=5, step=1, label="Timed runs per row", elem_id="bench-runs")
            warmup = gr.Slider(0, WARMUP_MAX, value=1, step=1, label="Warm-up runs per row", elem_id="bench-warmup")
            stock = gr.Checkbox(False, label="Compare with stock f5-tts", elem_id="bench-stock")
        run_btn = gr.Button("Run benchmark", variant="primary", elem_id="bench-run")
        bench_status = gr.Markdown("", elem_id="bench-status")
        table = gr.Code("", label="Results", language=None, interactive=False, elem_id="bench-table")
        with gr.Row(elem_classes=["plot-row"]):
            bench_latency = gr.Plot(plots.benchmark_latency_figure(None), label="Benchmark latency", format="png",
                                   show_label=False)
            bench_rtf = gr.Plot(plots.benchmark_rtf_figure(None), label="Benchmark RTF", format="png",
                               show_label=False)
        with gr.Row():
            baseline_name = gr.Textbox(label="Save this run as baseline", placeholder="e.g. h100-main",
                                       elem_id="bench-baseline-name", scale=2)
            save_btn = gr.Button("Save as baseline", elem_id="bench-save-baseline", scale=1)
            names = bench.baseline_names()
            baselines = gr.Dropdown(names, value=names[0] if names else None, label="Baseline",
                                    elem_id="bench-baseline", scale=2, allow_custom_value=False)
            compare_btn = gr.Button("Compare with baseline", elem_id="bench-compare", scale=1)
        comparison = gr.Markdown("", elem_id="bench-comparison")
    last = gr.State(None)  # this page's last benchmark result

    # ---- live refresh (never queued behind GPU work) -----------------------------------------------
    def refresh(version: int | None) -> tuple[Any, ...]:
        snap = metrics.snapshot()
        current = int(snap.get("version") or 0)
        figs = _live_figures(bench, metrics) if current != version else [gr.skip()] * len(live_plots)
        return (engine_markdown(snap), tiles_html(snap), *figs, current)

    def first_paint() -> tuple[Any, ...]:
        return refresh(None)

    outputs = [engine, tiles, *live_plots, seen]
    gr.on(triggers=None, fn=first_paint, inputs=None, outputs=outputs, queue=False, show_progress="hidden",
          api_visibility="private")
    timer = gr.Timer(refresh_s)
    timer.tick(refresh, inputs=seen, outputs=outputs, queue=False, show_progress="hidden",
               api_name="perf_tick", api_visibility="private")

    # ---- benchmark ------------------------------------------------------------------------------------
    @user_errors
    def run(nfe_values: list[int], size_values: list[str], lang_values: list[str], n_runs: float, n_warm: float,
            with_stock: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        cfg = bench_config(nfe_values, n_runs, size_values, langs=lang_values, compare_stock=with_stock,
                           warmup=n_warm)
        progress(0.0, desc="starting")
        result = bench.run_and_save(cfg, progress=lambda f, msg: progress(f, desc=msg))
        note = f"Saved as run #{result['run_id']} on {result.get('device', '?')}."
        if result.get("random_weights"):
            note += f" Weights: {result.get('weights_label')} (random) — speed figures only."
        return (note, format_table(result), plots.benchmark_latency_figure(result),
                plots.benchmark_rtf_figure(result), result, "")

    run_btn.click(
        run, inputs=[nfes, sizes, langs, runs, warmup, stock],
        outputs=[bench_status, table, bench_latency, bench_rtf, last, comparison],
        concurrency_id=GPU, concurrency_limit=1, api_visibility="private", show_progress="full",
    )

    @user_errors
    def save_baseline(name: str | None, result: dict[str, Any] | None) -> tuple[Any, ...]:
        name = bench.save_baseline(name, result)
        choices = bench.baseline_names()
        return f"Saved this run as baseline `{html.escape(name)}`.", gr.Dropdown(choices=choices, value=name)

    # queued (not queue=False): Gradio shows a handler's error only for queued events; unqueued ones answer
    # HTTP 500 and the page stays silent. These events have their own concurrency group, not the GPU's.
    save_btn.click(save_baseline, inputs=[baseline_name, last], outputs=[bench_status, baselines],
                   api_visibility="private")

    @user_errors
    def compare_with(name: str | None, result: dict[str, Any] | None) -> str:
        return comparison_markdown(result, bench.baseline_for(name, result), name)

    compare_btn.click(compare_with, inputs=[baselines, last], outputs=comparison, api_visibility="private")

    def refresh_baselines(current: str | None) -> gr.Dropdown:
        choices = bench.baseline_names()
        return gr.Dropdown(choices=choices, value=current if current in choices else (choices[0] if choices else None))

    baselines.focus(refresh_baselines, inputs=baselines, outputs=baselines, queue=False, show_progress="hidden",
                    api_visibility="private")

    return PerformanceTab(timer=timer, tiles=tiles, engine=engine, plots=live_plots, baselines=baselines, nfes=nfes)
