"""VoiceLibrary on a throwaway folder in tmp_path (never the repo's voices/)."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio.voices import Voice, VoiceBroken, VoiceError, VoiceLibrary, VoiceNotFound, slugify
from ishowtts_studio.voices import folder as voice_folder
from ishowtts_studio.voices import library as library_mod

SR = 24_000


def make_wav(path: Path, seconds: float = 1.5, sr: int = SR, fmt: str = "WAV") -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, format=fmt)
    return path


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return make_wav(tmp_path / "clip.wav")


@pytest.fixture
def lib(tmp_path: Path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


def entries(root: Path) -> set[str]:
    """What is in the library folder, ignoring the lock file."""
    return {p.name for p in root.iterdir()} - {".lock"}


def assert_inside(voice: Voice, root: Path) -> None:
    folder = voice.audio_path.parent.resolve()
    assert folder.parent == root.resolve()
    assert voice.audio_path.resolve().is_relative_to(root.resolve())


# ------------------------------------------------------------------------------------------ slugify


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Nature (English)", "nature-english"),
        ("太乙真人 (Chinese)", "太乙真人-chinese"),
        ("  Hello   World!! ", "hello-world"),
        ("ＡＢＣ１２３", "abc123"),  # NFKC folds full-width forms
        ("Crème Brûlée", "crème-brûlée"),
        ("../../etc/passwd", "etc-passwd"),
        ("a/../b", "a-b"),
        ("C:\\Windows\\system32", "c-windows-system32"),
        (".hidden", "hidden"),
        ("Bob 😀", "bob"),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "..", "../..", "/", "///", "\\", "\\\\..\\", "😀🎉", "---", "...", "\n\t"])
def test_slugify_refuses_unusable_names(name: str) -> None:
    with pytest.raises(VoiceError, match="at least one letter or digit"):
        slugify(name)


def test_slugify_long_name_is_capped() -> None:
    slug = slugify("Very long voice name " * 20)
    assert 0 < len(slug) <= 64
    assert not slug.endswith("-")
    assert slugify("语" * 200) == "语" * 64


# -------------------------------------------------------------------------------------- add and get


def test_add_round_trip(lib: VoiceLibrary, wav: Path) -> None:
    voice = lib.add("Alice", wav, "  Hello,   my name is Alice. ", language="en")
    assert voice.slug == "alice"
    assert voice.name == "Alice"
    assert voice.transcript == "Hello, my name is Alice."  # whitespace tidied
    assert voice.audio_path == lib.root / "alice" / "reference.wav"
    assert voice.content_hash == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert voice.audio_path.read_bytes() == wav.read_bytes()
    assert voice.duration_s == pytest.approx(1.5, abs=1e-3)
    assert voice.sample_rate == SR
    assert voice.original_name == "clip.wav"
    assert voice.created and voice.created == voice.updated

    meta = json.loads((lib.root / "alice" / "voice.json").read_text(encoding="utf-8"))
    assert meta["name"] == "Alice" and meta["content_hash"] == voice.content_hash

    d = voice.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["audio_path"] == str(voice.audio_path)

    assert lib.get("alice") == voice
    assert lib.get("ALICE") == voice
    assert lib.list() == [voice]
    assert lib.names() == ["Alice"]
    # A fresh library object on the same folder reads the same voice back.
    assert VoiceLibrary(lib.root).get("Alice") == voice


def test_list_sorted_by_name(lib: VoiceLibrary, wav: Path) -> None:
    for name in ["charlie", "Bravo", "alpha"]:
        lib.add(name, wav, "text")
    assert [v.name for v in lib.list()] == ["alpha", "Bravo", "charlie"]


def test_get_unknown_lists_voices_and_how_to_add(lib: VoiceLibrary, wav: Path) -> None:
    with pytest.raises(VoiceNotFound, match="empty"):
        lib.get("nobody")
    lib.add("Alice", wav, "hi")
    lib.add("Bob", wav, "hi")
    with pytest.raises(VoiceNotFound) as info:
        lib.get("Carol")
    message = str(info.value)
    assert "Carol" in message and "Alice, Bob" in message and "Add one" in message
    assert isinstance(info.value, VoiceError) and isinstance(info.value, ValueError)
    assert info.value.available == ["Alice", "Bob"]


def test_unicode_name(lib: VoiceLibrary, wav: Path) -> None:
    voice = lib.add("小明 的声音", wav, "你好", language="zh")
    assert voice.slug == "小明-的声音"
    assert voice.audio_path.is_file()
    assert lib.get("小明 的声音").language == "zh"


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "../evil", "a/b/c", "..\\..\\win", ".ssh", "x" * 100, "名字/../.."]
)
def test_hostile_names_stay_inside_root(lib: VoiceLibrary, wav: Path, name: str) -> None:
    voice = lib.add(name, wav, "text")
    assert_inside(voice, lib.root)
    assert len(voice.slug) <= 64
    assert entries(lib.root) == {voice.slug}
    assert not (lib.root.parent / "etc").exists()
    assert lib.get(name) == voice


@pytest.mark.parametrize("name", ["..", "/", "\\", "😀😀", "", "../..", "///"])
def test_unusable_names_write_nothing(lib: VoiceLibrary, wav: Path, name: str) -> None:
    with pytest.raises(VoiceError):
        lib.add(name, wav, "text")
    assert entries(lib.root) == set()


def test_too_long_name_refused(lib: VoiceLibrary, wav: Path) -> None:
    with pytest.raises(VoiceError, match="too long"):
        lib.add("n" * 500, wav, "text")
    assert entries(lib.root) == set()


def test_duplicate_names_refused_case_insensitively(lib: VoiceLibrary, wav: Path) -> None:
    lib.add("Alice Smith", wav, "hi")
    for dup in ["alice smith", "  ALICE   SMITH ", "Ａｌｉｃｅ Smith"]:
        with pytest.raises(VoiceError, match="already exists"):
            lib.add(dup, wav, "hi")
    assert len(lib.list()) == 1


def test_slug_collisions_get_numbered(lib: VoiceLibrary, wav: Path) -> None:
    a = lib.add("Bob!", wav, "hi")
    b = lib.add("Bob?", wav, "hi")
    c = lib.add("Bob.", wav, "hi")
    assert (a.slug, b.slug, c.slug) == ("bob", "bob-2", "bob-3")
    with pytest.raises(VoiceError, match="'bob' is the id of the voice 'Bob!'"):
        lib.add("bob", wav, "hi")  # a name may not be another voice's slug (lookups take either)
    assert lib.get("Bob?") == b
    long_a = lib.add("z" * 70, wav, "hi")
    long_b = lib.add("z" * 70 + "!", wav, "hi")
    assert long_a.slug == "z" * 64 and long_b.slug == "z" * 62 + "-2"


def test_validation_errors(lib: VoiceLibrary, wav: Path, tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="transcript"):
        lib.add("A", wav, "   ")
    with pytest.raises(VoiceError, match="Language"):
        lib.add("A", wav, "hi", language="fr")
    not_audio = tmp_path / "fake.wav"
    not_audio.write_text("this is not audio")
    with pytest.raises(VoiceError, match="Cannot read"):
        lib.add("A", not_audio, "hi")
    with pytest.raises(VoiceError, match="Cannot read"):
        lib.add("A", tmp_path / "missing.wav", "hi")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(VoiceError, match="empty"):
        lib.add("A", empty, "hi")
    assert entries(lib.root) == set()
    assert lib.list() == []


def test_non_wav_input_is_stored_as_wav(lib: VoiceLibrary, tmp_path: Path) -> None:
    flac = make_wav(tmp_path / "clip.flac", seconds=2.0, sr=16_000, fmt="FLAC")
    voice = lib.add("Flac", flac, "hi", original_name="my upload.flac")
    info = sf.info(voice.audio_path)
    assert info.format == "WAV"
    assert info.samplerate == 16_000 and voice.sample_rate == 16_000
    assert voice.duration_s == pytest.approx(2.0, abs=1e-3)
    assert voice.content_hash == hashlib.sha256(voice.audio_path.read_bytes()).hexdigest()
    assert voice.original_name == "my upload.flac"


# -------------------------------------------------------------------------------------- concurrency


def test_two_threads_same_name_exactly_one_wins(tmp_path: Path, wav: Path) -> None:
    # Two library objects on one folder as well, so the file lock (not only the thread lock) is exercised.
    libs = [VoiceLibrary(tmp_path / "voices"), VoiceLibrary(tmp_path / "voices")]
    barrier = threading.Barrier(4)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            libs[i % 2].add("Same Name", wav, f"attempt {i}")
        except VoiceError as exc:
            assert "already exists" in str(exc)
            return "lost"
        return "won"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    assert [v.slug for v in libs[0].list()] == ["same-name"]
    assert entries(libs[0].root) == {"same-name"}


def _process_add(
    root: str, wav: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue
) -> None:
    lib = VoiceLibrary(Path(root))
    barrier.wait()
    try:
        lib.add("Shared", Path(wav), "from a process")
        results.put("won")
    except VoiceError:
        results.put("lost")


@pytest.mark.skipif(library_mod.fcntl is None, reason="needs fcntl")
def test_two_processes_same_name_exactly_one_wins(tmp_path: Path, wav: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_process_add, args=(str(tmp_path / "voices"), str(wav), barrier, results)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["lost", "lost", "won"]
    assert entries(tmp_path / "voices") == {"shared"}


# --------------------------------------------------------------------------------- broken and failed


def test_broken_folders_are_skipped(lib: VoiceLibrary, wav: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = lib.add("Good", wav, "fine")
    (lib.root / "bad-json").mkdir()
    (lib.root / "bad-json" / "voice.json").write_text("{not json")
    make_wav(lib.root / "bad-json" / "reference.wav")
    (lib.root / "no-wav").mkdir()
    (lib.root / "no-wav" / "voice.json").write_text(
        json.dumps({**json.loads((good.audio_path.parent / "voice.json").read_text()), "name": "NoWav"})
    )
    (lib.root / "no-meta").mkdir()
    make_wav(lib.root / "no-meta" / "reference.wav")
    (lib.root / "missing-fields").mkdir()
    (lib.root / "missing-fields" / "voice.json").write_text(json.dumps({"name": "Half"}))
    make_wav(lib.root / "missing-fields" / "reference.wav")
    (lib.root / "list-json").mkdir()
    (lib.root / "list-json" / "voice.json").write_text("[1, 2]")
    make_wav(lib.root / "list-json" / "reference.wav")
    (lib.root / "stray-file.txt").write_text("not a voice")

    with caplog.at_level(logging.WARNING, logger="ishowtts_studio.voices"):
        assert lib.list() == [good]
    skipped = " ".join(r.getMessage() for r in caplog.records)
    for folder in ["bad-json", "no-wav", "no-meta", "missing-fields", "list-json"]:
        assert folder in skipped
    assert lib.get("Good") == good
    # broken folders are listed as broken (defect 9: they used to vanish), never returned as usable voices
    broken = {b.slug: b for b in lib.list_broken()}
    assert set(broken) == {"bad-json", "no-wav", "no-meta", "missing-fields", "list-json"}
    assert broken["no-wav"].name == "NoWav" and broken["no-wav"].repairable
    assert "reference.wav is missing" in broken["no-wav"].problem
    assert not broken["no-meta"].repairable and "voice.json is missing" in broken["no-meta"].problem
    with pytest.raises(VoiceBroken, match="broken: reference.wav is missing"):
        lib.get("NoWav")
    with pytest.raises(VoiceError, match="already exists \\(broken"):
        lib.add("NoWav", wav, "hi")
    # A broken folder still occupies its slug, so a new voice never overwrites it.
    assert lib.add("No Wav", wav, "hi").slug == "no-wav-2"


def test_failing_replace_leaves_nothing(lib: VoiceLibrary, wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(voice_folder.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        lib.add("Alice", wav, "hi")
    assert entries(lib.root) == set()
    monkeypatch.undo()
    assert lib.add("Alice", wav, "hi").slug == "alice"


def test_failing_metadata_write_leaves_nothing(lib: VoiceLibrary, wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = voice_folder.write_file

    def write_then_fail(path: Path, data: bytes) -> None:
        if path.name.startswith(".voice-") and path.name.endswith(".json.tmp"):  # voice.json's temp file
            raise OSError("simulated crash while writing voice.json")
        real_write(path, data)

    monkeypatch.setattr(voice_folder, "write_file", write_then_fail)
    with pytest.raises(OSError, match="simulated"):
        lib.add("Alice", wav, "hi")
    assert entries(lib.root) == set()
    assert lib.list() == []


def test_leftover_temp_folder_is_cleaned_on_next_write(lib: VoiceLibrary, wav: Path) -> None:
    stale = lib.root / ".tmp-crashed"
    stale.mkdir()
    (stale / "reference.wav").write_bytes(b"partial")
    assert lib.list() == []  # never shown as a voice
    lib.add("Alice", wav, "hi")
    assert entries(lib.root) == {"alice"}


def test_version_changes_on_write(lib: VoiceLibrary, wav: Path) -> None:
    v0 = lib.version
    assert lib.version == v0
    lib.add("Alice", wav, "hi")
    v1 = lib.version
    assert v1 > v0
    lib.add("Bob", wav, "hi")
    assert lib.version > v1


# ------------------------------------------------------------------------------------------ seeding


def _package_clip(name: str) -> Path:
    return Path(str(importlib.resources.files("f5_tts").joinpath(f"infer/examples/basic/{name}")))


def test_seed_defaults_from_real_f5_clips(lib: VoiceLibrary) -> None:
    added = lib.seed_defaults()
    assert [v.name for v in added] == ["Nature (English)", "太乙真人 (Chinese)"]
    en, zh = lib.get("Nature (English)"), lib.get("太乙真人 (Chinese)")
    assert en.slug == "nature-english" and en.language == "en"
    assert en.transcript == "Some call me nature, others call me mother nature."
    assert zh.slug == "太乙真人-chinese" and zh.language == "zh"
    assert zh.transcript == "对，这就是我，万人敬仰的太乙真人。"
    for voice, clip in [(en, "basic_ref_en.wav"), (zh, "basic_ref_zh.wav")]:
        src = _package_clip(clip)
        info = sf.info(src)
        assert voice.duration_s == pytest.approx(info.frames / info.samplerate, abs=1e-3)
        assert sf.info(voice.audio_path).frames == info.frames
        assert voice.sample_rate == info.samplerate
        assert voice.content_hash == hashlib.sha256(src.read_bytes()).hexdigest()
        assert voice.original_name == clip
        assert_inside(voice, lib.root)
    assert lib.get("太乙真人-chinese") == zh

    assert lib.seed_defaults() == []  # seeding twice adds nothing
    assert len(lib.list()) == 2
    assert entries(lib.root) == {"nature-english", "太乙真人-chinese"}


def test_seed_skipped_when_library_has_voices(lib: VoiceLibrary, wav: Path) -> None:
    lib.add("Mine", wav, "hi")
    assert lib.seed_defaults() == []
    assert lib.names() == ["Mine"]
