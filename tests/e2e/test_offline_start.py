"""A first start without weights and without network (issue 13, bug 7): plain `app.py`, no `--smoke`, an empty
Hugging Face cache and HF_HUB_OFFLINE=1. The studio comes up, names every missing file with its fix once, tries
nothing again, and greys out Synthesize."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.helpers import APP, Server, free_port, open_page, write_config
from tests.helpers import health as _health
from tests.helpers import stop as _stop

FETCH_LINES = ("hf download SWivid/F5-TTS F5TTS_v1_Base/model_1250000.safetensors",
               "hf download SWivid/F5-TTS F5TTS_v1_Base/vocab.txt",
               "hf download charactr/vocos-mel-24khz config.yaml",
               "hf download charactr/vocos-mel-24khz pytorch_model.bin")


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("offline-start")
    config = write_config(folder, free_port(), warmup=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(folder / "empty-hub"), PYTHONUNBUFFERED="1",
               GRADIO_TEMP_DIR=str(folder / "gradio-tmp"), GRADIO_ANALYTICS_ENABLED="False")
    env.pop("ISHOWTTS_CONFIG", None)
    log = folder / "server.log"
    port = config.read_text().split("port = ")[1].split()[0]
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(APP), "--config", str(config)], cwd=folder, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}/", folder=folder, config=config, log=log, process=process)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            health = _health(server.url)
            if health and health["status"] != "loading":
                break
            assert process.poll() is None, server.log_text()
            time.sleep(0.5)
        yield server
    finally:
        _stop(process)


def test_every_missing_file_is_named_once_with_its_fix(offline_server: Server) -> None:
    health = _health(offline_server.url)
    assert health and health["status"] == "unavailable", health
    message = health["message"]
    for line in FETCH_LINES:
        assert line in message  # before the fix: only the checkpoint was named
    assert "HF_HUB_OFFLINE=1" in message and "--smoke" in message
    assert "LocalEntryNotFoundError" not in message and "OfflineModeIsEnabled" not in message
    log = offline_server.log_text()
    assert log.count("engine unavailable") == 1, log
    assert "Retrying" not in log and "LocalEntryNotFoundError" not in log, log


def test_synthesize_is_greyed_out_while_the_engine_is_unavailable(offline_server: Server, browser) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    with open_page(browser, offline_server.url, ready="Engine unavailable", ready_timeout_ms=30_000,
                   height=1000) as page:
        banner = page.locator("#status-banner")
        expect(banner).to_contain_text("hf download charactr/vocos-mel-24khz pytorch_model.bin")
        synth = page.locator("#synth-btn")
        expect(synth).to_be_disabled(timeout=10_000)
        page.screenshot(path=str(offline_server.folder / "offline-start.png"), full_page=True)


def test_the_api_refuses_synthesis_with_the_same_message(offline_server: Server) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(offline_server.url, verbose=False, analytics_enabled=False, download_files=False)
    with pytest.raises(AppError, match="hf download SWivid/F5-TTS F5TTS_v1_Base/vocab.txt"):
        client.predict("Hello.", "Nature (English)", api_name="/synthesize")
