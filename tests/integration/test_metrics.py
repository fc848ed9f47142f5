"""MetricsService, the Performance tab's pieces and GET /metrics, against a real smoke studio.

No mocks: a real `Studio` in smoke mode (tiny random F5 model on the CPU), real SQLite, a real Gradio
server on a free localhost port scraped with urllib, parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import base64
import math
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ishowtts_studio.metrics import MetricsService
from tests.helpers import running_studio

TEXT = "Hello there, this is a test."


# ------------------------------------------------------------------------------------ real smoke studio


def _wait(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sample(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError(f"{sample} {labels} not in {family}")


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_studio(tmp_path_factory.mktemp("metrics-studio")) as s:
        yield s


@pytest.fixture(scope="module")
def observed(studio: Any) -> Iterator[dict[str, Any]]:
    """The Studio's own MetricsService (attached at start) and what it showed right after three syntheses."""
    metrics = studio.metrics
    metrics.sample_every_s = 0.2  # the idle sampler re-reads engine figures quickly in this test
    voice = studio.voices.voice_names()[0]
    outcomes = [studio.synthesis.synthesize(TEXT, voice, nfe=4, seed=i) for i in range(3)]
    # the listener runs on the worker just after the caller is released: wait for the third one
    _wait(lambda: metrics.snapshot()["window"]["n"] == 3, what="three requests in the metrics window")
    assert metrics.flush(10)
    data = {
        "metrics": metrics, "outcomes": outcomes, "snapshot": metrics.snapshot(),
        "prometheus": metrics.prometheus_text().decode(),
        "rows": studio.store.list_metric_samples(kind="request"),
    }
    yield data


def test_snapshot_after_three_syntheses(observed: dict[str, Any]) -> None:
    snap = observed["snapshot"]
    assert snap["counts"] == {"completed": 3, "failed": 0, "rejected_busy": 0}
    assert snap["status"] == "ready" and snap["ready"] is True
    assert snap["device"] == "cpu" and snap["precision"] == "float32"
    assert snap["cuda_graphs"] is False and snap["compile"] is False
    assert snap["random_weights"] is True and snap["smoke"] is True
    assert snap["warmup"] == "off (the first request is slower)"
    assert snap["queue_depth"] == 0
    assert snap["gpu_memory"] == {}  # CPU: no GPU memory figures
    w = snap["window"]
    assert w["n"] == 3
    for key in ("latency_s", "ttfa_s", "rtf", "queue_wait_s"):
        for stat in ("p50", "p95", "p99", "mean"):
            assert math.isfinite(w[key][stat]), (key, stat, w[key])
        assert w[key]["p50"] <= w[key]["p95"] <= w[key]["p99"]
    assert w["audio_s_per_s"] > 0
    # the window's figures are exactly the three requests' own
    latencies = [o.stats["latency_s"] for o in observed["outcomes"]]
    assert w["latency_s"]["mean"] == pytest.approx(np.mean(latencies))
    assert w["latency_s"]["p50"] == pytest.approx(np.median(latencies))
    assert w["rtf"]["p95"] == pytest.approx(np.percentile([o.stats["rtf"] for o in observed["outcomes"]], 95))
    assert snap["audio_seconds_total"] == pytest.approx(sum(o.stats["audio_s"] for o in observed["outcomes"]))
    # the reference cache: one miss (first use of the voice) and hits after it
    cache = snap["cache"]
    assert cache["misses"] >= 1 and cache["hits"] >= 1 and cache["items"] >= 1
    assert cache["hit_rate"] == pytest.approx(cache["hits"] / (cache["hits"] + cache["misses"]))
    assert snap["last_request"]["voice"] == observed["outcomes"][-1].stats["voice"]


