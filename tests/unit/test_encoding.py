"""The streaming encoder on real speech (f5-tts's reference clip), decoded back with PyAV and soundfile."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf
import soxr

from ishowtts_studio.encoding import FORMATS, StreamEncoder, encode_whole, output_rate
from tests.helpers import EN_CLIP


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, sr = sf.read(EN_CLIP, dtype="float32")
    audio = audio if audio.ndim == 1 else audio.mean(axis=1)
    return soxr.resample(audio, sr, 24_000).astype(np.float32)


def _as_float(samples: np.ndarray) -> np.ndarray:
    """Decoders give float or integer samples (s16 for wav, s16/s32 for flac): as floats in [-1, 1]."""
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    return samples.astype(np.float32)


def _decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0, 24_000
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.audio[0]
        samples = np.concatenate([_as_float(f.to_ndarray()).reshape(-1) for f in c.decode(stream)])
        return samples.astype(np.float32), stream.codec_context.sample_rate


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_chunks_stream_out_and_decode_to_the_same_speech(fmt, speech):
    enc = StreamEncoder(fmt, 24_000)
    pieces = [enc.add(c) for c in np.array_split(speech, 4)]  # four chunks of ~1.3 s, as the engine sends them
    assert pieces[0], "nothing came out after the first chunk: the response could not start early"
    tail = enc.finish()
    assert enc.finish() == b""  # finishing twice adds nothing
    audio, rate = _decode(b"".join(pieces) + tail, fmt)
    assert rate == output_rate(fmt, 24_000) == (48_000 if fmt == "opus" else 24_000)
    seconds = len(speech) / 24_000
    assert len(audio) / rate == pytest.approx(seconds, abs=0.08 if fmt in ("mp3", "aac") else 0.005)
    if fmt in ("wav", "flac", "pcm"):  # lossless apart from 16-bit rounding
        assert np.max(np.abs(audio[: len(speech)] - speech)) < 1e-4
    else:  # lossy: the loudness survives (RMS within 1.5 dB)
        ratio = np.sqrt(np.mean(audio ** 2) / np.mean(speech ** 2))
        assert 0.84 < ratio < 1.19, ratio
    with pytest.raises(RuntimeError):
        enc.add(speech[:100])


def test_streamed_wav_is_read_by_soundfile(speech):
    audio, rate = sf.read(io.BytesIO(encode_whole(speech, 24_000, "wav")), dtype="float32")
    assert rate == 24_000 and len(audio) == len(speech)


def test_pcm_is_resampled_to_24_khz_for_another_engine_rate(speech):
    at_22k = soxr.resample(speech, 24_000, 22_050).astype(np.float32)
    data = encode_whole(at_22k, 22_050, "pcm")
    assert len(data) // 2 == pytest.approx(len(speech), abs=24)  # 2 bytes a sample, 24 kHz


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="mp3, opus, aac, flac, wav, pcm"):
        StreamEncoder("ogg", 24_000)


def test_closing_a_cancelled_stream_is_quiet(speech):
    enc = StreamEncoder("mp3", 24_000)
    enc.add(speech[:24_000])
    enc.close()
    assert enc.finish() == b""
