"""Intrusive quality scores of a render against its aligned reference render (no gradio here).

PESQ wide-band needs 16 kHz: both signals are resampled with soxr the same way before scoring.
STOI and ESTOI (pystoi) run at the signals' own rate (pystoi resamples to 10 kHz internally).
The metric libraries raise or return NaN on silence, non-finite samples or very short signals, so
every input is checked first; a failed check gives a row with `error` set instead of an exception.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ishowtts_studio.audio import resample, rms_dbfs
from ishowtts_studio.numbers import finite_or_none

PESQ_SR = 16000
STOI_FAILED = 1e-5  # pystoi's answer when it could not compute a score
# below this level (dBFS RMS) a signal is treated as silence: PESQ and STOI are meaningless on it
SILENCE_DBFS = -60.0
# PESQ needs at least a quarter second; STOI needs ~30 frames of 384 ms context; ask for 0.5 s
MIN_SECONDS = 0.5
# the two sides may differ by a few samples after decoding; more than this is a misalignment
MAX_LENGTH_MISMATCH = 0.05


@dataclass
class QualityScores:
    pesq_wb: float | None = None
    stoi: float | None = None
    estoi: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(x: np.ndarray, sr: int, name: str) -> str | None:
    if x.ndim != 1:
        return f"the {name} is not mono audio"
    if x.size == 0:
        return f"the {name} is empty"
    if not np.all(np.isfinite(x)):
        return f"the {name} contains NaN or infinite samples"
    if x.size / sr < MIN_SECONDS:
        return f"the {name} is too short to score ({x.size / sr:.2f} s; at least {MIN_SECONDS} s needed)"
    if rms_dbfs(x) < SILENCE_DBFS:
        return f"the {name} is silent ({rms_dbfs(x):.0f} dBFS), so it cannot be scored"
    return None


def score(reference: np.ndarray, degraded: np.ndarray, sr: int) -> QualityScores:
    """PESQ-WB (16 kHz), STOI and ESTOI of `degraded` against `reference`; never raises on bad audio."""
    ref = np.asarray(reference, dtype=np.float64).squeeze()
    deg = np.asarray(degraded, dtype=np.float64).squeeze()
    for x, name in ((ref, "reference render"), (deg, "candidate render")):
        problem = _check(x, sr, name)
        if problem:
            return QualityScores(error=problem[0].upper() + problem[1:] + ".")
    longer = max(ref.size, deg.size)
    if abs(ref.size - deg.size) > MAX_LENGTH_MISMATCH * longer:
        return QualityScores(error=(
            f"The renders differ in length ({ref.size / sr:.2f} s vs {deg.size / sr:.2f} s): "
            "they must share seed and duration to be compared."))
    n = min(ref.size, deg.size)
    ref, deg = ref[:n], deg[:n]

    out = QualityScores()
    problems = []
    try:
        from pesq import pesq

        # same resampler, same settings on both sides
        r16 = resample(ref.astype(np.float32), sr, PESQ_SR).astype(np.float64)
        d16 = resample(deg.astype(np.float32), sr, PESQ_SR).astype(np.float64)
        out.pesq_wb = finite_or_none(pesq(PESQ_SR, r16, d16, "wb"))
        if out.pesq_wb is None:
            problems.append("PESQ gave no finite score")
    except Exception as exc:  # pesq raises NoUtterancesError, BufferTooShortError, ...
        problems.append(f"PESQ failed ({type(exc).__name__})")
    try:
        from pystoi import stoi

        # pystoi answers 1e-5 (with only a warning) when too little speech is left after it drops silent
        # frames: that is "not measured", not a score
        out.stoi, out.estoi = (None if v is None or v <= STOI_FAILED else v
                               for v in (finite_or_none(stoi(ref, deg, sr, extended=e)) for e in (False, True)))
        if out.stoi is None or out.estoi is None:
            problems.append("STOI gave no score (too little speech in the render)")
    except Exception as exc:
        problems.append(f"STOI failed ({type(exc).__name__})")
    if problems:
        out.error = "; ".join(problems) + "."
    return out


MIN_CI_N = 3  # fewer values give a Student-t interval so wide (t = 12.7 at n = 2) that it says nothing
# the range each quantity can take: an interval is never drawn beyond it (an RTF below 0, a STOI above 1);
# PESQ-WB tops out at 4.64 nominally, 4.644 as computed
SCORE_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "pesq_wb": (1.0, 4.65), "stoi": (0.0, 1.0), "estoi": (0.0, 1.0), "rtf": (0.0, None),
}


def mean_ci(
    values: list[float | None], confidence: float = 0.95,
    bounds: tuple[float | None, float | None] = (None, None),
) -> tuple[float | None, float | None, float | None]:
    """Mean and Student-t confidence interval of the finite values (None where there are none), limited to
    `bounds`; with fewer than MIN_CI_N values there is no interval."""
    xs = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if xs.size == 0:
        return None, None, None
    m = float(xs.mean())
    if xs.size < MIN_CI_N:
        return m, None, None
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, xs.size - 1) * xs.std(ddof=1) / math.sqrt(xs.size))
    lo, hi = m - half, m + half
    # never past the quantity's range, nor narrower than the values themselves (a computed score may sit a
    # hair outside its nominal range)
    if bounds[0] is not None:
        lo = max(lo, min(bounds[0], float(xs.min())))
    if bounds[1] is not None:
        hi = min(hi, max(bounds[1], float(xs.max())))
    return m, lo, hi


SCORE_KEYS = ("pesq_wb", "stoi", "estoi", "rtf")


def summarise(rows: list[dict[str, Any]], reference_nfe: int, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Per NFE: mean and Student-t interval (from 3 values, within each quantity's range) of PESQ-WB, STOI,
    ESTOI and RTF across the renders in `rows`
    (one render per sentence, voice and seed), with the count of renders and of rows that could not be
    scored. The reference NFE has no scores of its own (it is what the others are scored against), only RTF."""
    by_nfe: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_nfe.setdefault(int(r["nfe"]), []).append(r)
    out = []
    for nfe in sorted(by_nfe):
        group = by_nfe[nfe]
        entry: dict[str, Any] = {"nfe": nfe, "is_reference": nfe == reference_nfe, "renders": len(group),
                                 "errors": sum(bool(r.get("error")) for r in group)}
        for key in SCORE_KEYS:
            m, lo, hi = mean_ci([r.get(key) for r in group], confidence, SCORE_BOUNDS[key])
            entry[key], entry[f"{key}_ci"] = m, [lo, hi]
            entry[f"{key}_n"] = sum(r.get(key) is not None and math.isfinite(r[key]) for r in group)
        out.append(entry)
    return out


LISTENING_LUFS = -23.0


def loudness_match(audio: np.ndarray, sr: int, target_lufs: float = LISTENING_LUFS) -> np.ndarray:
    """Bring a listening clip to `target_lufs` (ITU-R BS.1770 via pyloudnorm), never clipping; silence is left
    alone. Blind A/B clips are matched so loudness cannot give a side away."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)) or not np.any(x):
        return np.asarray(audio, dtype=np.float32)
    import pyloudnorm

    try:
        loud = pyloudnorm.Meter(sr).integrated_loudness(x)
    except ValueError:  # shorter than one 400 ms block: fall back to RMS level
        loud = 20 * np.log10(np.sqrt(np.mean(x * x)) + 1e-12)
    if not np.isfinite(loud):
        return np.asarray(audio, dtype=np.float32)
    y = x * 10 ** ((target_lufs - loud) / 20)
    top = np.max(np.abs(y))
    if top > 0.99:
        y *= 0.99 / top
    return y.astype(np.float32)
