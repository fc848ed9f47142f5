"""The voice clip cleaning service, on real speech (f5-tts's reference clips, espeak-ng) and bad input."""

from __future__ import annotations

import importlib.resources
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from ishowtts_studio.audio import AudioError
from ishowtts_studio.voice_cleaning import clean_clip
from tests.helpers import EN_CLIP

ZH_CLIP = Path(str(importlib.resources.files("f5_tts").joinpath("infer/examples/basic/basic_ref_zh.wav")))

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def sox(*args: str | Path) -> None:
    subprocess.run(["sox", *map(str, args)], check=True, capture_output=True)


def lufs(x: np.ndarray, sr: int) -> float:
    return float(pyloudnorm.Meter(sr).integrated_loudness(x.astype(np.float64)))


@pytest.fixture(scope="module")
def espeak_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("espeak") / "speech.wav"
    text = "Hello there. This is a test of the voice cleaning service, spoken by a robot."
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def check_clean(c, target=-20.0) -> None:
    assert c.sample_rate == 24_000
    assert c.audio.ndim == 1 and c.audio.dtype == np.float32
    assert np.isfinite(c.audio).all()
    assert 2.0 <= c.duration_s <= 12.0
    assert np.max(np.abs(c.audio)) <= 0.98
    assert c.loudness_lufs == pytest.approx(lufs(c.audio, 24_000), abs=0.05)
    assert c.loudness_lufs == pytest.approx(target, abs=1.5)


def test_f5_reference_clip(tmp_path: Path) -> None:
    c = clean_clip(EN_CLIP, target_lufs=-20.0)
    check_clean(c)
    assert c.cut_at_s is None
    assert any("LUFS" in m for m in c.messages)
    assert c.to_dict()["duration_s"] == pytest.approx(c.duration_s, abs=1e-3)


def test_chinese_clip_other_target() -> None:
    c = clean_clip(ZH_CLIP, target_lufs=-23.0)
    check_clean(c, target=-23.0)


def test_espeak_speech_resampled_and_trimmed(espeak_wav: Path) -> None:
    c = clean_clip(espeak_wav)
    check_clean(c)
    assert c.original_sample_rate == 22_050
    assert any("Resampled from 22050 Hz" in m for m in c.messages)


@needs_sox
def test_leading_and_trailing_silence_are_trimmed(tmp_path: Path) -> None:
    padded = tmp_path / "padded.wav"
    sox(EN_CLIP, padded, "pad", "1.5", "2.0")
    plain, c = clean_clip(EN_CLIP), clean_clip(padded)
    assert c.trimmed_start_s >= 1.4 and c.trimmed_end_s >= 1.9
    assert c.duration_s == pytest.approx(plain.duration_s, abs=0.15)
    assert any("Trimmed" in m for m in c.messages)


