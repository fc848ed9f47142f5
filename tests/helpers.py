"""Shared test helpers (imported by tests as `tests.helpers`; conftest.py holds only fixtures and markers).

A real studio server (`python app.py --smoke` as a subprocess), an in-process smoke Studio, config files.
Everything a studio writes (voices, samples, database, model cache, Gradio's temp files) lives in a
pytest temp folder, never in the repository's own voices/ or samples/.
"""

from __future__ import annotations

import contextlib
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
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download cannot run here
# no GPU, no background traffic (this machine's network is closed), and audio may play without a gesture
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, port: int, extra_toml: str = "", **engine: object) -> Path:
    """A config.toml whose every path is inside `folder` (relative paths resolve against the file's folder);
    `extra_toml` adds more sections (e.g. [indextts])."""
    engine_lines = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in engine.items())
    text = f"""
[server]
host = "127.0.0.1"
port = {port}

[engine]
{engine_lines}

[paths]
voices = "voices"
samples = "samples"
database = "samples/studio.db"
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

    def log_text(self, tail: int = 20_000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-tail:]
        except OSError:
            return "(no log)"


def health(url: str) -> dict | None:
    """/health through gradio_client, or None while the server does not answer yet."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
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


def start_server(folder: Path, extra_toml: str = "", **engine: object) -> Server:
    """Start `python app.py --smoke --config folder/config.toml` and wait until /health says ready."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    engine.setdefault("warmup", False)
    if "[nfe]" not in extra_toml:
        extra_toml += f"\n[nfe]\nlisten_slack_s = {NO_LISTEN_WAIT_S}\n"
    config = write_config(folder, port, extra_toml, **engine)
    log = folder / "server.log"
    env = dict(os.environ)
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
    server = Server(url=f"http://127.0.0.1:{port}/", folder=folder, config=config, log=log, process=process)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the studio server exited with code {process.returncode}; log:\n{server.log_text()}")
        last = health(server.url)
        if last and last.get("status") == "ready":
            return server
        if last and last.get("status") == "unavailable":
            stop(process)
            pytest.fail(f"the studio engine is unavailable: {last.get('message')}; log:\n{server.log_text()}")
        time.sleep(0.5)
    stop(process)
    pytest.fail(f"the studio server was not ready within {START_TIMEOUT_S:.0f} s (last /health: {last}); "
                f"log:\n{server.log_text()}")
