"""Cleaning of a voice reference clip before it is stored (no gradio here).

mono -> 24 kHz (soxr) -> trim leading/trailing silence -> cut to at most `max_seconds` at a pause ->
loudness-normalise (ITU-R BS.1770, pyloudnorm) to `target_lufs`. Clipping and a noisy floor give
warnings; silent, too short, too long, truncated or non-audio input raise AudioError with a message
that says what to do.
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import soundfile as sf

from ishowtts_studio.audio import SAMPLE_RATE, AudioError, is_silent, peak, read_audio, resample

DEFAULT_TARGET_LUFS = -20.0
DEFAULT_MAX_SECONDS = 12.0
DEFAULT_MIN_SECONDS = 2.0
HARD_LIMIT_SECONDS = 60.0  # longer uploads are refused from the header, before a full decode
TRIM_TOP_DB = 40.0  # frames this far below the loudest frame count as silence at the edges
PAD_S = 0.05  # margin kept around the speech when trimming
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.001  # warn when more than 0.1 % of samples sit at full scale
NOISY_SNR_DB = 25.0  # warn when speech is less than this far above the quietest frames
PEAK_CEILING = 0.97  # after loudness normalisation, never exceed this peak
_FRAME_S, _HOP_S = 0.025, 0.010


@dataclass
class CleanedClip:
    audio: np.ndarray  # float32 mono at `sample_rate`
    sample_rate: int
    original: np.ndarray  # the decoded input, mono at `sample_rate` (for a before/after preview)
    original_sample_rate: int
    original_channels: int
    original_duration_s: float
    duration_s: float
    loudness_lufs: float
    trimmed_start_s: float
    trimmed_end_s: float
    cut_at_s: float | None
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "original_sample_rate": self.original_sample_rate,
            "original_channels": self.original_channels,
            "original_duration_s": round(self.original_duration_s, 3),
            "duration_s": round(self.duration_s, 3),
            "loudness_lufs": round(self.loudness_lufs, 2),
            "trimmed_start_s": round(self.trimmed_start_s, 3),
            "trimmed_end_s": round(self.trimmed_end_s, 3),
            "cut_at_s": None if self.cut_at_s is None else round(self.cut_at_s, 3),
            "messages": list(self.messages),
            "warnings": list(self.warnings),
        }


def _frame_levels(x: np.ndarray, sr: int) -> tuple[np.ndarray, int, int]:
    frame, hop = max(1, int(_FRAME_S * sr)), max(1, int(_HOP_S * sr))
    if x.shape[0] < frame:
        a = x.astype(np.float64)
        return np.array([math.sqrt(float(np.mean(a * a))) if a.size else 0.0]), frame, hop
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)), frame, hop


def _db(v: np.ndarray | float) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(np.asarray(v, dtype=np.float64), 1e-9))


def _speech_bounds(x: np.ndarray, sr: int) -> tuple[int, int]:
    levels, frame, hop = _frame_levels(x, sr)
    loud = float(levels.max())
    voiced = np.flatnonzero(levels >= loud * 10.0 ** (-TRIM_TOP_DB / 20.0))
    pad = int(PAD_S * sr)
    start = max(0, int(voiced[0]) * hop - pad)
    end = min(x.shape[0], int(voiced[-1]) * hop + frame + pad)
    return start, end


def find_pause(x: np.ndarray, sr: int, lo_s: float, hi_s: float) -> int:
    """Sample index of the quietest 150 ms stretch between lo_s and hi_s, preferring later pauses."""
    levels, frame, hop = _frame_levels(x, sr)
    width = max(1, int(0.15 / _HOP_S))
    smooth = np.convolve(_db(levels), np.ones(width) / width, mode="same")
    lo, hi = int(lo_s * sr / hop), min(len(smooth) - 1, int((hi_s * sr - frame) / hop))
    if hi <= lo:
        return int(hi_s * sr)
    window = smooth[lo : hi + 1]
    # a pause within 3 dB of the quietest one counts; take the latest, to keep as much speech as possible
    candidates = np.flatnonzero(window <= window.min() + 3.0)
    best = lo + int(candidates[-1])
    return min(int(hi_s * sr), best * hop + frame // 2)


def loudness_message(measured: float, final: float, target: float) -> str:
    """One sentence whose words agree with its numbers: raised or lowered, and, when the peaks kept it under
    the target, by how much (before, "a little quieter" was printed beside a shortfall of several dB)."""
    if abs(measured - final) < 0.05:
        return f"Loudness {final:.1f} LUFS, already at the target ({target:g} LUFS); left as it was."
    verb = "Raised" if final > measured else "Lowered"
    msg = f"{verb} the loudness from {measured:.1f} to {final:.1f} LUFS"
    short = target - final
    if short >= 0.1:
        return msg + (f", {short:.1f} dB under the target of {target:g} LUFS: going further would clip the loudest "
                      "peaks.")
    return msg + f" (target {target:g} LUFS)."


def clean_clip(
    path: str | Path,
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    hard_limit_s: float = HARD_LIMIT_SECONDS,
    sample_rate: int = SAMPLE_RATE,
) -> CleanedClip:
    """Decode and clean a reference clip; raises AudioError (with what to do) when it is unusable."""
    p = Path(path)
    channels = 1
    try:
        channels = int(sf.info(str(p)).channels)
    except Exception:  # not readable by libsndfile: read_audio's ffmpeg path decides
        pass
    x, sr_in = read_audio(p, target_sr=None, max_seconds=hard_limit_s)
    out = CleanedClip(
        audio=x, sample_rate=sample_rate, original=x, original_sample_rate=sr_in, original_channels=channels,
        original_duration_s=x.shape[0] / sr_in, duration_s=0.0, loudness_lufs=float("nan"),
        trimmed_start_s=0.0, trimmed_end_s=0.0, cut_at_s=None,
    )
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION:
        out.warnings.append(
            f"The recording is clipped ({clipped:.1%} of samples at full scale): the voice may sound harsh. "
            "Record again a little further from the microphone or with lower input gain."
        )
    if channels > 1:
        out.messages.append(f"Mixed {channels} channels down to mono.")
    if sr_in != sample_rate:
        x = resample(x, sr_in, sample_rate)
        out.messages.append(f"Resampled from {sr_in} Hz to {sample_rate} Hz.")
    sr = sample_rate
    out.original = x
    if is_silent(x, -60.0) or peak(x) < 1e-3:
        raise AudioError(
            f"{p.name} is silent (no speech found). Record or upload a clip of someone speaking clearly."
        )

    start, end = _speech_bounds(x, sr)
    out.trimmed_start_s, out.trimmed_end_s = start / sr, (x.shape[0] - end) / sr
    x = x[start:end]
    if out.trimmed_start_s >= 0.05 or out.trimmed_end_s >= 0.05:
        out.messages.append(
            f"Trimmed {out.trimmed_start_s:.2f} s of silence at the start and {out.trimmed_end_s:.2f} s at the end."
        )
    length = x.shape[0] / sr
    if length < min_seconds:
        raise AudioError(
            f"{p.name} has only {length:.1f} s of sound after trimming silence; at least {min_seconds:g} s is "
            "needed. Upload or record a longer clip (5-12 s of clear speech works best)."
        )
    if length > max_seconds:
        cut = find_pause(x, sr, max(min_seconds, 0.5 * max_seconds), max_seconds)
        x = x[:cut]
        # the pause we cut at may leave a quiet tail: trim it again
        _, tail_end = _speech_bounds(x, sr)
        x = x[:tail_end]
        out.cut_at_s = out.trimmed_start_s + cut / sr
        out.messages.append(
            f"Cut to {x.shape[0] / sr:.1f} s at a pause {out.cut_at_s:.2f} s into the original "
            f"(the clip had {length:.1f} s of speech; F5-TTS works best under {max_seconds:g} s). "
            "Make sure the transcript matches only the words before the cut."
        )

    levels, _, _ = _frame_levels(x, sr)
    floor_db, speech_db = np.percentile(_db(levels), [10, 95])
    if speech_db - floor_db < NOISY_SNR_DB:
        out.warnings.append(
            f"The background is noisy (speech only {speech_db - floor_db:.0f} dB above the quietest parts): "
            "the cloned voice may carry the noise. Record in a quieter room if you can."
        )

    meter = pyloudnorm.Meter(sr)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        measured = float(meter.integrated_loudness(x.astype(np.float64)))
        if not math.isfinite(measured):
            raise AudioError(f"{p.name} is too quiet to measure its loudness. Record a clip with clear speech.")
        y = pyloudnorm.normalize.loudness(x.astype(np.float64), measured, target_lufs)
    top = float(np.max(np.abs(y)))
    if top > PEAK_CEILING:
        y = y * (PEAK_CEILING / top)
    y32 = np.ascontiguousarray(y, dtype=np.float32)
    final = float(meter.integrated_loudness(y32.astype(np.float64)))
    out.messages.append(loudness_message(measured, final, target_lufs))
    out.audio, out.duration_s, out.loudness_lufs = y32, y32.shape[0] / sr, final
    return out