def test_metric_rows_land_in_the_database(observed: dict[str, Any]) -> None:
    rows = observed["rows"]
    assert len(rows) == 3
    outcomes = observed["outcomes"]
    for row, outcome in zip(rows, outcomes):
        st = outcome.stats
        assert row.kind == "request" and row.engine == "f5" and row.nfe == 4
        assert row.voice_slug == st["voice"]
        assert row.latency_s == pytest.approx(st["latency_s"])
        assert row.ttfa_s == pytest.approx(st["ttfa_s"])
        assert row.rtf == pytest.approx(st["rtf"])
        assert row.queue_wait_s == pytest.approx(st["queue_wait_s"])
        assert row.audio_seconds == pytest.approx(st["audio_s"])
        assert row.text_chars == len(TEXT) and row.batch_size == 1
        assert abs(row.created_at.timestamp() - st["finished_at"]) < 1e-3


def test_prometheus_text_parses(observed: dict[str, Any]) -> None:
    fams = _families(observed["prometheus"])
    assert fams["ishowtts_requests_completed"].type == "counter"
    assert _sample(fams, "ishowtts_requests_completed", "ishowtts_requests_completed_total") == 3
    assert _sample(fams, "ishowtts_requests_failed", "ishowtts_requests_failed_total") == 0
    assert _sample(fams, "ishowtts_requests_rejected_busy", "ishowtts_requests_rejected_busy_total") == 0
    for hist in ("ishowtts_request_latency_seconds", "ishowtts_time_to_first_audio_seconds",
                 "ishowtts_queue_wait_seconds", "ishowtts_real_time_factor"):
        assert fams[hist].type == "histogram"
        assert _sample(fams, hist, f"{hist}_count") == 3
        assert _sample(fams, hist, f"{hist}_bucket", le="+Inf") == 3
        assert _sample(fams, hist, f"{hist}_sum") > 0
    lat_sum = _sample(fams, "ishowtts_request_latency_seconds", "ishowtts_request_latency_seconds_sum")
    assert lat_sum == pytest.approx(sum(o.stats["latency_s"] for o in observed["outcomes"]))
    # buckets are cumulative and span 10 ms .. 30 s
    buckets = [s for s in fams["ishowtts_request_latency_seconds"].samples if s.name.endswith("_bucket")]
    les = [float(s.labels["le"]) for s in buckets]
    assert les[0] == 0.01 and les[-2] == 30.0 and les[-1] == math.inf
    counts = [s.value for s in buckets]
    assert counts == sorted(counts)
    assert _sample(fams, "ishowtts_engine_ready", "ishowtts_engine_ready") == 1
    assert _sample(fams, "ishowtts_queue_depth", "ishowtts_queue_depth") == 0
    snap = observed["snapshot"]
    assert _sample(fams, "ishowtts_ref_cache_misses", "ishowtts_ref_cache_misses_total") == snap["cache"]["misses"]
    hits = sum(s.value for s in fams["ishowtts_ref_cache_hits"].samples if s.name.endswith("_total"))
    assert hits == snap["cache"]["hits"]
    info = fams["ishowtts_engine_info"].samples[0]
    assert info.labels["device"] == "cpu" and info.labels["cuda_graphs"] == "false"
    assert fams["ishowtts_gpu_memory_bytes"].samples == []  # CPU


def test_metrics_registry_is_not_the_global_one(observed: dict[str, Any]) -> None:
    from prometheus_client import REGISTRY, generate_latest

    assert observed["metrics"].registry is not REGISTRY
    assert b"ishowtts_requests_completed" not in generate_latest(REGISTRY)
    # a second service in the same process has its own registry (no duplicate-name error)
    other = MetricsService(observed["metrics"].runtime, observed["metrics"].store)
    assert b"ishowtts_request_latency_seconds_count 0.0" in other.prometheus_text()


