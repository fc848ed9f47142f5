"""Studio: the one facade the UI and the HTTP API call. It wires settings, store, voices and runtime.

Everything a tab does goes through a Studio method; the Studio validates input (raising
`InputError` with a message meant for the user), talks to the runtime for anything that needs
the engine, and writes history (audio file first, atomically, then the database row).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.audio import AudioError, trim_silence, write_wav_atomic
from ishowtts_studio.engines.base import EngineUnavailable, GenerationParams, VoiceRef
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.metrics import MetricsService
from ishowtts_studio.runtime import BusyError, EngineRuntime, RequestHandle, SynthesisError, SynthesisRequest
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import Store, SynthesisRecord
from ishowtts_studio.textproc import TextError, normalize_text, split_sentences
from ishowtts_studio.voices import Voice, VoiceError, VoiceLibrary

log = logging.getLogger(__name__)

NFE_MIN, NFE_MAX = 1, 64
SPEED_MIN, SPEED_MAX = 0.3, 3.0
CFG_MIN, CFG_MAX = 0.0, 10.0
SEED_MAX = 2**31 - 1
DEFAULT_NFE_PREF = "default_nfe"

class InputError(ValueError):
    """Bad input from the user; the message says what to change."""


# errors whose message is written for the person at the keyboard (an internal ValueError is not one)
USER_ERRORS = (InputError, VoiceError, AudioError, BusyError, EngineUnavailable, SynthesisError)


@dataclass
class SynthesisOutcome:
    wav_path: Path
    sample_rate: int
    stats: dict[str, Any]
    history_id: int


class LiveSynthesis:
    """One synthesis in flight: iterate for audio chunks, then `finish()` saves it to history."""

    def __init__(self, studio: Studio, handle: RequestHandle, text: str, voice: Voice, remove_silence: bool) -> None:
        self.studio, self.handle, self.text, self.voice = studio, handle, text, voice
        self.remove_silence = remove_silence
        self.seed = handle.request.seed
        self.sample_rate = handle.sample_rate

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.handle)

    def finish(self, timeout: float | None = 600) -> SynthesisOutcome:
        audio, stats = self.handle.result(timeout)
        return self.studio._save_history(self.text, self.voice, self.handle.request, audio, stats, self.remove_silence)

    def cancel(self) -> None:
        self.handle.cancel()


class Studio:
    def __init__(self, settings: Settings, *, random_weights: str | None = None) -> None:
        self.settings = settings
        paths = settings.paths
        for folder in (paths.voices, paths.samples, paths.cache):
            folder.mkdir(parents=True, exist_ok=True)
        self.store = Store(paths.database_url)
        self.voices = VoiceLibrary(paths.voices)
        self.voices.seed_defaults()
        kind = random_weights or ("smoke" if settings.smoke else None)
        eng, f5 = settings.engine, settings.f5
        self.engine = F5Engine(
            checkpoint=f5.checkpoint, vocab=f5.vocab, vocoder=f5.vocoder, model_name=f5.model,
            device=eng.device, precision=eng.precision, cache_dir=paths.cache, random_weights=kind,
            cuda_graphs=eng.cuda_graphs, compile_model=eng.compile, ref_cache_items=eng.ref_cache_items,
            bucket_frames=eng.bucket_frames,
        )
        self.runtime = EngineRuntime(
            self.engine, queue_size=eng.queue_size, max_batch=eng.max_batch, batch_wait_s=eng.batch_wait_ms / 1000,
        )
        self.metrics = MetricsService(self.runtime, self.store, warmup_enabled=eng.warmup)
        self.started_at = time.time()

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self.metrics.attach()  # before the worker starts, so no request is missed
        warm = None
        if self.settings.engine.warmup:
            refs = [self.voice_ref(v) for v in self.voices.list()]
            nfe = self.default_nfe()

            def warm(engine: Any, progress: Any) -> None:
                engine.warmup(refs, nfe, progress)

        self.runtime.start(warm)

    def close(self) -> None:
        self.runtime.stop()
        self.metrics.close()  # after the worker, before the store it writes to
        self.store.close()

    # ---- status -----------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        rt = self.runtime
        info = rt.info
        return {
            "status": rt.status,
            "message": rt.message,
            "progress": round(rt.progress, 3),
            "engine": self.engine.name,
            "device": info.device if info else None,
            "precision": info.precision if info else None,
            "smoke": self.is_smoke,
            "random_weights": bool(info.random_weights) if info else self.is_smoke,
            "default_nfe": self.default_nfe(),
            "queue_depth": rt.queue_depth(),
            "fast_path": info.fast_path if info else {},
        }

    @property
    def is_smoke(self) -> bool:
        return self.settings.smoke or self.engine.random_weights == "smoke"

    def default_nfe(self) -> int:
        adopted = self.store.get_pref(DEFAULT_NFE_PREF)
        return int(adopted) if adopted is not None else self.settings.engine.default_nfe

    def set_default_nfe(self, nfe: int) -> int:
        nfe = self._check_nfe(nfe)
        self.store.set_pref(DEFAULT_NFE_PREF, nfe)
        return nfe

    # ---- voices -----------------------------------------------------------------------------------
    def list_voices(self) -> list[dict[str, Any]]:
        usage = self.store.voice_usage_counts()
        return [dict(v.to_dict(), times_used=usage.get(v.slug, 0)) for v in self.voices.list()]

    def voice_names(self) -> list[str]:
        return [v.name for v in self.voices.list()]

    def get_voice(self, name_or_slug: str | None) -> Voice:
        if not name_or_slug or not str(name_or_slug).strip():
            raise InputError("Pick a voice first.")
        try:
            return self.voices.get(str(name_or_slug))
        except VoiceError as exc:
            raise InputError(str(exc)) from exc

    @staticmethod
    def voice_ref(voice: Voice) -> VoiceRef:
        return VoiceRef(slug=voice.slug, audio_path=Path(voice.audio_path), transcript=voice.transcript,
                        content_hash=voice.content_hash)

    # ---- synthesis --------------------------------------------------------------------------------
    def _check_nfe(self, nfe: Any) -> int:
        try:
            value = int(nfe)
        except (TypeError, ValueError):
            raise InputError(f"NFE must be a whole number from {NFE_MIN} to {NFE_MAX}, not {nfe!r}.") from None
        if value != nfe and not (isinstance(nfe, float) and nfe.is_integer()):
            raise InputError(f"NFE must be a whole number from {NFE_MIN} to {NFE_MAX}, not {nfe!r}.")
        if not NFE_MIN <= value <= NFE_MAX:
            raise InputError(f"NFE {value} is out of range: use {NFE_MIN} to {NFE_MAX} steps (16 is a good default).")
        return value

    def _check_params(
        self, nfe: Any, speed: Any, cfg_strength: Any, seed: Any
    ) -> tuple[GenerationParams, int]:
        eng = self.settings.engine
        nfe = self.default_nfe() if nfe is None else self._check_nfe(nfe)
        speed = eng.speed if speed is None else speed
        try:
            speed = float(speed)
        except (TypeError, ValueError):
            raise InputError(f"Speed must be a number from {SPEED_MIN} to {SPEED_MAX}, not {speed!r}.") from None
        if not np.isfinite(speed) or speed <= 0:
            raise InputError(f"Speed must be positive: use {SPEED_MIN} to {SPEED_MAX} (1.0 is normal speed).")
        if not SPEED_MIN <= speed <= SPEED_MAX:
            raise InputError(f"Speed {speed:g} is out of range: use {SPEED_MIN} to {SPEED_MAX} (1.0 is normal).")
        cfg = eng.cfg_strength if cfg_strength is None else cfg_strength
        try:
            cfg = float(cfg)
        except (TypeError, ValueError):
            raise InputError(f"CFG strength must be a number from {CFG_MIN} to {CFG_MAX}.") from None
        if not (np.isfinite(cfg) and CFG_MIN <= cfg <= CFG_MAX):
            raise InputError(f"CFG strength {cfg:g} is out of range: use {CFG_MIN} to {CFG_MAX} (2.0 is the default).")
        if seed is None or (isinstance(seed, (int, float)) and seed < 0):
            seed = random.randint(0, SEED_MAX)
        else:
            whole = isinstance(seed, int) or (isinstance(seed, float) and seed.is_integer())
            if not whole:
                raise InputError(f"Seed must be a whole number (or -1 for random), not {seed!r}.")
            seed = int(seed)
            if seed > SEED_MAX:
                raise InputError(f"Seed must be at most {SEED_MAX} (or -1 for random).")
        return GenerationParams(nfe=nfe, cfg_strength=cfg, sway_coef=eng.sway_coef, speed=speed), seed

    def start_synthesis(
        self,
        text: str | None,
        voice: str | None,
        *,
        nfe: Any = None,
        seed: Any = None,
        speed: Any = None,
        cfg_strength: Any = None,
        remove_silence: bool = False,
    ) -> LiveSynthesis:
        """Validate, then queue a synthesis; the returned object streams chunks and saves history."""
        eng = self.settings.engine
        try:
            clean = normalize_text(text, eng.max_text_chars)
        except TextError as exc:
            raise InputError(str(exc)) from exc
        chosen = self.get_voice(voice)
        params, seed = self._check_params(nfe, speed, cfg_strength, seed)
        chunks = split_sentences(clean, max_chars=eng.chunk_chars, first_chunk_chars=eng.first_chunk_chars)
        request = SynthesisRequest(
            voice=self.voice_ref(chosen), chunks=chunks, params=params, seed=seed, text_chars=len(clean),
            crossfade_s=eng.crossfade_ms / 1000,
        )
        handle = self.runtime.submit(request)
        return LiveSynthesis(self, handle, clean, chosen, remove_silence)

    def synthesize(self, text: str | None, voice: str | None, **kwargs: Any) -> SynthesisOutcome:
        return self.start_synthesis(text, voice, **kwargs).finish()

    def _save_history(
        self, text: str, voice: Voice, request: SynthesisRequest, audio: np.ndarray, stats: Any, remove_silence: bool
    ) -> SynthesisOutcome:
        sr = self.engine.sample_rate
        if remove_silence and audio.size:
            audio = trim_silence(audio, sr)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        rel = Path("history") / f"{stamp}-{uuid.uuid4().hex[:8]}.wav"
        path = self.settings.paths.samples / rel
        write_wav_atomic(path, audio, sr)
        info = self.runtime.info
        record = SynthesisRecord(
            id=None, created_at=None, text=text, voice_name=voice.name, voice_slug=voice.slug, engine=stats.engine,
            nfe=request.params.nfe, seed=request.seed, speed=request.params.speed,
            cfg_strength=request.params.cfg_strength, audio_path=str(rel), audio_seconds=len(audio) / sr,
            latency_s=stats.latency_s, ttfa_s=stats.ttfa_s, rtf=stats.rtf, device=stats.device,
            smoke=bool(info and info.smoke),
        )
        try:
            history_id = self.store.add_synthesis(record)
        except Exception:
            path.unlink(missing_ok=True)  # no audio file without its row
            raise
        result = stats.to_dict()
        result.update(audio_s=len(audio) / sr, history_id=history_id, smoke=record.smoke,
                      precision=info.precision if info else None)
        return SynthesisOutcome(wav_path=path, sample_rate=sr, stats=result, history_id=history_id)

    # ---- history ----------------------------------------------------------------------------------
    def _history_row(self, rec: SynthesisRecord) -> dict[str, Any]:
        row = {k: getattr(rec, k) for k in rec.__dataclass_fields__}
        row["created_at"] = rec.created_at.isoformat(timespec="seconds") if rec.created_at else None
        row["audio_file"] = str(self.settings.paths.samples / rec.audio_path)
        return row

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        return [self._history_row(rec) for rec in self.store.list_syntheses(limit=limit)]

    def history_entry(self, history_id: int) -> dict[str, Any]:
        rec = self.store.get_synthesis(int(history_id))
        if rec is None:
            raise InputError(f"No history entry {history_id}.")
        return self._history_row(rec)

    def history_audio(self, history_id: int) -> Path:
        rec = self.store.get_synthesis(int(history_id))
        if rec is None:
            raise InputError(f"No history entry {history_id}.")
        path = (self.settings.paths.samples / rec.audio_path).resolve()
        if not path.is_relative_to(self.settings.paths.samples.resolve()) or not path.exists():
            raise InputError(f"The audio of history entry {history_id} is missing.")
        return path
