"""Start-up clean-up (ishowtts_studio.recovery) on real folders and a real SQLite store: what a crashed writer
leaves is removed, audio without a row is moved aside (never deleted), everything a row points at stays."""

from __future__ import annotations

from pathlib import Path

from ishowtts_studio.recovery import recover, remove_cache_leftovers
from ishowtts_studio.settings import load_settings
from ishowtts_studio.store import Store, SynthesisRecord


def test_recover_removes_temp_and_sets_orphans_aside(tmp_path: Path) -> None:
    voices, samples, cache = tmp_path / "voices", tmp_path / "samples", tmp_path / "cache"
    for d in (voices / "alice", voices / ".tmp-abc", cache / "voice-add-x1", cache / "voice-import-y2",
              cache / "models", samples / "history", samples / "nfe" / "g1", samples / "exports"):
        d.mkdir(parents=True)
    (voices / "alice" / ".voice-1.json.tmp").write_text("{")
    (voices / "alice" / "voice.json").write_text("{}")
    (cache / "voice-add-x1" / "reference.wav").write_bytes(b"RIFF partial")
    (cache / "models" / "keep.bin").write_bytes(b"model")
    kept = samples / "history" / "kept.wav"
    kept.write_bytes(b"RIFF kept")
    orphan = samples / "history" / "orphan.wav"
    orphan.write_bytes(b"RIFF orphan")
    (samples / "history" / ".orphan.wav.abc123.tmp").write_bytes(b"RIFF half")
    (samples / "nfe" / "g1" / "8.wav").write_bytes(b"RIFF render")
    (samples / "exports" / "alice.zip").write_bytes(b"PK")
    with Store(samples / "studio.db") as store:
        store.add_synthesis(SynthesisRecord(text="t", voice_name="A", voice_slug="alice", engine="f5", nfe=8,
                                            audio_path="history/kept.wav"))
        found = recover(voices=voices, samples=samples, cache=cache, store=store)

    assert sorted(found.temp_folders) == ["cache/voice-add-x1", "cache/voice-import-y2", "voices/.tmp-abc"]
    assert sorted(Path(p).name for p in found.temp_files) == [".orphan.wav.abc123.tmp", ".voice-1.json.tmp"]
    assert sorted(found.orphans) == ["history/orphan.wav", "nfe/g1/8.wav"]
    assert kept.read_bytes() == b"RIFF kept" and not orphan.exists()
    assert found.orphan_folder is not None
    assert (found.orphan_folder / "history" / "orphan.wav").read_bytes() == b"RIFF orphan"  # moved, not lost
    assert (cache / "models" / "keep.bin").exists() and (samples / "exports" / "alice.zip").exists()
    assert (voices / "alice" / "voice.json").exists()


def test_recover_on_a_clean_studio_finds_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "samples" / "studio.db") as store:
        found = recover(voices=tmp_path / "voices", samples=tmp_path / "samples", cache=tmp_path / "cache",
                        store=store)
    assert not found.anything


def test_cache_leftovers_of_add_import_and_repair_are_removed(tmp_path: Path) -> None:
    for name in ("voice-add-abc", "voice-import-def", "voice-repair-ghi", "served", "random-smoke-1"):
        (tmp_path / name).mkdir()
    (tmp_path / "voice-add-abc" / "reference.wav").write_bytes(b"half")
    (tmp_path / "voice-other").write_text("a file, not a temp folder")
    assert sorted(remove_cache_leftovers(tmp_path)) == ["voice-add-abc", "voice-import-def", "voice-repair-ghi"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random-smoke-1", "served", "voice-other"]


def test_building_a_studio_removes_a_crashed_repair_folder(tmp_path: Path) -> None:
    """Every Studio (server or CLI) tidies cache/ through recovery's one list of temp folders; a crashed repair's
    folder (voice-repair-*) was once left behind there, as only add and import were listed."""
    from ishowtts_studio.studio import Studio

    cache = tmp_path / "cache"
    for name in ("voice-repair-x1", "voice-add-x2"):
        (cache / name).mkdir(parents=True)
        (cache / name / "reference.wav").write_bytes(b"RIFF half")
    settings = load_settings(None, smoke=True, overrides={
        "paths.voices": str(tmp_path / "v"), "paths.samples": str(tmp_path / "s"),
        "paths.database": str(tmp_path / "s" / "db.sqlite"), "paths.cache": str(cache)})
    studio = Studio(settings)
    try:
        assert not (cache / "voice-repair-x1").exists() and not (cache / "voice-add-x2").exists()
    finally:
        studio.close()
