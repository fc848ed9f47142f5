"""Managing stored voices: rename, update, delete (VoiceLibrary) and voice packs (ishowtts_studio.voices.pack):
the export round trip, and hostile or oversized .zip files refused before anything touches the disk."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio.voices import VoiceError, VoiceLibrary, VoiceNotFound, read_pack

SR = 24_000


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    t = np.arange(int(1.5 * SR)) / SR
    path = tmp_path / "clip.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    return path


@pytest.fixture
def lib(tmp_path: Path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


def test_rename_keeps_slug_and_refuses_clashes(lib: VoiceLibrary, wav: Path) -> None:
    a = lib.add("Alice", wav, "hello there", "en")
    lib.add("Bob", wav, "hello there", "en")
    r = lib.rename("alice", "Alicia")
    assert r.name == "Alicia" and r.slug == a.slug and r.created == a.created
    assert r.content_hash == a.content_hash
    with pytest.raises(VoiceError, match="already exists"):
        lib.rename("Alicia", "BOB")
    with pytest.raises(VoiceError, match="letter or digit"):
        lib.rename("Alicia", "../..")
    assert lib.names() == ["Alicia", "Bob"]
    assert not [p for p in lib.root.rglob("*.tmp")]


def test_a_name_never_takes_another_voices_slug(lib: VoiceLibrary, wav: Path) -> None:
    """Pickers, the API and the services hand a voice's slug back in: a name equal to another voice's slug made
    rename, update, export and delete land on the wrong voice. Such names are refused, a new slug skips other
    voices' names, and in a library written before that rule the exact slug wins."""
    nature = lib.add("Nature (English)", wav, "hello there", "en")
    assert nature.slug == "nature-english"
    with pytest.raises(VoiceError, match="is the id of the voice 'Nature \\(English\\)'"):
        lib.add("nature-english", wav, "hello there", "en")
    bob = lib.add("Bob", wav, "hello there", "en")
    with pytest.raises(VoiceError, match="is the id of the voice"):
        lib.rename(bob.slug, "Nature-English")
    assert lib.rename(nature.slug, "nature-english").slug == nature.slug  # a voice may take its own slug
    lib.rename(nature.slug, "Nature (English)")
    # a slug is not handed out when it is another voice's name
    lib.add("bob-2", wav, "hello there", "en")
    assert lib.add("Bob!", wav, "hello there", "en").slug == "bob-3"
    # a library from before the rule: a voice named like another's slug (written by hand here)
    clash = lib.add("Clash", wav, "hello there", "en")
    meta = json.loads((lib.root / clash.slug / "voice.json").read_text())
    (lib.root / clash.slug / "voice.json").write_text(json.dumps(meta | {"name": "nature-english"}))
    assert lib.get("nature-english").slug == nature.slug  # the exact slug first
    assert lib.get("NATURE-ENGLISH").name == "nature-english"  # else the name
    assert lib.rename(nature.slug, "Nature Renamed").slug == nature.slug
    assert lib.get(clash.slug).name == "nature-english"  # the other voice untouched
    assert lib.delete(nature.slug).name == "Nature Renamed"
    assert lib.get(clash.slug).name == "nature-english"


def test_update_transcript_and_language(lib: VoiceLibrary, wav: Path) -> None:
    lib.add("Alice", wav, "hello there", "en")
    v = lib.update("Alice", transcript="  new   words ", language="zh")
    assert v.transcript == "new words" and v.language == "zh"
    assert lib.update("Alice", language="other").transcript == "new words"
    with pytest.raises(VoiceError, match="transcript"):
        lib.update("Alice", transcript="   ")
    with pytest.raises(VoiceError, match="Language"):
        lib.update("Alice", language="xx")
    assert lib.get("Alice").language == "other"


def test_delete_removes_the_folder_atomically(lib: VoiceLibrary, wav: Path) -> None:
    v = lib.add("Alice", wav, "hello there", "en")
    assert lib.delete("ALICE").slug == v.slug
    assert not (lib.root / v.slug).exists()
    assert {p.name for p in lib.root.iterdir()} - {".lock"} == set()
    with pytest.raises(VoiceNotFound):
        lib.delete("Alice")


def test_pack_round_trip(lib: VoiceLibrary, wav: Path, tmp_path: Path) -> None:
    v = lib.add("Alice", wav, "hello there", "en")
    pack = lib.export_pack("Alice", tmp_path / "out")
    p = read_pack(pack)
    assert (p.name, p.transcript, p.language) == ("Alice", "hello there", "en")
    assert hashlib.sha256(p.audio).hexdigest() == v.content_hash


@pytest.mark.parametrize("bad", ["../evil.wav", "/abs.wav", "a\\..\\b", "C:evil", "x/../../y"])
def test_pack_unsafe_paths_refused(tmp_path: Path, wav: Path, bad: str) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("voice.json", json.dumps({"name": "x", "transcript": "y"}))
        zf.writestr("reference.wav", wav.read_bytes())
        zf.writestr(bad, b"x")
    with pytest.raises(VoiceError, match="unsafe path"):
        read_pack(path)


def test_pack_size_limits(tmp_path: Path, wav: Path) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("voice.json", json.dumps({"name": "x", "transcript": "y"}))
        zf.writestr("reference.wav", bytes(5 * 2**20))
    with pytest.raises(VoiceError, match="unpack to"):
        read_pack(path, max_bytes=2**20)
    assert read_pack(path, max_bytes=10 * 2**20).name == "x"
    with pytest.raises(VoiceError, match="larger than"):
        read_pack(path, max_bytes=1000)


def _pack_with(path: Path, wav: Path, meta: bytes | str, *, encrypted: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("voice.json", meta)
        zf.writestr("reference.wav", wav.read_bytes())
    if encrypted:  # mark voice.json encrypted in the central directory (zipfile cannot write encrypted members)
        data = bytearray(path.read_bytes())
        entry = data.index(b"PK\x01\x02")  # voice.json's entry comes first
        data[entry + 8] |= 0x1
        path.write_bytes(bytes(data))
    return path


def test_pack_unreadable_members_and_nesting_get_a_clear_refusal(tmp_path: Path, wav: Path) -> None:
    """Encrypted members and JSON nested past the parser's depth raised RuntimeError / RecursionError, which the
    studio answered with its generic message."""
    with pytest.raises(VoiceError, match="cannot be read .*encrypted.*export the voice again"):
        read_pack(_pack_with(tmp_path / "enc.zip", wav, json.dumps({"name": "x", "transcript": "y"}), encrypted=True))
    with pytest.raises(VoiceError, match="is damaged") as info:
        read_pack(_pack_with(tmp_path / "deep.zip", wav, "[" * 100_000))
    assert len(str(info.value)) < 400


def test_pack_original_name_is_kept_short_and_plain(tmp_path: Path, wav: Path) -> None:
    """The recorded file name shows in every voice listing: only its last part, printable, 255 characters."""
    def original(value: object) -> str | None:
        meta = json.dumps({"name": "x", "transcript": "y", "original_name": value})
        return read_pack(_pack_with(tmp_path / "o.zip", wav, meta)).original_name

    assert original("../../etc/take 1.wav") == "take 1.wav"
    assert original("C:\\Users\\me\\clip.wav") == "clip.wav"
    assert original("a\nb\x00c\u202e.wav") == "abc.wav"
    assert len(original("y" * 2_000_000)) == 255
    assert original(["not", "text"]) is None and original("\x00") is None

