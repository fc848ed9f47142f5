"""Voice management through the HTTP API (gradio_client) against the real smoke-mode server (conftest.py).

Every bad input must give a clear error and leave the voice library exactly as it was.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import threading
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.helpers import EN_CLIP, EN_TEXT


def uniq(prefix: str = "Test voice") -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def library_state(server) -> dict[str, bytes]:
    root = server.folder / "voices"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def add(client, name, audio=EN_CLIP, transcript=EN_TEXT, language="en"):
    return client.predict(name, handle_file(str(audio)), transcript, language, api_name="/add_voice")


@pytest.fixture
def unchanged(studio_server):
    """Asserts that the test left the voice library byte-for-byte unchanged."""
    before = library_state(studio_server)
    yield
    assert library_state(studio_server) == before, "a rejected request wrote to the voice library"


# ---- happy paths ------------------------------------------------------------------------------------
def test_add_voice_real_speech_and_synthesise(client, studio_server):
    name = uniq("Nature clone")
    v = add(client, name)
    assert v["name"] == name and v["language"] == "en" and v["transcript"] == EN_TEXT
    assert "audio_path" not in v
    assert v["sample_rate"] == 24_000 and 2.0 <= v["duration_s"] <= 12.0
    assert v["loudness_lufs"] == pytest.approx(-20.0, abs=1.5)
    assert v["times_used"] == 0
    assert any("LUFS" in m for m in v["cleaning"]["messages"])
    folder = studio_server.folder / "voices" / v["slug"]
    meta = json.loads((folder / "voice.json").read_text(encoding="utf-8"))
    for key in ("name", "transcript", "language", "original_name", "duration_s", "sample_rate", "loudness_lufs",
                "content_hash", "created", "updated"):
        assert key in meta, key
    assert meta["original_name"] == EN_CLIP.name
    audio, sr = sf.read(folder / "reference.wav")
    assert sr == 24_000 and audio.ndim == 1
    assert name in [x["name"] for x in client.predict(api_name="/list_voices")]
    path, stats = client.predict("Hello there.", name, 8, 7, 1.0, api_name="/synthesize")
    assert sf.info(path).duration > 0.2
    client.predict(name, api_name="/delete_voice")


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="needs espeak-ng, sox")
def test_add_espeak_stereo_96k(client, tmp_path):
    raw = tmp_path / "espeak.wav"
    text = "This is a robot voice made for the studio test, speaking clearly."
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    clip = tmp_path / "stereo96k.wav"
    subprocess.run(["sox", str(raw), "-r", "96000", "-c", "2", str(clip)], check=True, capture_output=True)
    name = uniq("Robot")
    v = add(client, name, clip, text, "other")
    assert v["language"] == "other" and v["sample_rate"] == 24_000
    msgs = " ".join(v["cleaning"]["messages"])
    assert "Resampled from 96000 Hz" in msgs and "mono" in msgs
    client.predict(name, api_name="/delete_voice")


def test_rename_update_and_export_delete_import_round_trip(client, studio_server, tmp_path):
    name = uniq("Round trip")
    v = add(client, name)
    renamed = name + " renamed"
    r = client.predict(name, renamed, api_name="/rename_voice")
    assert r["name"] == renamed and r["slug"] == v["slug"]
    u = client.predict(renamed, "Some call me nature.", "other", api_name="/update_voice")
    assert u["transcript"] == "Some call me nature." and u["language"] == "other"
    assert u["updated"] >= v["updated"]
    # transcript-only update keeps the language
    u2 = client.predict(renamed, EN_TEXT, None, api_name="/update_voice")
    assert u2["transcript"] == EN_TEXT and u2["language"] == "other"

    pack = client.predict(renamed, api_name="/export_voice")
    with zipfile.ZipFile(pack) as zf:
        assert sorted(zf.namelist()) == ["reference.wav", "voice.json"]
        meta = json.loads(zf.read("voice.json"))
    assert meta["name"] == renamed
    kept = tmp_path / "pack.zip"
    shutil.copy(pack, kept)

    d = client.predict(renamed, api_name="/delete_voice")
    assert d["name"] == renamed
    assert renamed not in [x["name"] for x in client.predict(api_name="/list_voices")]
    assert not (studio_server.folder / "voices" / v["slug"]).exists()

    back = client.predict(handle_file(str(kept)), "", api_name="/import_voice")
    assert back["name"] == renamed and back["transcript"] == EN_TEXT and back["language"] == "other"
    assert back["content_hash"] == v["content_hash"] or back["duration_s"] == pytest.approx(v["duration_s"], abs=0.1)

    # importing again clashes: a clear error asking for a new name, then a new name works
    with pytest.raises(AppError, match="already exists.*new name"):
        client.predict(handle_file(str(kept)), "", api_name="/import_voice")
    other = client.predict(handle_file(str(kept)), renamed + " 2", api_name="/import_voice")
    assert other["name"] == renamed + " 2"
    for n in (renamed, renamed + " 2"):
        client.predict(n, api_name="/delete_voice")


def test_two_adds_of_one_name_exactly_one_wins(client, studio_server):
    from gradio_client import Client

    name = uniq("Race")
    results: list[object] = []

    def go() -> None:
        c = Client(studio_server.url, verbose=False, analytics_enabled=False, download_files=False)
        try:
            results.append(add(c, name))
        except AppError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    wins = [r for r in results if isinstance(r, dict)]
    errors = [r for r in results if isinstance(r, AppError)]
    assert len(wins) == 1 and len(errors) == 1, results
    assert "already exists" in str(errors[0])
    assert [x["name"] for x in client.predict(api_name="/list_voices")].count(name) == 1
    client.predict(name, api_name="/delete_voice")


# ---- bad input: a clear error, nothing written ------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "match"),
    [("", "name"), ("...", "letter or digit"), ("//", "letter or digit"), ("  ", "name")],
)
def test_bad_names(client, unchanged, name, match):
    with pytest.raises(AppError, match=match):
        add(client, name)


def test_path_traversal_name_stays_inside(client, studio_server):
    v = add(client, "../../etc/passwd")
    assert "/" not in v["slug"] and ".." not in v["slug"]
    assert (studio_server.folder / "voices" / v["slug"]).is_dir()
    client.predict(v["name"], api_name="/delete_voice")


def test_duplicate_name_case_insensitive(client, studio_server):
    name = uniq("Dup")
    add(client, name)
    before = library_state(studio_server)
    with pytest.raises(AppError, match="already exists"):
        add(client, name.upper())
    assert library_state(studio_server) == before
    client.predict(name, api_name="/delete_voice")


def test_missing_transcript_says_no_transcriber(client, unchanged):
    with pytest.raises(AppError, match="No transcriber configured"):
        add(client, uniq(), transcript="  ")


def test_bad_language(client, unchanged):
    with pytest.raises(AppError, match="Language must be one of"):
        add(client, uniq(), language="klingon")


def _wav(path: Path, x: np.ndarray, sr: int) -> Path:
    sf.write(path, x, sr, subtype="PCM_16")
    return path


def test_bad_audio(client, unchanged, tmp_path):
    x, sr = sf.read(str(EN_CLIP), dtype="float32")
    cases = {
        "silent": (_wav(tmp_path / "silence.wav", np.zeros(sr * 4, np.float32), sr), "silent"),
        "short": (_wav(tmp_path / "short.wav", x[int(0.5 * sr): int(0.8 * sr)], sr), "at least 2 s"),
        "long": (_wav(tmp_path / "ten_minutes.wav", np.zeros(8000 * 600, np.float32), 8000), "600.0 s long"),
    }
    text = tmp_path / "notes.wav"
    text.write_text("definitely not audio\n" * 40)
    cases["text"] = (text, "could not read")
    trunc = tmp_path / "truncated.wav"
    trunc.write_bytes(EN_CLIP.read_bytes()[:40_000])
    cases["truncated"] = (trunc, "truncated")
    for label, (path, match) in cases.items():
        with pytest.raises(AppError, match=match):
            add(client, uniq(label), audio=path)


def test_unknown_voice_operations(client, unchanged):
    for api, args in (("/rename_voice", ("No such voice", "x")), ("/update_voice", ("No such voice", "t", "en")),
                      ("/delete_voice", ("No such voice",)), ("/export_voice", ("No such voice",))):
        with pytest.raises(AppError, match="No voice named"):
            client.predict(*args, api_name=api)


def test_rename_to_existing_and_empty_update_refused(client, studio_server):
    a, b = uniq("A"), uniq("B")
    add(client, a)
    add(client, b)
    before = library_state(studio_server)
    with pytest.raises(AppError, match="already exists"):
        client.predict(a, b.lower(), api_name="/rename_voice")
    with pytest.raises(AppError, match="letter or digit"):
        client.predict(a, "../", api_name="/rename_voice")
    with pytest.raises(AppError, match="transcript cannot be empty"):
        client.predict(a, "   ", None, api_name="/update_voice")
    assert library_state(studio_server) == before
    for n in (a, b):
        client.predict(n, api_name="/delete_voice")


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    return path


def test_bad_packs(client, unchanged, tmp_path):
    meta = json.dumps({"name": uniq("Pack"), "transcript": EN_TEXT, "language": "en"}).encode()
    wav = EN_CLIP.read_bytes()
    slip = _zip(tmp_path / "slip.zip", {"voice.json": meta, "reference.wav": wav, "../../evil.txt": b"x"})
    with pytest.raises(AppError, match="unsafe path"):
        client.predict(handle_file(str(slip)), "", api_name="/import_voice")
    # zip bomb: 200 MB of zeros compresses to ~200 kB
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("voice.json", meta)
        with zf.open("reference.wav", "w", force_zip64=True) as fh:
            block = bytes(2**20)
            for _ in range(200):
                fh.write(block)
    with pytest.raises(AppError, match="unpack to"):
        client.predict(handle_file(str(bomb)), "", api_name="/import_voice")
    notzip = tmp_path / "notzip.zip"
    notzip.write_text("hello")
    with pytest.raises(AppError, match="not a voice pack"):
        client.predict(handle_file(str(notzip)), "", api_name="/import_voice")
    missing = _zip(tmp_path / "missing.zip", {"voice.json": meta})
    with pytest.raises(AppError, match="lacks reference.wav"):
        client.predict(handle_file(str(missing)), "", api_name="/import_voice")
    buf = io.BytesIO()
    sf.write(buf, np.zeros(24000 * 4, np.float32), 24000, format="WAV")
    silent = _zip(tmp_path / "silent.zip", {"voice.json": meta, "reference.wav": buf.getvalue()})
    with pytest.raises(AppError, match="silent"):
        client.predict(handle_file(str(silent)), "", api_name="/import_voice")


def test_delete_while_synthesising(client, studio_server):
    name = uniq("Busy")
    add(client, name)
    long_text = " ".join(["This sentence keeps the engine busy for a while."] * 10)
    job = client.submit(long_text, name, 16, 3, 1.0, api_name="/synthesize")
    # wait until the request is being processed, then delete the voice under it
    for _ in range(200):
        if job.status().code.name in ("PROCESSING", "ITERATING", "FINISHED"):
            break
        threading.Event().wait(0.02)
    deleted = client.predict(name, api_name="/delete_voice")
    assert deleted["name"] == name
    was_running = not job.done()
    path, stats = job.result(timeout=300)
    assert sf.info(path).duration > 1.0 and stats["history_id"]
    # the history row keeps its own audio after the voice is gone
    rows = client.predict(5, api_name="/history")
    row = next(r for r in rows if r["id"] == stats["history_id"])
    assert row["voice_name"] == name
    assert name not in [x["name"] for x in client.predict(api_name="/list_voices")]
    print("synthesis was still running at delete:", was_running)
