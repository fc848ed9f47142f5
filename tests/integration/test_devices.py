"""Two device workers in a real studio: `engine.devices = "cpu,cpu"` gives two smoke F5 engines on the CPU behind
one runtime. A real server (`app.py --smoke` subprocess) driven by gradio_client: concurrent syntheses use both
workers, /health lists both devices and /metrics carries per-device series with a `device` label."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import soundfile as sf
from gradio_client import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import Server, running_studio, start_server, stop

DEVICES = ("cpu#0", "cpu#1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("two-devices"), devices='"cpu,cpu"', max_batch=2)
    yield srv
    stop(srv.process)


def _client(server: Server) -> Client:
    return Client(server.url, verbose=False, analytics_enabled=False)


def test_health_lists_both_devices(server: Server) -> None:
    health = _client(server).predict(api_name="/health")
    assert health["status"] == "ready"
    rows = {row["device"]: row for row in health["devices"]}
    assert sorted(rows) == list(DEVICES)
    assert all(row["status"] == "ready" and row["queue_depth"] == 0 for row in rows.values())


def test_concurrent_syntheses_use_both_devices_and_metrics_say_so(server: Server) -> None:
    voice = _client(server).predict(api_name="/list_voices")[0]["name"]

    def synth(k: int) -> tuple[str, dict]:
        return _client(server).predict(f"Line number {k} of the two device test.", voice, 4, k, 1.0,
                                       api_name="/synthesize")

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(synth, range(12)))
    for path, _stats in outcomes:
        audio, rate = sf.read(path)
        assert rate == 24000 and len(audio) > 0.3 * rate
    health = _client(server).predict(api_name="/health")
    done = {row["device"]: row["completed"] for row in health["devices"]}
    assert all(done[d] >= 1 for d in DEVICES), f"both workers served: {done}"
    assert sum(done.values()) >= 12

    with urllib.request.urlopen(server.url.rstrip("/") + "/metrics", timeout=10) as resp:
        families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
    completed = {s.labels["device"]: s.value for s in families["ishowtts_device_requests_completed"].samples
                 if s.name.endswith("_total")}
    assert set(completed) == set(DEVICES) and all(v >= 1 for v in completed.values())
    audio = {s.labels["device"]: s.value for s in families["ishowtts_device_audio_generated_seconds"].samples
             if s.name.endswith("_total")}
    assert all(audio[d] > 0 for d in DEVICES)
    ready = {s.labels["device"]: s.value for s in families["ishowtts_device_ready"].samples}
    assert ready == {d: 1.0 for d in DEVICES}
    assert {s.labels["device"] for s in families["ishowtts_device_queued_audio_seconds"].samples} == set(DEVICES)

    snap = _client(server).predict(api_name="/metrics_snapshot")
    rows = {row["device"]: row for row in snap["per_device"]}
    assert sorted(rows) == list(DEVICES) and sum(row["n"] for row in rows.values()) >= 12
    assert all(row["audio_s_per_s"] for row in rows.values())
    from ishowtts_studio.ui.performance import engine_markdown

    line = engine_markdown(snap)  # the Performance tab's engine line, from the server's own snapshot
    assert "Devices — cpu#0: ready" in line and "cpu#1: ready" in line and "audio s/s" in line


def test_one_device_is_the_plain_runtime_with_one_device_row(tmp_path: Path) -> None:
    from ishowtts_studio.runtime import EngineRuntime

    with running_studio(tmp_path, **{"engine.device": "cpu"}) as studio:
        assert type(studio.runtime) is EngineRuntime, "one device: no router on the request path"
        (row,) = studio.health()["devices"]
        assert row["device"] == "cpu" and row["status"] == "ready"
        (prom,) = [f for f in text_string_to_metric_families(studio.metrics.prometheus_text().decode())
                   if f.name == "ishowtts_device_ready"]
        assert [(s.labels, s.value) for s in prom.samples] == [({"device": "cpu"}, 1.0)]
