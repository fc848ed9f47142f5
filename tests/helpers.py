"""Shared test helpers (imported by tests as `tests.helpers`; conftest.py holds only fixtures and markers).

A real studio server (`python app.py --smoke` as a subprocess), an in-process smoke Studio, config files.
Everything a studio writes (voices, samples, database, model cache, Gradio's temp files) lives in a
pytest temp folder, never in the repository's own voices/ or samples/.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]  # the repository root
APP = REPO / "app.py"
START_TIMEOUT_S = 180.0
# Tests that vote through the API do not wait the clips' length in real time: their studios accept a vote at once
# (nfe.listen_slack_s). The check itself runs with the shipped value in tests/integration/test_polish_api.py.
NO_LISTEN_WAIT_S = 86400.0
# real speech for the tests: the English reference clip f5-tts ships, and what it says
EN_CLIP = Path(str(importlib.resources.files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav")))
EN_TEXT = "Some call me nature, others call me mother nature."
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download cannot run here
# no GPU, no background traffic (this machine's network is closed), and audio may play without a gesture
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


@contextlib.contextmanager
def open_context(browser: Any, *, width: int = 1400, height: int = 1100, **options: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies and storage) with a 30 s default timeout, closed afterwards even
    when the test fails; `options` go to Playwright's `new_context` (e.g. is_mobile=True)."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


@contextlib.contextmanager
def open_page(browser: Any, url: str, *, ready: str | None = "Engine ready", ready_timeout_ms: int = 60_000,
              **context_options: Any) -> Iterator[Any]:
    """The one way tests open the studio in Chromium: a page in a fresh context (see `open_context`), at `url`,
    once the status banner says `ready` (None: do not wait for the banner, e.g. for the overlay page)."""
    from playwright.sync_api import expect  # only browser tests get here; others never need Playwright

    with open_context(browser, **context_options) as context:
        page = context.new_page()
        page.goto(url)
        if ready is not None:
            expect(page.locator("#status-banner")).to_contain_text(ready, timeout=ready_timeout_ms)
        yield page


def en_voice(tag: str) -> Any:
    """The English clip as a voice of the engine layer; `tag` (its content hash) keeps each module's cached
    reference analysis apart."""
    from ishowtts_studio.engines.base import VoiceRef

    return VoiceRef(slug="en", audio_path=EN_CLIP, transcript=EN_TEXT, content_hash=tag)


def smoke_f5(cache: Path, **options: Any) -> Any:
    """The real F5 engine on the tiny random model (`--smoke`), on the CPU, caching under `cache`."""
    from ishowtts_studio.engines.f5 import F5Engine

    return F5Engine(checkpoint="", vocab="", vocoder="", device="cpu", cache_dir=cache, random_weights="smoke",
                    **options)


@contextlib.contextmanager
def held_worker(runtime: Any, timeout_s: float = 30.0) -> Iterator[None]:
    """Keep a runtime's worker busy (inside an engine call) for the block: requests submitted meanwhile wait in
    its queue together, as a burst does, and the worker takes them when the block ends."""
    import threading

    gate, busy = threading.Event(), threading.Event()
    blocker = threading.Thread(target=runtime.call, args=(lambda engine: (busy.set(), gate.wait(timeout_s)),),
                               daemon=True)
    blocker.start()
    try:
        assert busy.wait(10), "the worker runs the blocking call"
        yield
    finally:
        gate.set()
        blocker.join(timeout_s)


def fill_and_keep(page: Any, box: Any, value: str, press: str | None = None) -> None:
    """Fill a page field (then press `press`, e.g. Tab to commit a number) and make sure the value holds: a late
    answer to an earlier event (picking a voice, switching the engine) can write the old value back after the fill,
    and the next click would then send that (seen in CI on a loaded machine)."""
    for _ in range(10):
        box.fill(value)
        if press:
            box.press(press)
        page.wait_for_timeout(500)
        if box.input_value() == value:
            return
    raise AssertionError(f"the field kept going back to {box.input_value()!r} instead of {value!r}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, port: int, extra_toml: str = "", server_toml: str = "", *,
                 database: str = "samples/studio.db", host: str = "127.0.0.1", **engine: object) -> Path:
    """A config.toml whose every path is inside `folder` (relative paths resolve against the file's folder);
    `extra_toml` adds more sections (e.g. [indextts]), `server_toml` more [server] lines (e.g. a login),
    `database` another database (a PostgreSQL URL), `host` the address to bind."""
    engine_lines = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in engine.items())
    text = f"""
[server]
host = "{host}"
port = {port}
{server_toml}

[engine]
{engine_lines}

[paths]
voices = "voices"
samples = "samples"
database = "{database}"
cache = "cache"
{extra_toml}
"""
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def running_studio(folder: Path, **overrides: object) -> Iterator[Any]:
    """An in-process smoke-mode Studio whose files all live in `folder`, started and ready; closed afterwards.
    `overrides` are dotted config keys, passed as `**{"engine.max_batch": 4}`."""
    from ishowtts_studio.settings import load_settings
    from ishowtts_studio.studio import Studio

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = load_settings(None, smoke=True, overrides={
        "paths.voices": str(folder / "v"), "paths.samples": str(folder / "s"),
        "paths.database": str(folder / "s" / "db.sqlite"), "paths.cache": str(folder / "cache"),
        "engine.warmup": False, "nfe.listen_slack_s": NO_LISTEN_WAIT_S, **overrides,
    })
    studio = Studio(settings)
    studio.start()
    try:
        assert studio.runtime.wait_ready(180), studio.runtime.message
        yield studio
    finally:
        studio.close()


@dataclass
class Server:
    url: str
    folder: Path
    config: Path
    log: Path
    process: subprocess.Popen
    database: str = "samples/studio.db"  # paths.database: relative to `folder`, or a URL

    @property
    def database_url(self) -> str:
        """An SQLAlchemy URL of the server's database, for tests that look at its rows."""
        return self.database if "://" in self.database else f"sqlite:///{self.folder / self.database}"

    def log_text(self, tail: int = 20_000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-tail:]
        except OSError:
            return "(no log)"


def health(url: str, auth: tuple[str, str] | None = None) -> dict | None:
    """/health through gradio_client, or None while the server does not answer yet."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False, auth=auth)
        return client.predict(api_name="/health")
    except Exception:
        return None


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_server(folder: Path, extra_toml: str = "", server_toml: str = "", auth: tuple[str, str] | None = None,
                 *, database: str = "samples/studio.db", host: str = "127.0.0.1",
                 env: dict[str, str] | None = None, **engine: object) -> Server:
    """Start `python app.py --smoke --config folder/config.toml` and wait until /health says ready
    (`auth`: the login that `server_toml` sets, used for that check; `database`: paths.database; `host`: the
    address to bind; `env`: more environment variables, e.g. ISHOWTTS_API_KEY)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    engine.setdefault("warmup", False)
    if "[nfe]" not in extra_toml:
        extra_toml += f"\n[nfe]\nlisten_slack_s = {NO_LISTEN_WAIT_S}\n"
    config = write_config(folder, port, extra_toml, server_toml, database=database, host=host, **engine)
    log = folder / "server.log"
    env = dict(os.environ, **(env or {}))
    env.pop("ISHOWTTS_CONFIG", None)
    env.update(
        GRADIO_TEMP_DIR=str(folder / "gradio-tmp"), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(APP), "--smoke", "--config", str(config), "--log-level", "info"],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://127.0.0.1:{port}/", folder=folder, config=config, log=log, process=process,
                    database=database)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the studio server exited with code {process.returncode}; log:\n{server.log_text()}")
        last = health(server.url, auth)
        if last and last.get("status") == "ready":
            return server
        if last and last.get("status") == "unavailable":
            stop(process)
            pytest.fail(f"the studio engine is unavailable: {last.get('message')}; log:\n{server.log_text()}")
        time.sleep(0.5)
    stop(process)
    pytest.fail(f"the studio server was not ready within {START_TIMEOUT_S:.0f} s (last /health: {last}); "
                f"log:\n{server.log_text()}")


