"""Issue 12, defect 7 on a real server: answers never show the server's absolute paths — engine messages in
/health and /engines (an IndexTTS model folder that is missing), decode errors of uploads (libsndfile names the
full temp path), unknown files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.helpers import Server, start_server, stop

ABSOLUTE = re.compile(r"(?<![\w:/.])/(?:tmp|work|root|home|usr|var)/")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("paths-server")
    srv = start_server(folder, extra_toml='[indextts]\nmodel_dir = "no-such-model-folder"\n')
    try:
        yield srv
    finally:
        stop(srv.process)


@pytest.fixture(scope="module")
def client(server: Server) -> Client:
    return Client(server.url, verbose=False, analytics_enabled=False, download_files=False)


def test_health_and_engines_name_no_server_paths(client: Client, server: Server) -> None:
    engines = client.predict(api_name="/engines")
    index = next(e for e in engines if e["name"] == "indextts")
    assert "no-such-model-folder" in index["message"]  # still says which folder, by its last part
    for answer in (engines, client.predict(api_name="/health")):
        text = json.dumps(answer, ensure_ascii=False)
        assert str(server.folder) not in text and not ABSOLUTE.search(text), text[:400]


@pytest.mark.parametrize(("content", "suffix"), [(b"this is not audio at all " * 40, ".wav"),
                                                  (b"RIFF\x10\x00\x00\x00WAVEfmt ", ".wav"),
                                                  (b"\x00" * 2048, ".mp3")])
def test_decode_errors_name_the_file_not_its_path(client: Client, server: Server, tmp_path: Path,
                                                  content: bytes, suffix: str) -> None:
    bad = tmp_path / f"my clip{suffix}"
    bad.write_bytes(content)
    with pytest.raises(AppError) as err:
        client.predict("Pathless", handle_file(str(bad)), "Hello there.", "en", api_name="/add_voice")
    message = str(err.value)
    assert "my clip" in message or "audio" in message.lower(), message
    assert str(server.folder) not in message and not ABSOLUTE.search(message), message
