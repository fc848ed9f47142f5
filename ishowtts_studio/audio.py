"""Audio input/output and small signal helpers shared by every layer.

Reading goes through soundfile (libsndfile) with an ffmpeg subprocess as fallback for formats
libsndfile lacks (m4a/aac, ...); resampling uses soxr. torchaudio.load is never used: it needs
torchcodec and FFmpeg libraries that the studio cannot count on.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "SAMPLE_RATE",
    "SILENCE_FLOOR_DBFS",
    "AudioError",
    "crossfade",
    "crossfade_concat",
    "duration_s",
    "is_silent",
    "peak",
    "read_audio",
    "resample",
    "rms",
    "rms_dbfs",
    "to_mono",
    "trim_silence",
    "wav_bytes",
    "write_wav_atomic",
]

SAMPLE_RATE = 24000
# rms_dbfs of digital silence: a finite floor keeps JSON, plots and averages usable.
SILENCE_FLOOR_DBFS = -120.0
_FORMATS_HINT = "Upload a WAV, FLAC, OGG, MP3 or M4A file."
_FFMPEG_TIMEOUT_S = 120.0


class AudioError(ValueError):
    """Audio that cannot be used; the message says what to do about it."""


# --------------------------------------------------------------------------------------------
# reading


def _wav_truncation(path: Path) -> str | None:
    """Describe a RIFF/WAVE file whose data chunk is shorter than its header says, else None.

    libsndfile silently reads what is there, so a half-uploaded WAV would otherwise pass as a
    shorter clip that ends mid-word.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            fmt = "<I" if head[:4] == b"RIFF" else ">I"
            pos = 12
            for _ in range(64):  # a real WAV has a handful of chunks before "data"
                hdr = fh.read(8)
                if len(hdr) < 8:
                    return None  # libsndfile reports the missing data chunk itself
                chunk_id, (chunk_len,) = hdr[:4], struct.unpack(fmt, hdr[4:])
                pos += 8
                if chunk_id == b"data":
                    available = size - pos
                    # 0 and 0xFFFFFFFF are the "unknown length" markers of streaming writers.
                    if chunk_len not in (0, 0xFFFFFFFF) and chunk_len > available:
                        return (
                            f"it is truncated: the header announces {chunk_len} bytes of audio "
                            f"but only {available} are present"
                        )
                    return None
                pos += chunk_len + (chunk_len & 1)  # chunks are padded to even sizes
                fh.seek(pos)
    except OSError:
        return None
    return None