def test_snapshot_does_not_wait_for_the_engine(studio: Any, observed: dict[str, Any]) -> None:
    """While the worker is busy (a call holding it), snapshot() and the Prometheus text still answer at once."""
    import threading

    release = threading.Event()
    started = threading.Event()

    def hold(engine: Any) -> None:
        started.set()
        release.wait(20)

    holder = threading.Thread(target=studio.runtime.call, args=(hold,), daemon=True)
    holder.start()
    try:
        assert started.wait(20)
        t0 = time.perf_counter()
        snap = observed["metrics"].snapshot()
        text = observed["metrics"].prometheus_text()
        assert time.perf_counter() - t0 < 0.5
        assert snap["counts"]["completed"] >= 3 and b"ishowtts_engine_ready" in text
        # the background sampler gives up after its timeout instead of hanging on a busy worker
        t0 = time.perf_counter()
        assert observed["metrics"].sample_now(timeout=0.1) is False
        assert time.perf_counter() - t0 < 1.0
    finally:
        release.set()
        holder.join(20)


# ------------------------------------------------------------------------------------------------ plots


def test_plots_empty_state_and_with_data(observed: dict[str, Any]) -> None:
    from matplotlib.figure import Figure

    from ishowtts_studio.ui import plots

    def texts(fig: Figure) -> list[str]:
        return [t.get_text() for ax in fig.axes for t in ax.texts]

    empty = [plots.rtf_over_time_figure([]), plots.latency_histogram_figure([]), plots.rtf_vs_audio_figure([]),
             plots.gpu_memory_figure([])]
    for fig in empty:
        assert isinstance(fig, Figure)
        assert fig.axes[0].get_title()
        assert plots.EMPTY_MESSAGE in texts(fig)
    assert plots.CPU_MEMORY_MESSAGE in texts(plots.gpu_memory_figure([], device="cpu"))
    assert plots.NO_BENCHMARK_MESSAGE in texts(plots.benchmark_latency_figure(None))
    assert plots.NO_BENCHMARK_MESSAGE in texts(plots.benchmark_rtf_figure({"rows": []}))

    reqs = observed["metrics"].recent_requests()
    assert len(reqs) == 3
    hist = plots.latency_histogram_figure(reqs)
    legend = [t.get_text() for t in hist.axes[0].get_legend().get_texts()]
    assert [t.split()[0] for t in legend] == ["p50", "p95", "p99"]
    assert not texts(hist)
    assert not texts(plots.rtf_over_time_figure(reqs))
    scatter = plots.rtf_vs_audio_figure(reqs)
    assert [t.get_text() for t in scatter.axes[0].get_legend().get_texts()] == ["NFE 4"]
    mem = plots.gpu_memory_figure([{"t": 1.7e9, "allocated_mib": 100.0, "reserved_mib": 200.0, "peak_mib": 150.0},
                                   {"t": 1.7e9 + 5, "allocated_mib": 120.0, "reserved_mib": 200.0, "peak_mib": 160.0}],
                                  device="NVIDIA H100")
    assert len(mem.axes[0].lines) == 3 and "H100" in mem.axes[0].get_title()
    for fig in (hist, scatter, mem):
        fig.savefig(os.devnull, format="png")  # renders without a display


# ------------------------------------------------------------------------------- tab pieces and the API


def test_tiles_and_engine_line(observed: dict[str, Any]) -> None:
    from ishowtts_studio.ui.performance import engine_markdown, fmt_seconds, tiles_html

    snap = observed["snapshot"]
    tiles = tiles_html(snap)
    for label in ("RTF p50", "Latency p50 / p95", "First audio p50", "Queue", "GPU memory", "Voice cache hit rate"):
        assert label in tiles
    assert fmt_seconds(snap["window"]["latency_s"]["p50"]) in tiles
    assert "CPU" in tiles and "3 done" in tiles
    line = engine_markdown(snap)
    assert "**cpu**" in line and "CUDA graphs **off**" in line and "warm-up" in line and "random weights" in line
    # on a GPU the line counts the graphs, and those still being prepared between requests
    gpu = dict(snap, cuda_graphs=True, fast_path={"graphs_captured": 59, "shapes_pending": 250})
    assert "CUDA graphs **on** (59 captured, 250 more coming)" in engine_markdown(gpu)
    settled = dict(gpu, fast_path={"graphs_captured": 309, "shapes_pending": 0})
    assert "(309 captured)" in engine_markdown(settled)
    empty = tiles_html({})
    assert "no live requests yet" in empty and "—" in empty
    assert fmt_seconds(0.0421) == "42 ms" and fmt_seconds(2.5) == "2.50 s" and fmt_seconds(None) == "—"


