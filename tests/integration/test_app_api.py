"""The studio's HTTP API, called with gradio_client against a real smoke-mode server (see conftest.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client.exceptions import AppError

from tests.helpers import held_worker

ON_BOTH_DATABASES = True  # server tests run on a studio with SQLite and one with PostgreSQL (conftest.py)

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"

EN = "Nature (English)"
ZH = "太乙真人 (Chinese)"
TEXT = "Hello world, this is a test of the studio."
STATS_KEYS = {"latency_s", "ttfa_s", "rtf", "nfe", "seed", "device", "audio_s", "estimated_audio_s", "history_id"}


def synth(client, text=TEXT, voice=EN, nfe=8, seed=1234, speed=1.0):
    return client.predict(text, voice, nfe, seed, speed, api_name="/synthesize")


def read_wav(path: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(path, dtype="float32")
    return audio, sr


# ---- health and voices ------------------------------------------------------------------------------
def test_health(client):
    h = client.predict(api_name="/health")
    assert h["status"] == "ready"
    assert h["message"]
    assert h["smoke"] is True
    assert h["random_weights"] is True
    assert h["engine"] == "f5"
    assert h["device"] in {"cpu", "cuda"} or str(h["device"]).startswith("cuda")
    assert isinstance(h["default_nfe"], int) and 1 <= h["default_nfe"] <= 64
    assert h["progress"] == pytest.approx(1.0)


def test_list_voices_has_the_seeded_voices(client):
    voices = client.predict(api_name="/list_voices")
    by_name = {v["name"]: v for v in voices}
    assert EN in by_name and ZH in by_name
    assert by_name[EN]["language"] == "en"
    assert by_name[ZH]["language"] == "zh"
    for v in voices:
        assert v["transcript"].strip()
        assert v["duration_s"] > 1


# ---- synthesis --------------------------------------------------------------------------------------
def test_synthesize_returns_a_sensible_wav(client):
    path, stats = synth(client, seed=4321)
    assert Path(path).suffix == ".wav"
    audio, sr = read_wav(path)
    assert sr == 24_000
    assert audio.ndim == 1 and audio.size > 0
    assert np.isfinite(audio).all()
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert rms > 1e-4, f"the audio is silent (RMS {rms:g})"
    duration = audio.size / sr
    assert duration == pytest.approx(stats["estimated_audio_s"], rel=0.25)
    assert STATS_KEYS <= set(stats), f"missing stats: {STATS_KEYS - set(stats)}"
    assert stats["nfe"] == 8 and stats["seed"] == 4321
    assert stats["latency_s"] > 0 and 0 < stats["ttfa_s"] <= stats["latency_s"] + 1e-6
    assert stats["rtf"] == pytest.approx(stats["latency_s"] / stats["audio_s"], rel=1e-3)
    assert stats["smoke"] is True


def test_synthesize_chinese_voice_and_defaults(client, studio_server):
    # nfe, seed and speed left out: the studio's default NFE and a random seed
    path, stats = client.predict(text="你好，世界。今天天气很好。", voice=ZH, api_name="/synthesize")
    audio, sr = read_wav(path)
    assert sr == 24_000 and audio.size > 0 and np.isfinite(audio).all()
    assert stats["nfe"] == client.predict(api_name="/health")["default_nfe"]
    assert isinstance(stats["seed"], int) and stats["seed"] >= 0


def test_fixed_seed_gives_the_same_audio(client):
    a, _ = read_wav(synth(client, seed=777)[0])
    b, _ = read_wav(synth(client, seed=777)[0])
    c, _ = read_wav(synth(client, seed=778)[0])
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 2 / 32767, "the same seed must give the same audio"
    assert a.shape != c.shape or np.abs(a - c).max() > 1e-3, "a different seed should change the audio"


BAD_INPUTS = [
    pytest.param({"text": ""}, "Type some text to speak.", id="empty"),
    pytest.param({"text": "   \n\t  "}, "Type some text to speak.", id="whitespace"),
    pytest.param({"text": "word " * 500}, "characters long; the limit is 2000", id="too-long"),
    pytest.param({"text": "!!! ... ??? 🙂🎉"}, "There is nothing to speak in this text", id="punctuation-emoji"),
    pytest.param({"voice": "Nobody Here"}, "No voice named 'Nobody Here'", id="unknown-voice"),
    pytest.param({"nfe": 0}, "NFE 0 is out of range: use 1 to 64", id="nfe-0"),
    pytest.param({"nfe": 65}, "NFE 65 is out of range: use 1 to 64", id="nfe-65"),
    pytest.param({"speed": -1.0}, "Speed must be positive", id="negative-speed"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_input_gives_a_clear_error(client, change, message):
    args = {"text": TEXT, "voice": EN, "nfe": 8, "seed": 1, "speed": 1.0, **change}
    with pytest.raises(AppError, match=re.escape(message)) as info:
        client.predict(args["text"], args["voice"], args["nfe"], args["seed"], args["speed"], api_name="/synthesize")
    assert "Something went wrong" not in str(info.value)


def test_history_shows_the_synthesis(client, studio_server):
    text = "History check, one two three."
    _, stats = synth(client, text=text, seed=99, nfe=4)
    rows = client.predict(5, api_name="/history")
    row = next(r for r in rows if r["id"] == stats["history_id"])
    assert rows[0]["id"] == stats["history_id"], "newest first"
    assert row["text"] == text and row["voice_name"] == EN
    assert row["nfe"] == 4 and row["seed"] == 99 and row["smoke"] is True
    assert row["audio_seconds"] == pytest.approx(stats["audio_s"], rel=1e-3)
    assert "audio_file" not in row
    # the take is on disk in the server's own samples folder (never the repository's)
    assert (studio_server.folder / "samples" / row["audio_path"]).is_file()
    with pytest.raises(AppError, match="limit must be from 1 to 1000"):
        client.predict(0, api_name="/history")


# ---- a full queue (in-process Studio with a tiny queue and a blocked worker) --------------------------
def test_full_queue_gives_busy_error(tmp_path):
    import gradio as gr

    from ishowtts_studio.runtime import BusyError
    from ishowtts_studio.settings import load_settings
    from ishowtts_studio.studio import Studio
    from ishowtts_studio.ui.api import StudioAPI

    settings = load_settings(None, smoke=True, overrides={
        "paths.voices": str(tmp_path / "voices"), "paths.samples": str(tmp_path / "samples"),
        "paths.database": str(tmp_path / "samples" / "studio.db"), "paths.cache": str(tmp_path / "cache"),
        "engine.queue_size": 1, "engine.warmup": False, "engine.device": "cpu",
    })
    studio = Studio(settings)
    studio.start()
    try:
        assert studio.runtime.wait_ready(120), studio.health()["message"]
        with held_worker(studio.runtime, timeout_s=60):
            assert studio.runtime.queue_depth() == 0
            waiting = studio.synthesis.start("First in line.", EN, nfe=2, seed=1)  # fills the queue of one
            with pytest.raises(BusyError, match="The studio is busy: 1 requests are already waiting"):
                studio.synthesis.start("Second in line.", EN, nfe=2, seed=2)
            # through the API wrapper the user sees the same message
            with pytest.raises(gr.Error) as info:
                StudioAPI(studio).synthesize("Third in line.", EN, 2, 3, 1.0)
            assert "The studio is busy" in info.value.message
        outcome = waiting.finish(timeout=120)
        assert outcome.wav_path.is_file() and outcome.stats["audio_s"] > 0
    finally:
        studio.close()


# ---- the command line -------------------------------------------------------------------------------
def test_bad_config_exits_2_with_a_message(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("[server]\nport = 99999\n", encoding="utf-8")
    for args, expected in (
        (["--config", str(bad)], "server.port = 99999 is out of range"),
        (["--config", str(tmp_path / "missing.toml")], "does not exist"),
    ):
        run = subprocess.run([sys.executable, str(APP), *args], capture_output=True, text=True, timeout=60,
                             cwd=tmp_path)
        assert run.returncode == 2, run.stderr
        assert expected in run.stderr
        assert "Traceback" not in run.stderr


def test_main_is_callable(tmp_path, capsys):
    sys.path.insert(0, str(REPO))
    try:
        import app
    finally:
        sys.path.remove(str(REPO))
    assert app.main(["--config", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---- wiring and formatting (in-process, no engine needed) -----------------------------------------------
def _unstarted_studio(tmp_path):
    from ishowtts_studio.settings import load_settings
    from ishowtts_studio.studio import Studio

    return Studio(load_settings(None, smoke=True, overrides={
        "paths.voices": str(tmp_path / "voices"), "paths.samples": str(tmp_path / "samples"),
        "paths.database": str(tmp_path / "samples" / "studio.db"), "paths.cache": str(tmp_path / "cache"),
    }))


def test_ui_wiring(tmp_path):
    from ishowtts_studio.ui import build_ui

    studio = _unstarted_studio(tmp_path)
    try:
        fns = {f.api_name: f for f in build_ui(studio).fns.values()}
    finally:
        studio.close()
    # every GPU event is in one concurrency group
    assert fns["live_synthesize"].concurrency_id == fns["synthesize"].concurrency_id == "gpu"
    # the status tick never queues behind GPU work and shows no spinner
    assert fns["status_tick"].queue is False and fns["status_tick"].show_progress == "hidden"
    assert fns["health"].queue is False
    public = {name for name, f in fns.items() if f.api_visibility == "public"}
    voice_api = {"add_voice", "rename_voice", "update_voice", "delete_voice", "export_voice", "import_voice",
                 "broken_voices", "repair_voice"}
    assert voice_api <= public
    assert {fns[n].concurrency_id for n in ("add_voice", "import_voice", "repair_voice")} == {"gpu"}
    public -= voice_api
    nfe_api = {"nfe_scores", "ab_next_trial", "ab_vote", "ab_skip", "ab_results", "nfe_export"}
    assert nfe_api <= public
    assert fns["nfe_scores"].concurrency_id == "gpu"
    public -= nfe_api
    chat_api = {"chat_post", "chat_status", "chat_control", "chat_history"}
    assert chat_api <= public and not any(fns[n].concurrency_id == "gpu" for n in chat_api)  # none waits for GPU
    public -= chat_api
    history_api = {"history_favourite", "history_favourites", "history_download", "regenerate_sentence",
                   "set_preview_text"}
    assert history_api <= public and fns["regenerate_sentence"].concurrency_id == "gpu"
    assert fns["history_favourite"].queue is False
    public -= history_api
    assert public == {"health", "list_voices", "synthesize", "history", "metrics_snapshot", "run_benchmark", "engines"}
    assert fns["engines"].queue is False
    # the Performance tab's refresh never waits behind GPU work either
    assert fns["perf_tick"].queue is False and fns["perf_tick"].show_progress == "hidden"


def test_banner_and_stats_text():
    from ishowtts_studio.ui.common import format_stats, status_markdown

    msg = "The F5-TTS checkpoint model.safetensors is missing; set f5.checkpoint in config.toml."
    assert msg in status_markdown({"status": "unavailable", "message": msg})
    loading = status_markdown({"status": "loading", "message": "loading Vocos vocoder", "progress": 0.6})
    assert "60%" in loading and "loading Vocos vocoder" in loading
    assert "Engine ready" in status_markdown({"status": "ready", "engine": "f5", "device": "cuda", "precision": "bf16"})
    line = format_stats({"audio_s": 2.5, "latency_s": 0.2, "ttfa_s": 0.05, "rtf": 0.08, "nfe": 16, "seed": 7,
                         "device": "cuda", "precision": "bf16", "smoke": True})
    for part in ("2.50 s", "latency", "first audio", "RTF **0.080**", "NFE **16**", "seed **7**", "cuda (bf16)",
                 "smoke: random weights"):
        assert part in line


def test_server_does_not_serve_the_config(studio_server):
    import urllib.error
    import urllib.request

    url = f"{studio_server.url}gradio_api/file={studio_server.config}"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code in (403, 404)


# ---- metrics and benchmark through the real server ------------------------------------------------------
def test_prometheus_endpoint_and_metrics_snapshot(client, studio_url):
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    synth(client, seed=5)
    snap = client.predict(api_name="/metrics_snapshot")
    assert snap["counts"]["completed"] >= 1
    assert snap["status"] == "ready"
    with urllib.request.urlopen(studio_url.rstrip("/") + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        body = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    completed = [s.value for s in families["ishowtts_requests_completed"].samples if s.name.endswith("_total")]
    assert completed and completed[0] >= 1
    assert "ishowtts_request_latency_seconds" in families


def test_run_benchmark_endpoint(client):
    result = client.predict([4], 1, ["short"], api_name="/run_benchmark")
    (row,) = result["rows"]
    assert row["nfe"] == 4 and row["text"] == "short"
    lat = row["ours_latency"]
    assert lat["n"] == 1 and lat["min"] <= lat["median"] <= lat["max"]
    assert result["random_weights"] is True
    with pytest.raises(AppError, match="NFE"):
        client.predict([0], 1, ["short"], api_name="/run_benchmark")