def _too_long(path: Path, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(
        f"{path.name} is {seconds:.1f} s long; the limit is {max_seconds:g} s. "
        "Trim it to a shorter clip (5-15 s of clean speech works best) and upload it again."
    )


def _ffprobe_duration(path: Path) -> float | None:
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return float(out.stdout.decode().strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _decode_ffmpeg(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode anything ffmpeg understands into float32 (frames, channels)."""
    exe = shutil.which("ffmpeg")
    assert exe is not None
    if max_seconds is not None:
        dur = _ffprobe_duration(path)
        if dur is not None and dur > max_seconds:
            raise _too_long(path, dur, max_seconds)
    cmd = [exe, "-v", "error", "-nostdin", "-i", str(path), "-vn", "-c:a", "pcm_f32le"]
    if max_seconds is not None:
        # Bound the work on huge files; a result longer than the limit is still rejected below.
        cmd += ["-t", f"{max_seconds + 1.0:.3f}"]
    cmd += ["-f", "wav", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"decoding {path.name} took too long. {_FORMATS_HINT}") from None
    except OSError as exc:
        raise AudioError(f"could not run ffmpeg to decode {path.name}: {exc}. {_FORMATS_HINT}") from None
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"ffmpeg exited with status {proc.returncode}"
        raise AudioError(f"could not read {path.name} as audio: {reason}. {_FORMATS_HINT}")
    try:
        data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"could not read {path.name} as audio: {exc}. {_FORMATS_HINT}") from None
    return data, int(sr)


def read_audio(
    path: str | os.PathLike[str],
    *,
    target_sr: int | None = SAMPLE_RATE,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 mono in [-1, 1], resampled to `target_sr` (None keeps the rate).

    Raises AudioError when the file is missing, not audio, corrupt or truncated, empty, longer than
    `max_seconds`, or holds non-finite samples.
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"audio file {p} does not exist. Check the path or upload the file again.")
    if p.is_dir():
        raise AudioError(f"{p} is a folder, not an audio file. {_FORMATS_HINT}")
    if p.stat().st_size == 0:
        raise AudioError(f"{p.name} is an empty file (0 bytes). {_FORMATS_HINT}")
    truncated = _wav_truncation(p)
    if truncated:
        raise AudioError(f"could not read {p.name} as audio: {truncated}. Upload the complete file again.")

    data: np.ndarray
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        if shutil.which("ffmpeg") is None:
            raise AudioError(
                f"could not read {p.name} as audio: {exc}. {_FORMATS_HINT} "
                "(MP3/M4A need the ffmpeg program for some files.)"
            ) from None
        data, sr = _decode_ffmpeg(p, max_seconds)
    else:
        # Header check first: refuse an hour-long upload without decoding it.
        if max_seconds is not None and info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
            raise _too_long(p, info.frames / info.samplerate, max_seconds)
        try:
            data, sr = sf.read(str(p), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"could not read {p.name} as audio: {exc}. {_FORMATS_HINT}") from None

    if data.size == 0 or sr <= 0:
        raise AudioError(f"{p.name} contains no audio samples. Record or upload a clip with speech in it.")
    if max_seconds is not None and data.shape[0] / sr > max_seconds:
        raise _too_long(p, data.shape[0] / sr, max_seconds)
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{p.name} contains invalid samples (NaN or infinity). Re-export it as 16-bit PCM WAV.")

    x = to_mono(data)
    if target_sr is not None and sr != target_sr:
        x = resample(x, sr, target_sr)
        sr = target_sr
    # Float files may exceed full scale; scale down rather than clip, to keep the waveform intact.
    top = peak(x)
    if top > 1.0:
        x = x / top
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)


# --------------------------------------------------------------------------------------------
# signal helpers


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels into one float32 channel.

    2-D input is (frames, channels) as soundfile returns it; a clearly channels-first array
    (few rows, many columns, as torch code produces) is accepted too.
    """
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise AudioError(f"expected 1-D or 2-D audio, got an array of shape {a.shape}")
    if a.shape[0] <= 8 < a.shape[1]:
        a = a.T
    if a.shape[1] == 1:
        return np.ascontiguousarray(a[:, 0])
    return a.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample with soxr (HQ); returns float32. (frames, channels) input stays 2-D."""
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    a = np.asarray(x, dtype=np.float32)
    if sr_in == sr_out or a.shape[0] == 0:
        return a.copy()
    return np.asarray(soxr.resample(a, sr_in, sr_out, quality="HQ"), dtype=np.float32)


def rms(x: np.ndarray) -> float:
    """Root mean square (0.0 for empty input)."""
    a = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale, floored at SILENCE_FLOOR_DBFS."""
    r = rms(x)
    return max(20.0 * math.log10(r), SILENCE_FLOOR_DBFS) if r > 0 else SILENCE_FLOOR_DBFS


def peak(x: np.ndarray) -> float:
    """Largest absolute sample (0.0 for empty input)."""
    a = np.asarray(x)
    return float(np.max(np.abs(a))) if a.size else 0.0


def is_silent(x: np.ndarray, threshold_dbfs: float = -60.0) -> bool:
    """True when the RMS level is below `threshold_dbfs` (empty audio counts as silent)."""
    return rms_dbfs(x) < threshold_dbfs


def duration_s(x: np.ndarray, sr: int) -> float:
    return float(np.asarray(x).shape[0]) / sr


def _frame_rms(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    if x.shape[0] < frame:
        return np.array([rms(x)])
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def trim_silence(x: np.ndarray, sr: int, top_db: float = 40.0, *, pad_s: float = 0.02) -> np.ndarray:
    """Cut leading and trailing parts quieter than `top_db` below the loudest 25 ms frame.

    Keeps `pad_s` of margin so soft onsets and releases are not clipped. Audio that is silent
    throughout is returned unchanged (callers check `is_silent` to reject it).
    """
    a = to_mono(x)
    if a.shape[0] == 0:
        return a.copy()
    frame = max(1, int(0.025 * sr))
    hop = max(1, int(0.010 * sr))
    levels = _frame_rms(a, frame, hop)
    loudest = float(levels.max())
    if loudest <= 0.0:
        return a.copy()
    voiced = np.flatnonzero(levels >= loudest * 10.0 ** (-top_db / 20.0))
    pad = int(pad_s * sr)
    start = max(0, int(voiced[0]) * hop - pad)
    end = min(a.shape[0], int(voiced[-1]) * hop + frame + pad)
    return a[start:end].copy()


def crossfade(tail: np.ndarray, head: np.ndarray, *,
              curve: Literal["equal_power", "linear"] = "equal_power") -> np.ndarray:
    """The overlap of two neighbouring chunks: `tail` (the end of one) fading out while `head` (the start of the
    next, the same length) fades in. The runtime's streaming join and `crossfade_concat` both use it."""
    k = min(len(tail), len(head))
    t = (np.arange(k, dtype=np.float32) + 0.5) / max(k, 1)
    if curve == "linear":
        fade_in, fade_out = t, 1.0 - t
    else:
        fade_in, fade_out = np.sin(t * np.pi / 2), np.cos(t * np.pi / 2)
    return (tail[:k] * fade_out + head[:k] * fade_in).astype(np.float32)


def crossfade_concat(
    chunks: Sequence[np.ndarray],
    sr: int,
    fade_s: float,
    *,
    curve: Literal["equal_power", "linear"] = "equal_power",
) -> np.ndarray:
    """Join mono chunks, overlapping each neighbour pair by `fade_s` seconds.

    The overlap shrinks to the shorter side when a chunk is shorter than the fade, so the result
    is sum(len) - sum(overlaps) samples. Equal-power fades suit independently generated chunks
    (uncorrelated signals), where a linear fade dips in loudness mid-way.
    """
    parts = [to_mono(c) for c in chunks]
    parts = [c for c in parts if c.shape[0] > 0]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    n_fade = max(0, round(fade_s * sr))
    out: list[np.ndarray] = []
    prev = parts[0]
    for cur in parts[1:]:
        k = min(n_fade, prev.shape[0], cur.shape[0])
        if k == 0:
            out.append(prev)
            prev = cur
            continue
        out.append(prev[:-k])
        prev = np.concatenate([crossfade(prev[-k:], cur[:k], curve=curve), cur[k:]])
    out.append(prev)
    return np.concatenate(out).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# writing


def _pcm_ready(x: np.ndarray, sr: int) -> np.ndarray:
    if sr <= 0:
        raise AudioError(f"sample rate must be positive, got {sr}")
    a = np.asarray(x, dtype=np.float32)
    if a.ndim not in (1, 2):
        raise AudioError(f"expected 1-D or 2-D audio, got an array of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise AudioError("audio contains NaN or infinite samples; refusing to write it")
    return np.clip(a, -1.0, 1.0)


def write_wav_atomic(path: str | os.PathLike[str], x: np.ndarray, sr: int) -> Path:
    """Write 16-bit PCM WAV so that `path` is either absent/old or complete, never half-written.

    Writes a temp file in the same folder (same file system, so os.replace is atomic), fsyncs it,
    then renames it over `path`. On any error the temp file is removed.
    """
    p = Path(path)
    data = _pcm_ready(x, sr)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            sf.write(fh, data, sr, format="WAV", subtype="PCM_16")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(p.parent)
    return p


def _fsync_dir(folder: Path) -> None:
    # Persist the rename itself; not possible on every platform, so best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def wav_bytes(x: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV file contents, e.g. for an HTTP response."""
    buf = io.BytesIO()
    sf.write(buf, _pcm_ready(x, sr), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()
