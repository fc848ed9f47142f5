"""Audio I/O on real speech: espeak-ng output and the clip shipped with f5-tts."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from ishowtts_studio import audio
from ishowtts_studio.audio import (
    SAMPLE_RATE,
    SILENCE_FLOOR_DBFS,
    AudioError,
    crossfade_concat,
    is_silent,
    peak,
    read_audio,
    resample,
    rms,
    rms_dbfs,
    to_mono,
    trim_silence,
    wav_bytes,
    write_wav_atomic,
)

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs back home."
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg program is not installed")


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real synthetic speech from espeak-ng (22.05 kHz mono 16-bit)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); it makes the real speech these tests use")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([exe, "-w", str(out), SENTENCE], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def f5_clip() -> Path:
    try:
        clip = Path(str(files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav")))
    except ModuleNotFoundError:
        pytest.skip("f5-tts is not installed, so its reference clip is not available")
    if not clip.is_file():
        pytest.skip(f"f5-tts does not ship {clip}")
    return clip


def _variant(src: Path, dst: Path, *, rate: int | None = None, channels: int | None = None) -> Path:
    """A copy of `src` at another rate / channel count, made with sox when present, else soxr."""
    sox = shutil.which("sox")
    if sox is not None:
        effects: list[str] = []
        if channels:
            effects += ["channels", str(channels)]
        if rate:
            effects += ["rate", "-h", str(rate)]
        subprocess.run([sox, str(src), str(dst), *effects], check=True, capture_output=True)
        return dst
    x, sr = sf.read(src, dtype="float32")
    if rate:
        x = soxr.resample(x, sr, rate, quality="HQ")
        sr = rate
    if channels:
        x = np.stack([x] * channels, axis=1)
    sf.write(dst, x, sr, subtype="PCM_16")
    return dst


def _seconds(path: Path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


# --------------------------------------------------------------------------------------------
# reading real speech


def test_espeak_speech_reads_as_24k_mono(speech_wav: Path) -> None:
    assert sf.info(str(speech_wav)).samplerate != SAMPLE_RATE  # so resampling is really exercised
    x, sr = read_audio(speech_wav)
    assert sr == SAMPLE_RATE
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / sr - _seconds(speech_wav)) <= 0.01 * _seconds(speech_wav)
    assert 0.05 < peak(x) <= 1.0
    assert not is_silent(x)
    assert rms_dbfs(x) > -40.0


def test_f5_reference_clip(f5_clip: Path) -> None:
    x, sr = read_audio(f5_clip, target_sr=None)
    raw, raw_sr = sf.read(str(f5_clip), dtype="float32")
    assert sr == raw_sr == SAMPLE_RATE
    np.testing.assert_allclose(x, to_mono(raw), atol=1e-6)
    assert 4.0 < len(x) / sr < 7.0
    assert not is_silent(x)
    trimmed = trim_silence(x, sr)
    assert 0.5 * len(x) < len(trimmed) <= len(x)


@pytest.mark.parametrize(
    ("label", "rate", "channels"),
    [("stereo", None, 2), ("8k", 8000, None), ("96k", 96000, None), ("stereo_96k", 96000, 2)],
)
def test_variants_come_out_24k_mono_same_duration(
    speech_wav: Path, tmp_path: Path, label: str, rate: int | None, channels: int | None
) -> None:
    src = _variant(speech_wav, tmp_path / f"{label}.wav", rate=rate, channels=channels)
    info = sf.info(str(src))
    assert info.samplerate == (rate or sf.info(str(speech_wav)).samplerate)
    assert info.channels == (channels or 1)
    x, sr = read_audio(src)
    assert sr == SAMPLE_RATE and x.ndim == 1
    expected = _seconds(src)
    assert abs(len(x) / sr - expected) <= 0.01 * expected
    assert not is_silent(x)


def test_stereo_is_averaged(speech_wav: Path, tmp_path: Path) -> None:
    mono, sr = sf.read(str(speech_wav), dtype="float32")
    stereo = np.stack([mono, np.zeros_like(mono)], axis=1)
    path = tmp_path / "left_only.wav"
    sf.write(path, stereo, sr, subtype="FLOAT")
    x, out_sr = read_audio(path, target_sr=None)
    assert out_sr == sr
    np.testing.assert_allclose(x, mono / 2, atol=1e-6)


def test_flac_and_ogg_read(speech_wav: Path, tmp_path: Path) -> None:
    data, sr = sf.read(str(speech_wav), dtype="float32")
    for name in ("speech.flac", "speech.ogg"):
        path = tmp_path / name
        sf.write(path, data, sr)
        x, out_sr = read_audio(path)
        assert out_sr == SAMPLE_RATE
        assert abs(len(x) / out_sr - len(data) / sr) <= 0.01 * len(data) / sr


@needs_ffmpeg
def test_m4a_decoded_through_ffmpeg(speech_wav: Path, tmp_path: Path) -> None:
    m4a = tmp_path / "speech.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_wav), "-c:a", "aac", str(m4a)], check=True)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(m4a))  # libsndfile cannot read it, so this really goes through ffmpeg
    x, sr = read_audio(m4a)
    assert sr == SAMPLE_RATE
    # AAC adds encoder priming samples, hence the looser bound.
    assert abs(len(x) / sr - _seconds(speech_wav)) <= 0.05 * _seconds(speech_wav)
    assert not is_silent(x)


@needs_ffmpeg
def test_m4a_too_long_rejected(speech_wav: Path, tmp_path: Path) -> None:
    m4a = tmp_path / "speech.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_wav), "-c:a", "aac", str(m4a)], check=True)
    with pytest.raises(AudioError, match="the limit is 1 s"):
        read_audio(m4a, max_seconds=1.0)


# --------------------------------------------------------------------------------------------
# bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        read_audio(tmp_path / "nope.wav")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        read_audio(p)


def test_text_file_renamed_wav(tmp_path: Path) -> None:
    p = tmp_path / "notes.wav"
    p.write_text("these are my meeting notes, not audio\n" * 20)
    with pytest.raises(AudioError) as info:
        read_audio(p)
    msg = str(info.value)
    assert "could not read notes.wav as audio" in msg
    assert "Upload a WAV, FLAC, OGG, MP3 or M4A file" in msg


def test_truncated_wav(speech_wav: Path, tmp_path: Path) -> None:
    data = speech_wav.read_bytes()
    p = tmp_path / "half.wav"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        read_audio(p)


def test_wav_cut_inside_header(speech_wav: Path, tmp_path: Path) -> None:
    p = tmp_path / "stub.wav"
    p.write_bytes(speech_wav.read_bytes()[:30])
    with pytest.raises(AudioError, match="could not read stub.wav as audio"):
        read_audio(p)


def test_zero_samples(tmp_path: Path) -> None:
    p = tmp_path / "nothing.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no audio samples"):
        read_audio(p)


def test_non_finite_samples(tmp_path: Path) -> None:
    p = tmp_path / "nan.wav"
    x = np.zeros(1600, dtype=np.float32)
    x[100] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        read_audio(p)


def test_too_long_rejected_from_header(speech_wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a file that the header already showed to be too long")

    monkeypatch.setattr(audio.sf, "read", no_decode)
    with pytest.raises(AudioError) as info:
        read_audio(speech_wav, max_seconds=1.0)
    msg = str(info.value)
    assert "the limit is 1 s" in msg
    assert f"{_seconds(speech_wav):.1f} s long" in msg


def test_within_limit_accepted(speech_wav: Path) -> None:
    x, sr = read_audio(speech_wav, max_seconds=_seconds(speech_wav) + 0.5)
    assert len(x) > 0 and sr == SAMPLE_RATE


def test_float_file_over_full_scale_is_scaled(tmp_path: Path) -> None:
    t = np.arange(24000) / 24000
    x = (2.0 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    p = tmp_path / "hot.wav"
    sf.write(p, x, 24000, subtype="FLOAT")
    y, _ = read_audio(p)
    assert peak(y) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(y, x / peak(x), atol=1e-5)  # scaled, not clipped


# --------------------------------------------------------------------------------------------
# levels and silence


def test_digital_silence_detected(tmp_path: Path) -> None:
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(48000, dtype=np.float32), 48000, subtype="PCM_16")
    x, sr = read_audio(p)
    assert sr == SAMPLE_RATE and len(x) == 24000
    assert rms(x) == 0.0
    assert rms_dbfs(x) == SILENCE_FLOOR_DBFS
    assert is_silent(x)


def test_levels() -> None:
    t = np.arange(24000) / 24000
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert peak(sine) == pytest.approx(0.5, abs=1e-3)
    assert rms(sine) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert rms_dbfs(sine) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    assert not is_silent(sine)
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(24000) * 10 ** (-70 / 20)).astype(np.float32)  # about -70 dBFS
    assert is_silent(hiss)
    assert not is_silent(hiss, threshold_dbfs=-80.0)
    assert rms(np.zeros(0)) == 0.0 and peak(np.zeros(0)) == 0.0 and is_silent(np.zeros(0))


def test_trim_silence_on_padded_speech(speech_wav: Path) -> None:
    x, sr = read_audio(speech_wav)
    padded = np.concatenate([np.zeros(sr), x, np.zeros(2 * sr)]).astype(np.float32)
    trimmed = trim_silence(padded, sr)
    assert len(trimmed) <= len(x) + int(0.1 * sr)  # the added 3 s of silence are gone
    assert len(trimmed) >= 0.6 * len(x)  # the speech is not
    assert rms(trimmed) > rms(padded)
    assert len(trim_silence(np.zeros(1000, dtype=np.float32), sr)) == 1000  # nothing to measure against


# --------------------------------------------------------------------------------------------
# signal helpers


def test_to_mono_layouts() -> None:
    left = np.linspace(-1, 1, 100, dtype=np.float32)
    frames_first = np.stack([left, -left], axis=1)
    np.testing.assert_allclose(to_mono(frames_first), 0.0)
    np.testing.assert_allclose(to_mono(frames_first.T), 0.0)  # channels-first, as torch gives
    np.testing.assert_array_equal(to_mono(left), left)
    with pytest.raises(AudioError):
        to_mono(np.zeros((2, 2, 2)))


def test_resample_lengths_and_identity(speech_wav: Path) -> None:
    x, sr = sf.read(str(speech_wav), dtype="float32")
    for target in (8000, 16000, 24000, 96000):
        y = resample(x, sr, target)
        assert y.dtype == np.float32
        assert abs(len(y) - len(x) * target / sr) <= 2
    same = resample(x, sr, sr)
    np.testing.assert_array_equal(same, x)
    assert same is not x
    with pytest.raises(AudioError):
        resample(x, 0, 16000)


def test_crossfade_length_arithmetic() -> None:
    sr = 24000
    a, b, c = (np.ones(sr, dtype=np.float32) * v for v in (0.1, 0.2, 0.3))
    fade = int(0.15 * sr)
    assert len(crossfade_concat([a, b, c], sr, 0.15)) == 3 * sr - 2 * fade
    assert len(crossfade_concat([a], sr, 0.15)) == sr
    assert len(crossfade_concat([], sr, 0.15)) == 0
    assert crossfade_concat([], sr, 0.15).dtype == np.float32
    assert len(crossfade_concat([a, np.zeros(0, np.float32), b], sr, 0.15)) == 2 * sr - fade
    np.testing.assert_array_equal(crossfade_concat([a, b], sr, 0.0), np.concatenate([a, b]))
    short = np.ones(1000, dtype=np.float32)  # shorter than the 3600-sample fade
    assert len(crossfade_concat([a, short], sr, 0.15)) == sr + 1000 - 1000
    assert len(crossfade_concat([short, a], sr, 0.15)) == 1000 + sr - 1000
    assert len(crossfade_concat([short, short, short], sr, 0.15)) == 1000


def test_crossfade_shapes() -> None:
    sr, n = 1000, 100
    one = np.ones(500, dtype=np.float32)
    linear = crossfade_concat([one, one], sr, n / sr, curve="linear")
    np.testing.assert_allclose(linear, 1.0, atol=1e-6)  # linear fades sum to one on equal signals
    a = np.ones(500, dtype=np.float32)
    b = np.zeros(500, dtype=np.float32)
    eq = crossfade_concat([a, b], sr, n / sr)
    region = eq[400:500]
    assert np.all(np.diff(region) <= 1e-7)  # a smooth monotone fade-out of `a`
    # Equal power: the fade-in and fade-out gains keep constant total power.
    gain_out = crossfade_concat([a, b], sr, n / sr)[400:500]
    gain_in = crossfade_concat([b, a], sr, n / sr)[400:500]
    np.testing.assert_allclose(gain_out**2 + gain_in**2, 1.0, atol=1e-5)


# --------------------------------------------------------------------------------------------
# writing


def _temp_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_write_wav_atomic_roundtrip(speech_wav: Path, tmp_path: Path) -> None:
    x, sr = read_audio(speech_wav)
    target = tmp_path / "new" / "deeper" / "voice.wav"
    assert write_wav_atomic(target, x, sr) == target
    info = sf.info(str(target))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (sr, 1, "PCM_16", "WAV")
    y, _ = sf.read(str(target), dtype="float32")
    np.testing.assert_allclose(y, x, atol=1.5 / 32768)
    assert _temp_leftovers(target.parent) == []
    assert sorted(os.listdir(target.parent)) == ["voice.wav"]


def test_write_wav_clips(tmp_path: Path) -> None:
    p = write_wav_atomic(tmp_path / "loud.wav", np.array([2.0, -3.0, 0.5], dtype=np.float32), 24000)
    y, _ = sf.read(str(p), dtype="float32")
    assert y[0] == pytest.approx(1.0, abs=1e-4) and y[1] == pytest.approx(-1.0, abs=1e-4)
    assert y[2] == pytest.approx(0.5, abs=1e-4)


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = np.array([0.0, np.nan], dtype=np.float32)
    with pytest.raises(AudioError):
        write_wav_atomic(tmp_path / "nan.wav", bad, 24000)
    assert list(tmp_path.iterdir()) == []

    def broken_write(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(audio.sf, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_wav_atomic(tmp_path / "voice.wav", np.zeros(100, dtype=np.float32), 24000)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "voice.wav"
    old = np.full(100, 0.25, dtype=np.float32)
    write_wav_atomic(target, old, 24000)
    before = target.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(audio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_wav_atomic(target, np.zeros(500, dtype=np.float32), 24000)
    assert target.read_bytes() == before
    assert _temp_leftovers(tmp_path) == []


def test_wav_bytes_roundtrip(f5_clip: Path) -> None:
    x, sr = read_audio(f5_clip)
    data = wav_bytes(x, sr)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    y, out_sr = sf.read(io.BytesIO(data), dtype="float32")
    assert out_sr == sr and len(y) == len(x)
    np.testing.assert_allclose(y, x, atol=1.5 / 32768)


def test_blind_copies_of_one_clip_differ_in_bytes_not_in_sound(tmp_path) -> None:
    """Two blind copies of a real speech clip: new bytes each (no shared hash), the same length, rate and date,
    and within a step or two of 16-bit PCM of the clip itself."""
    import hashlib

    from ishowtts_studio.blind_copy import BLIND_MTIME, write_blind_copy
    from tests.helpers import EN_CLIP

    a = write_blind_copy(EN_CLIP, tmp_path / "a.wav")
    b = write_blind_copy(EN_CLIP, tmp_path / "b.wav")
    assert hashlib.sha256(a.read_bytes()).digest() != hashlib.sha256(b.read_bytes()).digest()
    assert a.stat().st_size == b.stat().st_size
    assert os.stat(a).st_mtime == os.stat(b).st_mtime == BLIND_MTIME
    src, sr = sf.read(EN_CLIP, dtype="int16")
    xa, sra = sf.read(a, dtype="int16")
    assert sra == sr and xa.shape == src.shape
    assert np.abs(xa.astype(int) - src.astype(int)).max() <= 2
