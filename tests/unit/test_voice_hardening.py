"""Issue 12, defects 6 and 9 at the library level: names, transcripts, broken voice folders (real files in
tmp_path, real WAVs)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio.validation import (
    MAX_CHARS_PER_SECOND,
    MAX_TRANSCRIPT_CHARS,
    InvalidInput,
    brief,
    clean_display_name,
    lookalike_keys,
    redact_paths,
    to_number,
)
from ishowtts_studio.voices import VoiceBroken, VoiceError, VoiceLibrary

SR = 24_000


def make_wav(path: Path, seconds: float = 3.0, freq: float = 220.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return path


@pytest.fixture
def lib(tmp_path: Path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return make_wav(tmp_path / "clip.wav")


# ------------------------------------------------------------------------------------------------- names

@pytest.mark.parametrize(("bad", "code"), [
    ("Ali\u200bce", "U+200B"),  # zero-width space
    ("Alice\u202e", "U+202E"),  # right-to-left override
    ("Al\x00ice", "U+0000"),
    ("Al\nice\x07", "U+0007"),
    ("A\u2028b", "U+2028"),  # line separator
    ("Bob\ufeff", "U+FEFF"),
])
def test_voice_names_refuse_invisible_characters(lib: VoiceLibrary, wav: Path, bad: str, code: str) -> None:
    with pytest.raises(VoiceError, match=re.escape(code)):
        lib.add(bad, wav, "hello there")
    assert lib.list() == [] and lib.list_broken() == []


@pytest.mark.parametrize("twin", ["Аlice", "ALICE", "A1ice", "AIice", "Ａｌｉｃｅ", "  alice  "])
def test_lookalike_of_an_existing_name_is_refused(lib: VoiceLibrary, wav: Path, twin: str) -> None:
    lib.add("Alice", wav, "hello there")
    with pytest.raises(VoiceError, match="Alice"):
        lib.add(twin, wav, "hello there")
    other = lib.add("Bob", wav, "hello there")
    with pytest.raises(VoiceError, match="Alice"):
        lib.rename(other.slug, twin)
    assert [v.name for v in lib.list()] == ["Alice", "Bob"]


def test_distinct_names_are_not_lookalikes() -> None:
    assert not lookalike_keys("Alice") & lookalike_keys("Alicia")
    assert not lookalike_keys("太乙真人") & lookalike_keys("太乙")
    assert lookalike_keys("Аlice") & lookalike_keys("alice")  # Cyrillic А


def test_display_name_helper_is_shared_with_reviewers() -> None:
    from ishowtts_studio.services.ab import check_reviewer
    from ishowtts_studio.services.errors import InputError

    with pytest.raises(InputError, match=re.escape("U+202E")):
        check_reviewer("eve\u202e")
    with pytest.raises(InvalidInput, match="must be text"):
        clean_display_name(5, what="The voice name", max_chars=10)
    assert clean_display_name("  Zoë   B ", what="x", max_chars=10) == "Zoë B"


# ------------------------------------------------------------------------------------------- transcripts

def test_transcript_longer_than_the_limit_is_refused_with_the_limit(lib: VoiceLibrary, wav: Path) -> None:
    with pytest.raises(VoiceError, match=f"limit is {MAX_TRANSCRIPT_CHARS}") as err:
        lib.add("Alice", wav, "word " * 20_000)
    assert len(str(err.value)) < 300  # the 100 kB input is not echoed
    assert lib.list() == []


def test_transcript_too_fast_for_the_clip_is_refused(lib: VoiceLibrary, wav: Path) -> None:
    # a 3 s clip: at most 90 characters
    with pytest.raises(VoiceError, match=f"{MAX_CHARS_PER_SECOND} characters a second"):
        lib.add("Alice", wav, "x" * 95)
    voice = lib.add("Alice", wav, "x" * 85)
    with pytest.raises(VoiceError, match="at most 90 characters"):
        lib.update(voice.slug, transcript="y" * 200)
    assert lib.get("Alice").transcript == "x" * 85


# ---------------------------------------------------------------------------------------- broken voices

def test_deleted_reference_shows_as_broken_and_can_be_deleted_and_reused(lib: VoiceLibrary, wav: Path) -> None:
    voice = lib.add("Alice", wav, "hello there")
    voice.audio_path.unlink()
    assert lib.list() == []
    [broken] = lib.list_broken()
    assert (broken.name, broken.repairable) == ("Alice", True)
    with pytest.raises(VoiceBroken, match="reference.wav is missing"):
        lib.get("Alice")
    lib.delete("Alice")
    assert lib.list_broken() == []
    assert lib.add("Alice", wav, "hello there").slug == "alice"  # not "alice-2"


def test_corrupted_reference_is_broken_not_exported_then_repaired(lib: VoiceLibrary, wav: Path,
                                                                 tmp_path: Path) -> None:
    voice = lib.add("Alice", wav, "hello there")
    lib.get("Alice")  # hash checked and cached
    data = bytearray(voice.audio_path.read_bytes())
    data[2000:2400] = b"\x00" * 400
    voice.audio_path.write_bytes(bytes(data))
    with pytest.raises(VoiceBroken, match="changed or damaged"):
        lib.get("Alice")
    with pytest.raises(VoiceBroken):
        lib.export_pack("Alice", tmp_path / "exports")
    assert not list((tmp_path / "exports").glob("*.zip")) if (tmp_path / "exports").exists() else True

    fixed = lib.repair("Alice", make_wav(tmp_path / "new.wav", seconds=4.0, freq=330.0))
    assert (fixed.name, fixed.transcript, fixed.slug) == ("Alice", "hello there", voice.slug)
    assert abs(fixed.duration_s - 4.0) < 0.01
    assert lib.get("Alice") == fixed and lib.list_broken() == []
    pack = lib.export_pack("Alice", tmp_path / "exports")
    with zipfile.ZipFile(pack) as zf:
        assert json.loads(zf.read("voice.json"))["content_hash"] == fixed.content_hash


def test_repair_refuses_a_healthy_voice_and_an_unreadable_one(lib: VoiceLibrary, wav: Path) -> None:
    voice = lib.add("Alice", wav, "hello there")
    with pytest.raises(VoiceError, match="not broken"):
        lib.repair("Alice", wav)
    (voice.audio_path.parent / "voice.json").write_text("{garbled")
    with pytest.raises(VoiceBroken, match="delete it and add it again"):
        lib.repair("alice", wav)
    assert lib.delete("alice").slug == "alice"


def test_repair_refuses_a_clip_too_short_for_the_kept_transcript(lib: VoiceLibrary, wav: Path,
                                                                 tmp_path: Path) -> None:
    voice = lib.add("Alice", wav, "x" * 80)
    voice.audio_path.unlink()
    with pytest.raises(VoiceError, match="characters a second"):
        lib.repair("Alice", make_wav(tmp_path / "short.wav", seconds=1.0))
    assert lib.list_broken()[0].slug == "alice"  # unchanged: still broken, nothing half-written


# --------------------------------------------------------------------------------------------- helpers

@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "finite"), (float("inf"), "finite"), ("abc", "must be a number"), ([1], "not list"),
    (True, "not bool"), ({"a": 1}, "not dict"), (None, "not NoneType"),
])
def test_to_number_refuses_with_the_field_named(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        to_number(value, "Speed")
    assert str(err.value).startswith("Speed")


def test_brief_and_redact() -> None:
    assert len(brief("x" * 1_000_000)) < 80
    msg = "Error opening '/tmp/gradio/9f/secret-folder/take 1.wav': Format not recognised."
    assert "/tmp" not in redact_paths(msg) and "secret-folder" not in redact_paths(msg)
    assert redact_paths("see http://127.0.0.1:7860/x/y") == "see http://127.0.0.1:7860/x/y"
    assert redact_paths("see https://host/a/b/c.pt") == "see https://host/a/b/c.pt"  # was cut at its 2nd slash
    assert redact_paths("Error opening '/srv/my voices/take 1.wav'") == "Error opening '…/take 1.wav'"
    assert redact_paths("cannot open file:///srv/models/x.pt") == "cannot open file://…/x.pt"
