"""Issue 12, defect 9 against the real smoke server (gradio_client): a voice whose reference.wav was deleted or
corrupted is listed as broken, refused for synthesis and export (never served from the engine's cache), can be
repaired with a new clip or deleted, and its name is not silently taken by a "-2" copy."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.helpers import EN_CLIP, EN_TEXT


def add(client, name: str) -> dict:
    return client.predict(name, handle_file(str(EN_CLIP)), EN_TEXT, "en", api_name="/add_voice")


def folder(server, slug: str) -> Path:
    return server.folder / "voices" / slug


def test_corrupted_reference_is_broken_refused_and_repaired(client, studio_server) -> None:
    name = f"Corrupt {uuid.uuid4().hex[:6]}"
    voice = add(client, name)
    client.predict("Warm the cache first.", name, 4, 1, api_name="/synthesize")  # engine now holds its reference
    wav = folder(studio_server, voice["slug"]) / "reference.wav"
    data = bytearray(wav.read_bytes())
    data[5000:9000] = bytes(4000)
    wav.write_bytes(bytes(data))

    broken = {b["name"]: b for b in client.predict(api_name="/broken_voices")}
    assert "changed or damaged" in broken[name]["problem"] and broken[name]["repairable"]
    assert name not in [v["name"] for v in client.predict(api_name="/list_voices")]
    with pytest.raises(AppError, match="is broken"):  # not "working" from the cache
        client.predict("Still there?", name, 4, 1, api_name="/synthesize")
    with pytest.raises(AppError, match="is broken"):
        client.predict(name, api_name="/export_voice")
    with pytest.raises(AppError, match="already exists \\(broken"):
        add(client, name.upper())

    fixed = client.predict(name, handle_file(str(EN_CLIP)), api_name="/repair_voice")
    assert (fixed["name"], fixed["transcript"], fixed["slug"]) == (name, EN_TEXT, voice["slug"])
    assert name not in [b["name"] for b in client.predict(api_name="/broken_voices")]
    _, stats = client.predict("Back again.", name, 4, 1, api_name="/synthesize")
    assert stats["audio_s"] > 0
    client.predict(name, api_name="/delete_voice")


def test_deleted_reference_is_listed_and_deleted(client, studio_server) -> None:
    name = f"Gone {uuid.uuid4().hex[:6]}"
    voice = add(client, name)
    (folder(studio_server, voice["slug"]) / "reference.wav").unlink()
    assert name in [b["name"] for b in client.predict(api_name="/broken_voices")]
    with pytest.raises(AppError, match="reference.wav is missing"):
        client.predict("Hello.", name, 4, 1, api_name="/synthesize")
    client.predict(name, api_name="/delete_voice")
    assert not folder(studio_server, voice["slug"]).exists()
    again = add(client, name)
    assert again["slug"] == voice["slug"]  # not "…-2"
    client.predict(name, api_name="/delete_voice")
