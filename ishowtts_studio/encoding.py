"""Audio chunks -> bytes of a container, as they arrive: mp3, opus, aac, flac, wav (PyAV) and raw pcm.

A `StreamEncoder` takes float32 mono chunks and returns whatever bytes the container has ready after
each one, so an HTTP response (or a file) can start before the whole take exists. The containers are
written by FFmpeg's muxers through PyAV into a non-seekable sink: headers whose sizes are only known at
the end (WAV, FLAC) carry FFmpeg's "unknown length" values, which every decoder we use accepts.
`pcm` is the one format without a container: 16-bit signed little-endian samples at 24 kHz (what
OpenAI's API documents for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AudioFormat:
    name: str
    container: str | None  # FFmpeg muxer; None = raw pcm
    codec: str | None
    media_type: str
    bit_rate: int | None = None
    sample_rate: int | None = None  # fixed output rate; None = the engine's own


# Opus is coded at 48 kHz (decoders always give 48 kHz back); pcm at 24 kHz as OpenAI documents it.
FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat("mp3", "mp3", "libmp3lame", "audio/mpeg", 96_000),
        AudioFormat("opus", "ogg", "libopus", "audio/ogg", 48_000, 48_000),
        AudioFormat("aac", "adts", "aac", "audio/aac", 96_000),
        AudioFormat("flac", "flac", "flac", "audio/flac"),
        AudioFormat("wav", "wav", "pcm_s16le", "audio/wav"),
        AudioFormat("pcm", None, None, "audio/pcm", None, 24_000),
    )
}
SUFFIXES = {"mp3": "mp3", "opus": "opus", "ogg": "opus", "aac": "aac", "m4a": "aac", "flac": "flac", "wav": "wav",
            "pcm": "pcm", "raw": "pcm"}


def output_rate(fmt: str, engine_rate: int) -> int:
    """The sample rate a decoder will report for `fmt` when the engine produces `engine_rate`."""
    return FORMATS[fmt].sample_rate or engine_rate


class _Sink:
    """Where the muxer writes: collects bytes until the caller takes them. No `seek`, so FFmpeg treats the
    output as a pipe and never tries to go back and patch a header."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _int16(audio: np.ndarray) -> np.ndarray:
    x = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1)), -1.0, 1.0)
    return (x * 32767.0).round().astype("<i2")


class StreamEncoder:
    """Encode float mono chunks at `sample_rate` into `fmt`; `add(chunk)` and `finish()` return new bytes."""

    def __init__(self, fmt: str, sample_rate: int) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown audio format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.format = FORMATS[fmt]
        self.sample_rate = int(sample_rate)
        self.samples_in = 0
        self._finished = False
        self._resampler = None
        if self.format.container is None:  # raw pcm at a fixed rate
            if self.format.sample_rate and self.format.sample_rate != self.sample_rate:
                import soxr

                self._resampler = soxr.ResampleStream(self.sample_rate, self.format.sample_rate, 1, dtype="float32")
            return
        import av

        self._sink = _Sink()
        # flush_packets: hand every packet to the sink at once instead of filling a 32 KB buffer first, so the
        # first chunk's bytes leave now
        options = {"flush_packets": "1"}
        if self.format.container == "ogg":  # Ogg pages hold 1 s by default: cut them at 60 ms instead
            options["page_duration"] = "60000"
        self._container = av.open(self._sink, mode="w", format=self.format.container, container_options=options)
        rate = self.format.sample_rate or self.sample_rate
        self._stream = self._container.add_stream(self.format.codec, rate=rate, layout="mono")
        if self.format.bit_rate:
            self._stream.bit_rate = self.format.bit_rate

    @property
    def media_type(self) -> str:
        return self.format.media_type

    def add(self, chunk: np.ndarray) -> bytes:
        if self._finished:
            raise RuntimeError("the encoder is finished")
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if chunk.size == 0:
            return b""
        if self.format.container is None:
            if self._resampler is not None:
                chunk = self._resampler.resample_chunk(chunk)
            return _int16(chunk).tobytes()
        import av

        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self.samples_in
        self.samples_in += chunk.size
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        """Flush the encoder and write the container's trailer; the last bytes of the stream."""
        if self._finished:
            return b""
        self._finished = True
        if self.format.container is None:
            if self._resampler is not None:
                return _int16(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)).tobytes()
            return b""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()

    def close(self) -> None:
        """Release the encoder without writing the rest (a cancelled stream)."""
        if not self._finished and self.format.container is not None:
            self._finished = True
            try:
                self._container.close()
            except Exception:  # closing half a stream may complain; nothing is left to save
                pass


def encode_whole(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """A finished take as one file's bytes."""
    enc = StreamEncoder(fmt, sample_rate)
    return enc.add(audio) + enc.finish()