def test_metrics_snapshot_api(studio: Any, observed: dict[str, Any]) -> None:
    import json

    from ishowtts_studio.ui.api import StudioAPI

    snap = StudioAPI(studio).metrics_snapshot()
    assert snap["counts"]["completed"] >= 3
    json.dumps(snap, allow_nan=False)  # JSON-safe: no NaN, no objects


def test_run_benchmark_api_and_comparison(studio: Any, observed: dict[str, Any]) -> None:
    from ishowtts_studio.services.errors import InputError
    from ishowtts_studio.ui.performance import comparison_markdown

    with pytest.raises(InputError, match="NFE"):
        studio.bench.run([0], 1, ["short"])
    with pytest.raises(InputError, match="text size"):
        studio.bench.run([4], 1, ["huge"])
    with pytest.raises(InputError, match="Runs"):
        studio.bench.run([4], 0, ["short"])

    before = studio.runtime.completed
    result = studio.bench.run("4", 1, "short", warmup=0)
    assert [(r["lang"], r["text"], r["nfe"]) for r in result["rows"]] == [("en", "short", 4)]
    row = result["rows"][0]
    assert row["ours_latency"]["n"] == 1 and row["audio_s"] > 0 and "ours_ttfa" in row
    saved = {r.id: r for r in studio.store.list_benchmark_runs()}
    assert result["run_id"] in saved and saved[result["run_id"]].payload["rows"] == result["rows"]
    # its streaming (TTFA) requests went through the runtime, so the live metrics saw them
    assert studio.runtime.completed > before
    _wait(lambda: observed["metrics"].snapshot()["window"]["seen"] == studio.runtime.completed,
          what="the benchmark's requests in the metrics")

    same = comparison_markdown(result, result, "self")
    assert "No row is more than 5% slower" in same and "| en | short | 4 |" in same
    fast = {**result, "rows": [{**row, "ours_latency": {**row["ours_latency"],
                                                         "median": row["ours_latency"]["median"] / 10}}]}
    flagged = comparison_markdown(result, fast, "fast")
    assert "⚠️ **slower**" in flagged and "1 row(s) regressed" in flagged and "+900.0%" in flagged
    other = {**result, "rows": [{**row, "nfe": 32}]}
    assert "no row in common" in comparison_markdown(result, other, "other")