@needs_sox
@pytest.mark.parametrize("rate", [8000, 96000])
def test_8k_and_96k_inputs(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"r{rate}.wav"
    sox(EN_CLIP, "-r", str(rate), path)
    c = clean_clip(path)
    check_clean(c)
    assert c.original_sample_rate == rate
    assert any(f"Resampled from {rate} Hz" in m for m in c.messages)


@needs_sox
def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    sox(EN_CLIP, "-c", "2", path)
    assert sf.info(str(path)).channels == 2
    c = clean_clip(path)
    check_clean(c)
    assert c.original_channels == 2
    assert any("mono" in m for m in c.messages)


@needs_sox
def test_long_clip_is_cut_at_a_pause(tmp_path: Path) -> None:
    # three copies of the clip with 0.6 s pauses between them: ~25 s of speech
    gap = tmp_path / "gap.wav"
    sox("-n", "-r", "24000", "-c", "1", gap, "trim", "0", "0.6")
    long = tmp_path / "long.wav"
    sox(EN_CLIP, gap, EN_CLIP, gap, EN_CLIP, long)
    c = clean_clip(long, max_seconds=12.0)
    check_clean(c)
    assert c.cut_at_s is not None and c.cut_at_s <= 12.0
    assert any("Cut to" in m and "at a pause" in m for m in c.messages)
    # the cut falls in the quiet gap after the first copy, not mid-word: the kept audio ends quietly
    tail = c.audio[-int(0.02 * 24000):]
    assert np.sqrt(np.mean(tail.astype(np.float64) ** 2)) < 0.05


@needs_sox
def test_clipping_and_noise_warnings(tmp_path: Path) -> None:
    clipped = tmp_path / "clipped2.wav"
    x, sr = sf.read(str(EN_CLIP), dtype="float32")
    sf.write(clipped, np.clip(x * 10, -1, 1), sr, subtype="PCM_16")
    c = clean_clip(clipped)
    assert any("clipped" in w for w in c.warnings)

    noisy = tmp_path / "noisy.wav"
    rng = np.random.default_rng(0)
    sf.write(noisy, x + 0.03 * rng.standard_normal(x.shape).astype(np.float32), sr, subtype="FLOAT")
    assert any("noisy" in w for w in clean_clip(noisy).warnings)
    assert not clean_clip(EN_CLIP).warnings


# ---- rejections ------------------------------------------------------------------------------------
def test_digital_silence_rejected(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(24000 * 5, dtype=np.float32), 24000)
    with pytest.raises(AudioError, match="silent"):
        clean_clip(path)


def test_short_clip_rejected(tmp_path: Path) -> None:
    x, sr = sf.read(str(EN_CLIP), dtype="float32")
    path = tmp_path / "short.wav"
    sf.write(path, x[int(0.5 * sr): int(0.8 * sr)], sr)
    with pytest.raises(AudioError, match=r"at least 2 s"):
        clean_clip(path)


def test_text_file_renamed_wav_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio at all\n" * 50)
    with pytest.raises(AudioError, match="could not read"):
        clean_clip(path)


def test_truncated_wav_rejected(tmp_path: Path) -> None:
    data = EN_CLIP.read_bytes()
    path = tmp_path / "truncated.wav"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        clean_clip(path)


def test_ten_minute_file_rejected_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        block = np.zeros(8000 * 60, dtype=np.int16)
        for _ in range(10):
            f.write(block)

    def no_decode(*a, **k):  # the header says 600 s: the samples must never be read
        raise AssertionError("decoded a file that the header already rules out")

    monkeypatch.setattr(sf, "read", no_decode)
    with pytest.raises(AudioError, match=r"600\.0 s long"):
        clean_clip(path)


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        clean_clip(tmp_path / "nope.wav")


# ---- optional transcriber -----------------------------------------------------------------------------
def test_transcriber_not_configured_says_so() -> None:
    from ishowtts_studio.transcribe import NO_TRANSCRIBER, Transcriber, TranscriberUnavailable

    t = Transcriber("")
    assert not t.configured
    with pytest.raises(TranscriberUnavailable, match="No transcriber configured — type the transcript"):
        t.transcribe(np.zeros(24000, np.float32), 24000)
    assert "type the transcript" in NO_TRANSCRIBER


def test_transcriber_that_cannot_load_asks_for_the_transcript(tmp_path: Path) -> None:
    from ishowtts_studio.transcribe import Transcriber, TranscriberUnavailable

    t = Transcriber(tmp_path / "no-such-whisper")
    assert t.configured
    for _ in range(2):  # the failure is remembered, not retried on every clip
        with pytest.raises(TranscriberUnavailable, match="could not be loaded offline.*Type the transcript"):
            t.transcribe(np.zeros(24000, np.float32), 24000)


def test_transcriber_feeds_16k_audio_and_tidies_text() -> None:
    from ishowtts_studio.transcribe import Transcriber

    seen = {}

    def fake_pipe(inputs):
        seen.update(inputs)
        return {"text": "  Some call me   nature. "}

    t = Transcriber("/models/whisper")
    t._pipe = fake_pipe
    c = clean_clip(EN_CLIP)
    assert t.transcribe(c.audio, c.sample_rate) == "Some call me nature."
    assert seen["sampling_rate"] == 16000
    assert len(seen["raw"]) == pytest.approx(len(c.audio) * 16000 / 24000, abs=2)