# ---- a fake engine: the runtime and services without a torch model ------------------------------------
class FakeEngine:
    """An `Engine` that renders a seeded tone per chunk (its length from the text, like a duration rule) and
    records what it was asked, for tests of the runtime, the engine pool and the services. Set `fail_load` or
    `fail_synth` to an exception to make the next call raise it."""

    name = "fake"
    label = "Fake"
    sample_rate = 24000
    hop_length = 256
    max_batch = 8

    def __init__(self, name: str = "fake", *, max_batch: int = 8, ref_frames: int = 20) -> None:
        self.name, self.max_batch, self.ref_frames = name, max_batch, ref_frames
        self.loads = self.unloads = 0
        self.batches: list[list[Any]] = []  # each synthesize call's jobs
        self.prepared: list[str] = []
        self.fail_load: BaseException | None = None
        self.fail_synth: BaseException | None = None
        self.idle_calls = 0
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def check(self) -> str:
        return "fake 1.0"

    def load(self, progress: Any = None) -> Any:
        if self.fail_load is not None:
            exc, self.fail_load = self.fail_load, None
            raise exc
        self.loads += 1
        self._loaded = True
        return self.info()

    def unload(self) -> None:
        self.unloads += 1
        self._loaded = False

    def info(self) -> Any:
        from ishowtts_studio.engines.base import EngineInfo

        return EngineInfo(name=self.name, device="cpu", precision="fp32", sample_rate=self.sample_rate, smoke=True,
                          random_weights=True, fast_path={})

    def estimate_frames(self, voice: Any, text: str, speed: float) -> tuple[int, int]:
        return self.ref_frames + max(1, int(len(text) * 4 / speed)), self.ref_frames

    def prepare_voice(self, voice: Any) -> bool:
        self.prepared.append(voice.slug)
        return False

    def forget_voice(self, voice: Any) -> None:
        pass

    def synthesize(self, jobs: list[Any], on_ready: Any = None) -> list[Any]:
        import numpy as np

        from ishowtts_studio.engines.base import ChunkAudio

        if self.fail_synth is not None:
            exc, self.fail_synth = self.fail_synth, None
            raise exc
        self.batches.append(list(jobs))
        out = []
        for job in jobs:
            frames = job.duration_frames or self.estimate_frames(job.voice, job.text, job.params.speed)[0]
            n = (frames - self.ref_frames) * self.hop_length
            rng = np.random.default_rng(job.seed)
            tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * np.arange(n) / self.sample_rate)
            out.append(ChunkAudio(audio=tone.astype(np.float32), duration_frames=frames, ref_frames=self.ref_frames))
        return out

    def warmup(self, voices: list[Any], nfe: int, progress: Any = None) -> None:
        for voice in voices:
            self.prepare_voice(voice)

    def memory_stats(self) -> dict[str, float]:
        return {}

    def idle_work(self) -> bool:
        self.idle_calls += 1
        return False

    def cache_stats(self) -> dict[str, int]:
        return {"ref_cache_items": len(self.prepared)}