# ------------------------------------------------------------------------------------------- /metrics


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def test_metrics_endpoint_on_a_launched_gradio_app(studio: Any, observed: dict[str, Any], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A real Gradio server with login on: the Performance tab and the studio's own `register_api` wiring,
    called with gradio_client, and /metrics scraped over HTTP."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-tmp"))
    import gradio as gr
    from gradio_client import Client
    from prometheus_client import CONTENT_TYPE_LATEST

    from ishowtts_studio.ui.api import register_api
    from ishowtts_studio.ui.common import GPU
    from ishowtts_studio.ui.performance import PerformanceTab, build_performance_tab, mount_prometheus

    metrics = observed["metrics"]
    with gr.Blocks(analytics_enabled=False) as demo:
        with gr.Tab("Performance"):
            tab = build_performance_tab(studio, metrics)
        register_api(studio)  # the studio's own endpoint wiring, as the page uses it

    assert isinstance(tab, PerformanceTab) and len(tab.plots) == 4
    # the timer's events are not queued, so they never wait behind GPU work
    ticks = [d for d in demo.fns.values() if any(t[1] == "tick" for t in d.targets)]
    assert ticks and all(not d.queue for d in ticks) and all(d.show_progress == "hidden" for d in ticks)
    gpu_events = [d.api_name for d in demo.fns.values() if d.concurrency_id == GPU]
    assert {"run", "run_benchmark", "synthesize"} <= set(gpu_events)
    assert {"metrics_snapshot", "health"}.isdisjoint(gpu_events)

    port = _free_port()
    login = ("admin", "pw-for-test")
    demo.queue()
    app, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                              ssr_mode=False, auth=login)
    try:
        # after launch, as app.py would: the route is live at once; the studio's login guards it too
        mount_prometheus(app, metrics, basic_auth=login)
        mount_prometheus(app, metrics, path="/metrics-open")
        assert _get(f"{url}metrics")[0] == 401
        bad = base64.b64encode(b"admin:wrong").decode()
        assert _get(f"{url}metrics", {"Authorization": f"Basic {bad}"})[0] == 401
        good = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        status, ctype, body = _get(f"{url}metrics", {"Authorization": f"Basic {good}"})
        assert status == 200
        assert ctype == CONTENT_TYPE_LATEST
        fams = _families(body)
        completed = _sample(fams, "ishowtts_requests_completed", "ishowtts_requests_completed_total")
        assert completed == studio.runtime.completed >= 3
        count = _sample(fams, "ishowtts_request_latency_seconds", "ishowtts_request_latency_seconds_count")
        assert count == metrics.snapshot()["window"]["seen"] >= 3
        assert _sample(fams, "ishowtts_engine_ready", "ishowtts_engine_ready") == 1
        status, _, body = _get(f"{url}metrics-open")
        assert status == 200 and "ishowtts_requests_completed_total" in body

        client = Client(url, auth=login, verbose=False, analytics_enabled=False, download_files=False)
        snap = client.predict(api_name="/metrics_snapshot")
        assert snap["counts"]["completed"] == studio.runtime.completed and snap["device"] == "cpu"
        result = client.predict(nfes=[4], runs=1, texts=["short"], api_name="/run_benchmark")
        assert [(r["text"], r["nfe"], r["ours_latency"]["n"]) for r in result["rows"]] == [("short", 4, 1)]
        assert isinstance(result["run_id"], int)
        with pytest.raises(Exception, match="NFE 99 is out of range"):
            client.predict(nfes=[99], runs=1, texts=["short"], api_name="/run_benchmark")
    finally:
        demo.close()


def test_metrics_endpoint_on_a_plain_starlette_app(observed: dict[str, Any]) -> None:
    """mount_prometheus on any Starlette/FastAPI app served by uvicorn (how a custom server would mount it)."""
    import threading

    import uvicorn
    from fastapi import FastAPI

    from ishowtts_studio.ui.performance import mount_prometheus

    app = FastAPI()
    mount_prometheus(app, observed["metrics"])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait(lambda: server.started, timeout=20, what="uvicorn to start")
        status, _, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert _sample(_families(body), "ishowtts_requests_completed", "ishowtts_requests_completed_total") >= 3
        assert "/metrics" not in app.openapi()["paths"]
    finally:
        server.should_exit = True
        thread.join(20)


def test_a_long_nfe_run_does_not_push_live_requests_out_of_the_window(studio: Any) -> None:
    """Live and non-live requests shared one bounded list: an NFE comparison as long as it emptied the live
    figures (n = 0, no latency). Live requests are kept apart now."""
    from types import SimpleNamespace

    from ishowtts_studio.metrics import REQUEST_FIELDS

    stats = studio.synthesis.synthesize(TEXT, studio.voices.voice_names()[0], nfe=4, seed=9).stats
    live = SimpleNamespace(**{k: stats.get(k) for k in REQUEST_FIELDS})  # as the runtime reports a request
    metrics = MetricsService(studio.runtime, studio.store, keep=5, window=5)  # not attached: fed by hand
    metrics._on_request(live)
    for _ in range(12):  # more NFE renders than the list keeps
        metrics._on_request(SimpleNamespace(**{**vars(live), "origin": "nfe"}))
    snap = metrics.snapshot()
    assert snap["window"]["n"] == 1
    assert [r["origin"] for r in metrics.recent_requests(live_only=True)] == [live.origin]
