"""Locating the F5-TTS weights: all three checked at once, every missing file named with its fix, no retries."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ishowtts_studio.engines.base import EngineUnavailable
from ishowtts_studio.engines.f5_weights import locate_weights

HUB = ("hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors", "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt",
       "hf://charactr/vocos-mel-24khz")
FETCH_LINES = ("hf download SWivid/F5-TTS F5TTS_v1_Base/model_1250000.safetensors",
               "hf download SWivid/F5-TTS F5TTS_v1_Base/vocab.txt",
               "hf download charactr/vocos-mel-24khz config.yaml",
               "hf download charactr/vocos-mel-24khz pytorch_model.bin")


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_offline_names_every_missing_file_with_its_download_line(empty_hub_cache: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineUnavailable) as err:
        locate_weights(*HUB)
    message = str(err.value)
    for line in FETCH_LINES:
        assert line in message
    assert "4 weight files are missing" in message and "HF_HUB_OFFLINE=1" in message and "--smoke" in message
    assert "Error" not in message and "LocalEntryNotFound" not in message  # words, not exception names


def test_unreachable_hub_is_asked_once_not_retried(empty_hub_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    # this machine has no route to the Hub: the probe fails at once and nothing is retried
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "ENDPOINT", "http://127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EngineUnavailable) as err:
        locate_weights(*HUB)
    message = str(err.value)
    assert "could not be reached" in message and all(line in message for line in FETCH_LINES)
    assert "HF_HUB_OFFLINE=1" in message
    assert not [r for r in caplog.records if "Retrying" in r.getMessage()], "no silent download retries"


def test_local_paths_all_checked_together(tmp_path: Path) -> None:
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"x")
    with pytest.raises(EngineUnavailable) as err:
        locate_weights(str(ckpt), str(tmp_path / "vocab.txt"), str(tmp_path / "vocos"))
    message = str(err.value)
    assert "3 weight files are missing" in message
    assert "f5.vocab" in message and str(tmp_path / "vocab.txt") in message
    for name in ("config.yaml", "pytorch_model.bin"):
        assert str(tmp_path / "vocos" / name) in message
    assert "model.safetensors" not in message.split("\n", 1)[1].split("Run the")[0]  # the present file is not listed


def test_local_files_are_found(tmp_path: Path) -> None:
    for name in ("model.safetensors", "vocab.txt", "vocos/config.yaml", "vocos/pytorch_model.bin"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = locate_weights(str(tmp_path / "model.safetensors"), str(tmp_path / "vocab.txt"), str(tmp_path / "vocos"))
    assert found.checkpoint == tmp_path / "model.safetensors" and found.vocoder_dir == tmp_path / "vocos"


def test_cached_hub_files_are_used_without_the_network(empty_hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    commit = "0" * 40
    for repo, files in (("models--SWivid--F5-TTS", ["F5TTS_v1_Base/model_1250000.safetensors",
                                                    "F5TTS_v1_Base/vocab.txt"]),
                        ("models--charactr--vocos-mel-24khz", ["config.yaml", "pytorch_model.bin"])):
        (empty_hub_cache / repo / "refs").mkdir(parents=True)
        (empty_hub_cache / repo / "refs" / "main").write_text(commit)
        for f in files:
            path = empty_hub_cache / repo / "snapshots" / commit / f
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    found = locate_weights(*HUB)
    assert found.vocab.name == "vocab.txt" and (found.vocoder_dir / "config.yaml").is_file()
