"""Studio: the one facade the UI and the HTTP API call. It wires settings, store, voices and runtime.

Everything a tab does goes through a Studio method; the Studio validates input (raising
`InputError` with a message meant for the user), talks to the runtime for anything that needs
the engine, and writes history (audio file first, atomically, then the database row).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.audio import AudioError, read_audio, trim_silence, write_wav_atomic
from ishowtts_studio.engines.base import EngineUnavailable, GenerationParams, VoiceRef
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.indextts import IndexTTSEngine, IndexTTSOptions
from ishowtts_studio.metrics import MetricsService
from ishowtts_studio.runtime import BusyError, EngineRuntime, RequestHandle, SynthesisError, SynthesisRequest
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import Store, SynthesisRecord
from ishowtts_studio.textproc import TextError, chunk_for_engine, normalize_text
from ishowtts_studio.transcribe import NO_TRANSCRIBER, Transcriber, TranscriberUnavailable
from ishowtts_studio.voice_cleaning import CleanedClip, clean_clip
from ishowtts_studio.voices import LANGUAGES, Voice, VoiceError, VoiceLibrary, read_pack

log = logging.getLogger(__name__)

NFE_MIN, NFE_MAX = 1, 64
SPEED_MIN, SPEED_MAX = 0.3, 3.0
CFG_MIN, CFG_MAX = 0.0, 10.0
SEED_MAX = 2**31 - 1
DEFAULT_NFE_PREF = "default_nfe"
# NFE value that marks an IndexTTS render in an NFE comparison group: the cross-engine A/B pairs it with the F5-TTS
# reference render of the same voice, text and seed (IndexTTS has no ODE steps; never a candidate NFE)
INDEXTTS_NFE = 0
# NFE compare: most seeds per run, most renders per run (voices x texts x seeds x NFEs)
NFE_MAX_SEEDS = 16
NFE_MAX_RENDERS = 2000
REVIEWER_MAX = 100

class InputError(ValueError):
    """Bad input from the user; the message says what to change."""


# errors whose message is written for the person at the keyboard (an internal ValueError is not one)
USER_ERRORS = (InputError, VoiceError, AudioError, BusyError, EngineUnavailable, SynthesisError,
               TranscriberUnavailable)


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
            bucket_frames=eng.bucket_frames, attention=eng.attention, fused_kernels=eng.fused_kernels,
        )
        idx = settings.indextts
        self.indextts = IndexTTSEngine(
            model_dir=idx.model_dir, version=idx.version, python=idx.python, aux_dir=idx.aux_dir, device=idx.device,
            use_fp16=idx.use_fp16, use_cuda_kernel=idx.use_cuda_kernel, use_deepspeed=idx.use_deepspeed,
        )
        self.runtime = EngineRuntime(
            self.engine, queue_size=eng.queue_size, max_batch=eng.max_batch, batch_wait_s=eng.batch_wait_ms / 1000,
            extra_engines={self.indextts.name: self.indextts}, max_loaded=eng.max_loaded_engines,
        )
        self.metrics = MetricsService(self.runtime, self.store, warmup_enabled=eng.warmup)
        self.transcriber = Transcriber(settings.voices.whisper_model)
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
        self.indextts.close()  # its worker process exits with the studio
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
            "engines": self.engines(),
        }

    ENGINE_LABELS = {"f5": "F5-TTS", "indextts": "IndexTTS"}  # noqa: RUF012 - read-only

    def engines(self) -> list[dict[str, Any]]:
        """Every engine with its status ('ready', 'available', 'loading', 'unavailable') and message."""
        return self.runtime.engine_status()

    def _check_engine(self, engine: Any) -> str:
        name = "f5" if engine is None or str(engine).strip() == "" else str(engine).strip()
        by_label = {v.lower(): k for k, v in self.ENGINE_LABELS.items()}
        name = by_label.get(name.lower(), name.lower())
        if name not in self.runtime.engines:
            raise InputError(f"Unknown engine {engine!r}: choose {' or '.join(self.ENGINE_LABELS.values())}.")
        return name

    def indextts_version(self) -> str | None:
        """The configured IndexTTS model's version ('1.5' or '2'), or None when it is not usable."""
        try:
            return self.indextts.check()
        except EngineUnavailable:
            return None

    @property
    def is_smoke(self) -> bool:
        return self.settings.smoke or self.engine.random_weights == "smoke"

    def default_nfe(self) -> int:
        adopted = self.store.get_pref(DEFAULT_NFE_PREF)
        return int(adopted) if adopted is not None else self.settings.engine.default_nfe

    def default_nfe_adopted(self) -> bool:
        """True when the default NFE was adopted in NFE compare (not the configured `engine.default_nfe`)."""
        return self.store.get_pref(DEFAULT_NFE_PREF) is not None

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

    # ---- voice management -------------------------------------------------------------------------
    # Add / rename / update / delete / export / import. Library writes are atomic and serialised by the
    # VoiceLibrary's lock; the engine's reference cache is built on add and dropped on transcript edits.
    NO_TRANSCRIBER = NO_TRANSCRIBER
    PREVIEW_LINES = {  # noqa: RUF012 - read-only
        "en": "Hello! This is a short preview of my cloned voice.",
        "zh": "你好！这是我的克隆声音的简短预览。",
        "other": "Hello! This is a short preview of my cloned voice.",
    }

    def _voice_dict(self, voice: Voice, **more: Any) -> dict[str, Any]:
        usage = self.store.voice_usage_counts()
        return dict(voice.to_dict(), times_used=usage.get(voice.slug, 0), **more)

    def clean_voice_clip(self, audio_path: str | Path | None) -> CleanedClip:
        """Decode and clean a clip as `add_voice` would (for the before/after preview); nothing is written."""
        if audio_path is None or not str(audio_path).strip():
            raise InputError("Upload or record a clip first (5-12 s of one person speaking clearly).")
        cfg = self.settings.voices
        return clean_clip(
            audio_path, target_lufs=cfg.target_lufs, max_seconds=cfg.max_seconds, min_seconds=cfg.min_seconds
        )

    def _check_voice_fields(
        self, name: str | None, transcript: str | None, language: str | None
    ) -> tuple[str, str, str]:
        if name is None or not str(name).strip():
            raise InputError("Give the voice a name with at least one letter or digit.")
        name = self.voices.check_new_name(str(name))
        transcript = " ".join(str(transcript or "").split())
        if not transcript and not self.transcriber.configured:
            raise InputError(self.NO_TRANSCRIBER)
        language = str(language or "en")
        if language not in LANGUAGES:
            raise InputError(f"Language must be one of {', '.join(LANGUAGES)} (got {language!r}).")
        return name, transcript, language

    def add_voice(
        self,
        name: str | None,
        audio_path: str | Path | None,
        transcript: str | None,
        language: str | None = "en",
        *,
        original_name: str | None = None,
    ) -> dict[str, Any]:
        """Clean the clip, store the voice atomically, prepare it on the engine; returns the stored voice.

        The dict also carries `cleaning` (messages, warnings, trimming, cut point, loudness).
        """
        name, transcript, language = self._check_voice_fields(name, transcript, language)
        cleaned = self.clean_voice_clip(audio_path)
        if not transcript:  # a transcriber is configured (checked above)
            transcript = self._transcribe(cleaned)
        src = Path(str(audio_path))
        info = cleaned.to_dict()
        self.settings.paths.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="voice-add-", dir=self.settings.paths.cache) as tmp:
            wav = write_wav_atomic(Path(tmp) / "reference.wav", cleaned.audio, cleaned.sample_rate)
            voice = self.voices.add(
                name, wav, transcript, language, original_name=original_name or src.name,
                extra={"loudness_lufs": round(cleaned.loudness_lufs, 2), "cleaning": info},
            )
        ref = self.voice_ref(voice)
        try:
            self.runtime.call(lambda engine: engine.prepare_voice(ref), timeout=300)
        except (EngineUnavailable, BusyError, TimeoutError) as exc:
            log.warning("voice %r saved; the engine will prepare it on first use (%s)", voice.name, exc)
        except Exception as exc:
            log.exception("the engine could not prepare voice %r; removing it", voice.name)
            self.voices.delete(voice.slug)
            raise InputError(f"The engine could not use this clip ({exc}). Try another recording.") from exc
        return self._voice_dict(voice, cleaning=info)

    def _transcribe(self, cleaned: CleanedClip) -> str:
        t = self.transcriber
        return self.runtime.call(lambda engine: t.transcribe(cleaned.audio, cleaned.sample_rate, engine.device),
                                 load=False)

    def transcribe_clip(self, audio_path: str | Path | None) -> str:
        """The words in a clip, from the configured Whisper model (after the same cleaning as add_voice)."""
        if not self.transcriber.configured:
            raise InputError(self.NO_TRANSCRIBER)
        return self._transcribe(self.clean_voice_clip(audio_path))

    def rename_voice(self, voice: str | None, new_name: str | None) -> dict[str, Any]:
        chosen = self.get_voice(voice)
        if new_name is None or not str(new_name).strip():
            raise InputError("Give the voice a new name with at least one letter or digit.")
        return self._voice_dict(self.voices.rename(chosen.slug, str(new_name)))

    def update_voice(
        self, voice: str | None, transcript: str | None = None, language: str | None = None
    ) -> dict[str, Any]:
        """Change the transcript and/or language; the engine's cached reference for the voice is dropped."""
        chosen = self.get_voice(voice)
        if transcript is not None and not str(transcript).strip():
            raise InputError("The transcript cannot be empty: type exactly the words spoken in the clip.")
        if language is not None and str(language).strip() == "":
            language = None
        if language is not None and language not in LANGUAGES:
            raise InputError(f"Language must be one of {', '.join(LANGUAGES)} (got {language!r}).")
        updated = self.voices.update(chosen.slug, transcript=transcript, language=language)
        old = self.voice_ref(chosen)
        try:
            self.runtime.call(lambda engine: engine.forget_voice(old), timeout=60, load=False)
        except (EngineUnavailable, BusyError, TimeoutError) as exc:
            # the engine also checks the transcript on every cache hit, so a stale entry is never used
            log.warning("could not drop the cached reference of %r: %s", chosen.name, exc)
        return self._voice_dict(updated)

    def delete_voice(self, voice: str | None) -> dict[str, Any]:
        """Delete a voice. Syntheses in flight keep going (the engine holds the prepared reference) and
        history rows keep their own audio files."""
        chosen = self.get_voice(voice)
        return self.voices.delete(chosen.slug).to_dict()

    def export_voice(self, voice: str | None) -> Path:
        """A voice pack: `<slug>.zip` with reference.wav and voice.json, under samples/exports."""
        chosen = self.get_voice(voice)
        return self.voices.export_pack(chosen.slug, self.settings.paths.samples / "exports")

    def import_voice(self, pack_path: str | Path | None, name: str | None = None) -> dict[str, Any]:
        """Add a voice from a pack, cleaned and checked like an upload; `name` overrides the pack's name."""
        if pack_path is None or not str(pack_path).strip():
            raise InputError("Choose a voice pack (.zip) to import.")
        if not Path(str(pack_path)).is_file():
            raise InputError("The voice pack was not received; upload it again.")
        pack = read_pack(pack_path, max_bytes=self.settings.server.max_upload_mb * 2**20)
        new_name = str(name).strip() if name and str(name).strip() else pack.name
        try:
            self.voices.check_new_name(new_name)
        except VoiceError as exc:
            if "already exists" in str(exc):
                raise InputError(
                    f"A voice named {new_name!r} already exists. Type a new name for the imported voice and import "
                    "again."
                ) from None
            raise
        self.settings.paths.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="voice-import-", dir=self.settings.paths.cache) as tmp:
            wav = Path(tmp) / "reference.wav"
            wav.write_bytes(pack.audio)
            return self.add_voice(new_name, wav, pack.transcript, pack.language,
                                  original_name=pack.original_name or "reference.wav")

    def preview_voice(self, voice: str | None, text: str | None = None, **kwargs: Any) -> SynthesisOutcome:
        """A short line in `voice` (in its language unless `text` is given)."""
        chosen = self.get_voice(voice)
        line = text if text and str(text).strip() else self.PREVIEW_LINES.get(chosen.language, self.PREVIEW_LINES["en"])
        return self.synthesize(line, chosen.slug, **kwargs)

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

    def clean_text(self, text: str | None) -> str:
        """The text as it will be spoken, or an InputError saying what to change."""
        try:
            return normalize_text(text, self.settings.engine.max_text_chars)
        except TextError as exc:
            raise InputError(str(exc)) from exc

    def chunk_text(self, text: str) -> list[str]:
        return chunk_for_engine(text, self.settings.engine)

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
        engine: Any = None,
        indextts: dict[str, Any] | None = None,
    ) -> LiveSynthesis:
        """Validate, then queue a synthesis; the returned object streams chunks and saves history.

        `engine` is "f5" (default) or "indextts"; `indextts` holds IndexTTS's generation options
        (temperature, top_p, ..., and version 2's emotion controls), checked by `IndexTTSOptions.check`."""
        eng = self.settings.engine
        name = self._check_engine(engine)
        clean = self.clean_text(text)
        chosen = self.get_voice(voice)
        params, seed = self._check_params(nfe, speed, cfg_strength, seed)
        extra: dict[str, Any] = {}
        if name == "indextts":
            try:
                options = IndexTTSOptions.check(indextts)
            except ValueError as exc:
                raise InputError(str(exc)) from exc
            if options.emotion_audio:  # an uploaded emotion clip must be readable audio, checked here
                read_audio(options.emotion_audio, max_seconds=60)
            extra["indextts"] = options
            params = dataclasses.replace(params, nfe=0)  # no ODE steps: recorded as 0 (not applicable)
        elif indextts:
            raise InputError("IndexTTS options were given but the engine is F5-TTS: choose IndexTTS or drop them.")
        chunks = self.chunk_text(clean)
        request = SynthesisRequest(
            voice=self.voice_ref(chosen), chunks=chunks, params=params, seed=seed, text_chars=len(clean),
            crossfade_s=eng.crossfade_ms / 1000, engine=name, extra=extra,
        )
        handle = self.runtime.submit(request)
        return LiveSynthesis(self, handle, clean, chosen, remove_silence)

    def synthesize(self, text: str | None, voice: str | None, **kwargs: Any) -> SynthesisOutcome:
        return self.start_synthesis(text, voice, **kwargs).finish()

    def _save_history(
        self, text: str, voice: Voice, request: SynthesisRequest, audio: np.ndarray, stats: Any, remove_silence: bool
    ) -> SynthesisOutcome:
        engine = self.runtime.engines[request.engine or self.engine.name]
        sr = engine.sample_rate
        if remove_silence and audio.size:
            audio = trim_silence(audio, sr)
        # a name that says what the take is when it is downloaded: voice, start of the text, time
        rel = Path("history") / f"{history_file_stem(voice.slug, text)}-{uuid.uuid4().hex[:6]}.wav"
        path = self.settings.paths.samples / rel
        write_wav_atomic(path, audio, sr)
        # the default engine's info is the runtime's; another engine reports its own (device, precision)
        info = self.runtime.info if engine is self.engine else engine.info()
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

    def search_history(self, query: str | None, limit: int = 50, scan: int = 2000) -> list[dict[str, Any]]:
        """History rows whose text or voice name contains every word of `query` (case-insensitive), newest first;
        an empty query is the plain history."""
        words = str(query or "").casefold().split()
        if not words:
            return self.history(limit)
        out = []
        for rec in self.store.list_syntheses(limit=scan):
            hay = f"{rec.text} {rec.voice_name}".casefold()
            if all(w in hay for w in words):
                out.append(self._history_row(rec))
                if len(out) >= limit:
                    break
        return out

    def delete_history(self, history_id: Any) -> dict[str, Any]:
        """Delete one take: its row, then its audio file (a row never points at a missing file)."""
        try:
            hid = int(history_id)
        except (TypeError, ValueError):
            raise InputError("Select a take in the history first.") from None
        rec = self.store.delete_synthesis(hid)
        if rec is None:
            raise InputError(f"No history entry {hid}: it may have been deleted already.")
        path = (self.settings.paths.samples / rec.audio_path).resolve()
        if path.is_relative_to(self.settings.paths.samples.resolve()):
            path.unlink(missing_ok=True)
        return self._history_row(rec)

    def history_audio(self, history_id: int) -> Path:
        rec = self.store.get_synthesis(int(history_id))
        if rec is None:
            raise InputError(f"No history entry {history_id}.")
        path = (self.settings.paths.samples / rec.audio_path).resolve()
        if not path.is_relative_to(self.settings.paths.samples.resolve()) or not path.exists():
            raise InputError(f"The audio of history entry {history_id} is missing.")
        return path

    # ---- NFE compare ------------------------------------------------------------------------------
    # Renders of texts x voices x seeds at several NFEs, each aligned with its reference render (same seed,
    # same frames per chunk), sent through the runtime one NFE at a time, scored with quality.score, stored
    # under samples/nfe/ and reused; blind A/B trials whose side mapping lives only in the database until the
    # vote is in. Statistics: listening.analyse.

    def nfe_thresholds(self) -> Any:
        from ishowtts_studio.listening import Thresholds

        cfg = getattr(self.settings, "nfe", None)
        if cfg is None:
            return Thresholds()
        return Thresholds(margin=cfg.margin, pesq_min=cfg.pesq_min, stoi_min=cfg.stoi_min,
                          estoi_min=cfg.estoi_min, min_votes=cfg.min_votes)

    def nfe_reference_default(self) -> int:
        cfg = getattr(self.settings, "nfe", None)
        return int(cfg.reference_nfe) if cfg is not None else 32

    def nfe_candidates_default(self) -> list[int]:
        cfg = getattr(self.settings, "nfe", None)
        return cfg.candidate_list if cfg is not None else [5, 6, 7, 8, 10, 12, 16]

    def _parse_nfes(self, nfes: Any) -> list[int]:
        if nfes is None or (isinstance(nfes, str) and not nfes.strip()) or (isinstance(nfes, (list, tuple))
                                                                          and not nfes):
            return self.nfe_candidates_default()
        parts = _list_items(nfes)
        if len(parts) > NFE_MAX:
            raise InputError(f"Too many candidate NFEs ({len(parts)}); pick at most {NFE_MAX}.")
        values = []
        for p in parts:
            try:
                p = float(p) if isinstance(p, str) else p
            except ValueError:
                raise InputError(f"Candidate NFEs must be whole numbers from {NFE_MIN} to {NFE_MAX}, "
                                 f"not {p!r}.") from None
            values.append(self._check_nfe(p))
        return sorted(set(values))

    @staticmethod
    def _parse_seeds(seeds: Any) -> list[int]:
        if seeds is None or (isinstance(seeds, str) and not seeds.strip()):
            return [0]
        parts = _list_items(seeds)
        if not parts:
            return [0]
        if len(parts) > NFE_MAX_SEEDS:
            raise InputError(f"Too many seeds ({len(parts)}); use at most {NFE_MAX_SEEDS}.")
        out = []
        for p in parts:
            try:
                v = float(p) if isinstance(p, str) else p
                whole = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
            except (TypeError, ValueError):
                whole = False
            if not whole or isinstance(v, bool):
                raise InputError(f"Seeds must be whole numbers from 0 to {SEED_MAX}, not {p!r}.")
            if v < 0:
                raise InputError("NFE comparisons need fixed seeds (0 or more), so every render is aligned; "
                                 "random seeds (-1) cannot be used here.")
            if v > SEED_MAX:
                raise InputError(f"Seeds must be at most {SEED_MAX}.")
            out.append(int(v))
        return sorted(set(out))

    def _nfe_texts(self, texts: Any) -> list[str]:
        if isinstance(texts, str):
            texts = [texts]
        items = [t for t in (texts or []) if t is not None and str(t).strip()]
        if not items:
            raise InputError("Pick at least one sentence (a built-in one, or type your own).")
        out = []
        for i, t in enumerate(items):
            try:
                clean = self.clean_text(str(t))
            except InputError as exc:
                raise InputError(f"Text {i + 1} ({str(t)[:40]!r}): {exc}") from None
            if clean not in out:
                out.append(clean)
        return out

    def _nfe_voices(self, voices: Any) -> list[Voice]:
        if isinstance(voices, str):
            voices = [voices]
        names = [v for v in (voices or []) if v is not None and str(v).strip()]
        if not names:
            raise InputError("Pick at least one voice.")
        out: list[Voice] = []
        for n in names:
            v = self.get_voice(n)
            if v.slug not in {x.slug for x in out}:
                out.append(v)
        return out

    def nfe_render(
        self, texts: Any, voices: Any, nfes: Any = None, reference_nfe: Any = None, seeds: Any = 0,
        progress: Any = None, cross_engine: bool = False,
    ) -> list[dict[str, Any]]:
        """Render every (voice, text, seed) at the reference NFE and at each candidate NFE, with the same
        seed and the same frames per chunk as the reference, and score each candidate against it.

        Stored renders are reused (keyed by everything that shapes the audio). The rest go through the
        shared runtime one NFE at a time, up to `max_batch` requests in flight, so renders of one NFE share
        GPU batches and RTF is measured per NFE without requests of other NFEs waiting in between.
        Rows (one per render): voice, text, seed, nfe, is_reference, pesq_wb, stoi, estoi, rtf, error, ...

        With `cross_engine`, each (voice, text, seed) is also rendered by IndexTTS (row `nfe` = INDEXTTS_NFE,
        `engine` "indextts") for the cross-engine blind A/B against the F5-TTS reference; IndexTTS chooses its own
        length, so those renders are not aligned and get no PESQ/STOI/ESTOI."""
        import hashlib
        import json

        from ishowtts_studio import quality

        eng = self.settings.engine
        text_list = self._nfe_texts(texts)
        voice_list = self._nfe_voices(voices)
        candidates = self._parse_nfes(nfes)
        ref_nfe = self._check_nfe(self.nfe_reference_default() if reference_nfe in (None, "") else reference_nfe)
        candidates = [c for c in candidates if c != ref_nfe]
        if not candidates:
            raise InputError("Pick at least one candidate NFE different from the reference NFE.")
        seed_list = self._parse_seeds(seeds)
        if cross_engine:
            self.runtime._engine_for(self.indextts.name)  # unavailable: say so (and how to fix it) before rendering
        n_groups = len(text_list) * len(voice_list) * len(seed_list)
        total = n_groups * (len(candidates) + 1 + int(cross_engine))
        if total > NFE_MAX_RENDERS:
            raise InputError(
                f"That is {total} renders ({len(voice_list)} voices × {len(text_list)} texts × {len(seed_list)} "
                f"seeds × {len(candidates) + 1} NFEs); one run renders at most {NFE_MAX_RENDERS}. "
                "Pick fewer texts, voices, seeds or NFEs.")
        params, _ = self._check_params(ref_nfe, None, None, 0)
        sr = self.engine.sample_rate
        samples = self.settings.paths.samples

        def report(done: int, what: str) -> None:
            if progress is not None:
                progress(done / max(total, 1), desc=what)

        report(0, "planning the renders")
        plans = []
        for voice in voice_list:
            vref = self.voice_ref(voice)
            for text in text_list:
                plans.append({"voice": voice, "vref": vref, "text": text, "chunks": self.chunk_text(text)})

        def estimate(engine: Any) -> list[list[int]]:
            return [[int(engine.estimate_frames(p["vref"], c, params.speed)[0]) for c in p["chunks"]] for p in plans]

        for p, frames in zip(plans, self.runtime.call(estimate)):
            p["frames"] = frames
        groups = []
        for p in plans:
            for seed in seed_list:
                ident = json.dumps([p["vref"].content_hash, p["text"], seed, params.cfg_strength, params.sway_coef,
                                    params.speed, p["frames"], self.engine.name, self.is_smoke, eng.crossfade_ms],
                                   ensure_ascii=False)
                groups.append(dict(p, seed=seed, ident=ident,
                                   group=hashlib.sha256(f"{ident}|{ref_nfe}".encode()).hexdigest()[:24]))

        def key(g: dict[str, Any], nfe: int) -> str:
            return hashlib.sha256(f"{g['ident']}|{ref_nfe}|{nfe}".encode()).hexdigest()[:32]

        # what is stored already (and still on disk) is reused
        stored: dict[tuple[int, int], dict[str, Any]] = {}
        waves = [ref_nfe, *candidates] + ([INDEXTTS_NFE] if cross_engine else [])
        for gi, g in enumerate(groups):
            for n in waves:
                row = self.store.get_nfe_render(key(g, n))
                if row is not None and (samples / row["audio_path"]).exists() and (samples / row["clip_path"]).exists():
                    stored[(gi, n)] = row
        done = len(stored)
        report(done, f"{done} of {total} renders reused from earlier runs" if done else "rendering")
        failed: dict[tuple[int, int], str] = {}
        refs: dict[int, np.ndarray] = {}

        def ref_audio(gi: int) -> np.ndarray | None:
            if gi not in refs and (gi, ref_nfe) in stored:
                refs[gi] = _read_wav(samples / stored[(gi, ref_nfe)]["audio_path"])
            return refs.get(gi)

        reused_ids = {row["id"] for row in stored.values()}
        window = max(1, min(eng.max_batch, eng.queue_size // 2))
        for n in waves:
            todo = [gi for gi in range(len(groups)) if (gi, n) not in stored]
            if n != ref_nfe:  # a candidate whose reference failed cannot be aligned or scored
                for gi in [gi for gi in todo if (gi, ref_nfe) in failed]:
                    failed[(gi, n)] = "not rendered: its reference render failed"
                    todo.remove(gi)
                    done += 1
            waiting, in_flight = list(todo), []
            while waiting or in_flight:
                if waiting and len(in_flight) < window:
                    g = groups[waiting[0]]
                    index = n == INDEXTTS_NFE
                    req = SynthesisRequest(
                        voice=g["vref"], chunks=g["chunks"], seed=g["seed"], text_chars=len(g["text"]),
                        params=GenerationParams(nfe=n, cfg_strength=params.cfg_strength, sway_coef=params.sway_coef,
                                                speed=params.speed),
                        crossfade_s=eng.crossfade_ms / 1000, duration_frames=None if index else g["frames"],
                        engine=self.indextts.name if index else "",
                        extra={"indextts": IndexTTSOptions()} if index else {}, source="nfe")
                    try:
                        in_flight.append((waiting[0], self.runtime.submit(req)))
                        waiting.pop(0)
                        continue
                    except BusyError:
                        if not in_flight:  # the queue is full of other people's requests: wait a moment
                            time.sleep(0.2)
                            continue
                gi, handle = in_flight.pop(0)
                try:
                    audio, stats = handle.result(600)
                except USER_ERRORS as exc:
                    failed[(gi, n)] = f"render failed: {exc}"
                else:
                    if n == ref_nfe:
                        refs[gi] = audio
                    scored = None if n in (ref_nfe, INDEXTTS_NFE) else quality.score(ref_audio(gi), audio, sr)
                    stored[(gi, n)] = self._store_nfe_render(
                        groups[gi], n, ref_nfe, key(groups[gi], n), params, audio, stats, scored)
                done += 1
                what = "IndexTTS" if n == INDEXTTS_NFE else f"NFE {n}"
                report(done, f"{what}: {len(todo) - len(waiting) - len(in_flight)} of {len(todo)} rendered "
                             f"· {done} of {total} renders done")
        report(total, f"{total} renders done")
        rows = []
        for gi, g in enumerate(groups):
            for n in waves:
                r = stored.get((gi, n))
                base = {"voice": g["voice"].name, "text": g["text"], "seed": g["seed"], "nfe": n,
                        "reference_nfe": ref_nfe, "is_reference": n == ref_nfe,
                        "engine": self.indextts.name if n == INDEXTTS_NFE else self.engine.name}
                if r is None:
                    rows.append(dict(base, pesq_wb=None, stoi=None, estoi=None, rtf=None, audio_s=None,
                                     render_id=None, reused=False, error=failed.get((gi, n), "not rendered")))
                else:
                    rows.append(dict(base, pesq_wb=r["pesq_wb"], stoi=r["stoi"], estoi=r["estoi"], rtf=r["rtf"],
                                     error=r["error"], audio_s=r["audio_seconds"], render_id=r["id"],
                                     reused=r["id"] in reused_ids))
        return rows

    def _store_nfe_render(self, g: dict[str, Any], nfe: int, ref_nfe: int, key: str, params: GenerationParams,
                          audio: np.ndarray, stats: Any, s: Any) -> dict[str, Any]:
        """Write a render and its loudness-matched listening clip (atomically), then its row."""
        import json

        sr = self.engine.sample_rate
        samples = self.settings.paths.samples
        rel = Path("nfe") / g["group"] / f"{nfe}.wav"
        clip_rel = Path("nfe") / g["group"] / f"{nfe}-clip.wav"
        write_wav_atomic(samples / rel, audio, sr)
        write_wav_atomic(samples / clip_rel, loudness_match(audio, sr), sr)
        self.store.add_nfe_render(
            key=key, group_key=g["group"], voice_slug=g["voice"].slug, voice_hash=g["vref"].content_hash,
            text=g["text"], seed=g["seed"], nfe=nfe, reference_nfe=ref_nfe, speed=params.speed,
            cfg_strength=params.cfg_strength, sway_coef=params.sway_coef, duration_frames=json.dumps(g["frames"]),
            audio_path=str(rel), clip_path=str(clip_rel), sample_rate=sr, audio_seconds=len(audio) / sr,
            latency_s=stats.latency_s, rtf=stats.rtf, pesq_wb=s.pesq_wb if s else None, stoi=s.stoi if s else None,
            estoi=s.estoi if s else None, error=s.error if s else None, smoke=self.is_smoke)
        return self.store.get_nfe_render(key)

    def nfe_stored_renders(self, reference_nfe: Any = None) -> list[dict[str, Any]]:
        """Every stored render with the given reference NFE (default: the configured one if stored, else the latest
        run's), as rows shaped like `nfe_render`'s, so a reloaded page can show them again."""
        every = self.store.list_nfe_renders()
        if not every:
            return []
        if reference_nfe in (None, ""):
            refs = {r["reference_nfe"] for r in every}
            default = self.nfe_reference_default()
            reference_nfe = default if default in refs else every[-1]["reference_nfe"]
        ref = self._check_nfe(reference_nfe)
        names = {v.slug: v.name for v in self.voices.list()}
        return [{"voice": names.get(r["voice_slug"], r["voice_slug"]), "text": r["text"], "seed": r["seed"],
                 "nfe": r["nfe"], "reference_nfe": ref, "is_reference": r["nfe"] == ref,
                 "engine": self.indextts.name if r["nfe"] == INDEXTTS_NFE else self.engine.name,
                 "pesq_wb": r["pesq_wb"], "stoi": r["stoi"], "estoi": r["estoi"], "rtf": r["rtf"], "error": r["error"],
                 "audio_s": r["audio_seconds"], "render_id": r["id"], "reused": True}
                for r in every if r["reference_nfe"] == ref]

    def nfe_scores(
        self, text: Any, voice: Any, nfes: Any = None, reference_nfe: Any = None, seed: Any = 0,
        progress: Any = None,
    ) -> list[dict[str, Any]]:
        """One text, one voice, one seed (the `/nfe_scores` endpoint): rows of nfe, pesq_wb, stoi, estoi, rtf,
        error, reference first."""
        if text is None or not str(text).strip():
            raise InputError("Type some text to speak.")
        if seed is None or (isinstance(seed, (int, float)) and not isinstance(seed, bool) and seed < 0):
            raise InputError("NFE comparisons need a fixed seed (0 or more), so every render is aligned.")
        if isinstance(seed, (list, tuple)) or (isinstance(seed, str) and "," in seed):
            raise InputError("/nfe_scores takes one seed; use the NFE compare tab for several.")
        return self.nfe_render([text], [voice] if voice else [], nfes, reference_nfe, seed, progress)

    def _ab_pairs(self) -> list[tuple[int, int]]:
        """Render-id pairs a trial can use: each candidate against its reference and its neighbouring NFE."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in self.store.list_nfe_renders():
            groups.setdefault(r["group_key"], []).append(r)
        pairs = set()
        for rows in groups.values():
            ref = [r for r in rows if r["nfe"] == r["reference_nfe"]]
            # an IndexTTS render (cross-engine A/B) meets the reference only, never a neighbouring NFE
            cands = sorted((r for r in rows if r["nfe"] not in (r["reference_nfe"], INDEXTTS_NFE)),
                           key=lambda r: r["nfe"])
            for r in cands + [r for r in rows if r["nfe"] == INDEXTTS_NFE]:
                if ref:
                    pairs.add((r["id"], ref[0]["id"]))
            for a, b in zip(cands, cands[1:]):
                pairs.add((a["id"], b["id"]))
        return sorted((min(p), max(p)) for p in pairs)

    @staticmethod
    def _check_reviewer(reviewer: Any) -> str:
        """A reviewer name as it is stored: NFC, trimmed, printable; refused with a message otherwise."""
        import unicodedata

        if reviewer is not None and not isinstance(reviewer, str):
            raise InputError("The reviewer name must be text.")
        name = unicodedata.normalize("NFC", reviewer or "").strip()
        if not name:
            raise InputError("Enter your name first, so your votes can be told apart.")
        if len(name) > REVIEWER_MAX:
            raise InputError(f"The reviewer name is too long ({len(name)} characters; {REVIEWER_MAX} at most).")
        # control, format (zero-width, bidi overrides), private-use and unassigned characters are refused:
        # they would make two names look alike, or garble the results and exports
        bad = [ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp")]
        if bad:
            raise InputError(f"The reviewer name contains invisible or control characters "
                             f"({', '.join(f'U+{ord(ch):04X}' for ch in bad[:3])}); type it with letters, digits "
                             "and ordinary punctuation.")
        if not any(ch.isalnum() for ch in name):
            raise InputError("The reviewer name needs at least one letter or digit.")
        return " ".join(name.split())

    def ab_next_trial(self, reviewer: Any) -> tuple[str, Path, Path]:
        """The reviewer's next blind trial: (trial id, clip A, clip B). Nothing else leaves the server."""
        import shutil

        name = self._check_reviewer(reviewer)
        samples = self.settings.paths.samples
        trial = self.store.open_ab_trial(name)
        if trial is None:
            pairs = self._ab_pairs()
            if not pairs:
                raise InputError("No renders to compare yet: render a text at several NFEs first.")
            seen = self.store.ab_pairs_seen(name)
            counts = self.store.ab_pair_counts()
            fresh = [p for p in pairs if p not in seen] or pairs
            fewest = min(counts.get(p, {}).get("trials", 0) for p in fresh)
            low, high = random.choice([p for p in fresh if counts.get(p, {}).get("trials", 0) == fewest])
            c = counts.get((low, high), {"trials": 0, "low_on_a": 0})
            # counterbalance: the side that has had the lower render less often gets it; random on a tie
            diff = 2 * c["low_on_a"] - c["trials"]
            low_on_a = diff < 0 or (diff == 0 and random.random() < 0.5)
            a_id, b_id = (low, high) if low_on_a else (high, low)
            ra, rb = self.store.get_nfe_render_by_id(a_id), self.store.get_nfe_render_by_id(b_id)
            trial_id = uuid.uuid4().hex
            clips = []
            for side, r in (("A", ra), ("B", rb)):
                rel = Path("nfe") / "ab" / f"{trial_id}-{side}.wav"  # neutral names: no NFE in the file name
                (samples / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(samples / r["clip_path"], samples / rel)
                clips.append(str(rel))
            self.store.add_ab_trial(id=trial_id, reviewer=name, render_a_id=a_id, render_b_id=b_id,
                                    nfe_a=ra["nfe"], nfe_b=rb["nfe"], clip_a=clips[0], clip_b=clips[1])
            trial = self.store.get_ab_trial(trial_id)
        return trial["id"], samples / trial["clip_a"], samples / trial["clip_b"]

    def ab_vote(self, trial_id: Any, reviewer: Any, choice: Any, seconds: Any = None) -> dict[str, Any]:
        """Record a vote (A, B or tie) and reveal which NFE was on which side."""
        name = self._check_reviewer(reviewer)
        trial = self.store.get_ab_trial(str(trial_id or ""))
        if trial is None:
            raise InputError("Unknown trial: ask for a new one.")
        if trial["reviewer"] != name:
            raise InputError("This trial belongs to another reviewer.")
        picked = {"a": "A", "b": "B", "tie": "tie", "no difference": "tie", "same": "tie"}.get(
            str(choice or "").strip().lower())
        if picked is None:
            raise InputError("Choose A, B or tie (no difference).")
        try:
            secs = None if seconds in (None, "") else float(seconds)
        except (TypeError, ValueError):
            secs = None
        ra = self.store.get_nfe_render_by_id(trial["render_a_id"])
        self._check_heard(trial, ra, self.store.get_nfe_render_by_id(trial["render_b_id"]))
        try:
            self.store.add_ab_vote(trial_id=trial["id"], reviewer=name, nfe_a=trial["nfe_a"], nfe_b=trial["nfe_b"],
                                   reference_nfe=ra["reference_nfe"] if ra else max(trial["nfe_a"], trial["nfe_b"]),
                                   choice=picked, seconds=secs)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        return {"trial_id": trial["id"], "choice": picked, "a_nfe": trial["nfe_a"], "b_nfe": trial["nfe_b"],
                "reference_nfe": ra["reference_nfe"] if ra else None,
                "a_label": render_label(trial["nfe_a"]), "b_label": render_label(trial["nfe_b"])}

    def _check_heard(self, trial: dict[str, Any], ra: dict[str, Any] | None, rb: dict[str, Any] | None) -> None:
        """Refuse a vote that arrives before both clips could have been played once (the page also waits for
        both to play to the end; this holds for API clients and edited pages too)."""
        from datetime import datetime

        cfg = getattr(self.settings, "nfe", None)
        slack = float(cfg.listen_slack_s) if cfg is not None else 0.5
        clips = sum(float(r["audio_seconds"] or 0.0) for r in (ra, rb) if r is not None)
        created = trial.get("created_at")
        if created is None or clips <= slack:
            return
        if isinstance(created, str):
            created = datetime.fromisoformat(created)  # stored to the second: errs on the reviewer's side
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - created).total_seconds()
        if age < clips - slack:
            raise InputError(f"Listen to both clips first: together they last {clips:.1f} s, and this trial was "
                             f"handed out {max(age, 0.0):.1f} s ago. Play A and B to the end, then vote.")

    def ab_results(self, reference_nfe: Any = None, boot: int = 200) -> dict[str, Any]:
        """Pair statistics, Bradley–Terry, position bias, votes per reviewer, verdicts, recommended NFE."""
        from ishowtts_studio import listening, quality

        every = self.store.list_nfe_renders()
        if reference_nfe in (None, ""):
            # the configured reference, or else the one of the latest renders
            refs = {r["reference_nfe"] for r in every}
            default = self.nfe_reference_default()
            reference_nfe = default if default in refs or not every else every[-1]["reference_nfe"]
        ref = self._check_nfe(reference_nfe)
        renders = [r for r in every if r["reference_nfe"] == ref and r["nfe"] != INDEXTTS_NFE]
        all_votes = [v for v in self.store.list_ab_votes() if v["reference_nfe"] == ref]
        # votes of the cross-engine A/B are their own question, kept out of the NFE statistics
        cross = [v for v in all_votes if INDEXTTS_NFE in (v["nfe_a"], v["nfe_b"])]
        votes = [v for v in all_votes if INDEXTTS_NFE not in (v["nfe_a"], v["nfe_b"])]
        candidates = sorted({r["nfe"] for r in renders if r["nfe"] != ref})
        summary = quality.summarise(renders, ref)
        per_nfe = {e["nfe"]: e for e in summary}
        scores = {n: {k: per_nfe[n][k] for k in ("pesq_wb", "stoi", "estoi")} for n in candidates}
        out = listening.analyse(votes, reference_nfe=ref, candidates=candidates, scores=scores,
                                thresholds=self.nfe_thresholds(), boot=boot)
        out["scores"] = summary
        out["smoke"] = self.is_smoke
        out["cross_engine"] = listening.engine_comparison(cross, reference_nfe=ref, other_nfe=INDEXTTS_NFE)
        return out

    def nfe_export(self) -> dict[str, Any]:
        """Votes (with the voice, text and seed they were about) and render scores, for CSV/JSON export."""
        keep = ("id", "created_at", "voice_slug", "text", "seed", "nfe", "reference_nfe", "pesq_wb", "stoi", "estoi",
                "rtf", "error", "audio_seconds", "latency_s", "smoke", "group_key")
        renders = {r["id"]: r for r in self.store.list_nfe_renders()}
        votes = []
        for v in self.store.list_ab_votes():
            trial = self.store.get_ab_trial(v["trial_id"]) or {}
            r = renders.get(trial.get("render_a_id"), {})
            votes.append(dict(v, voice_slug=r.get("voice_slug"), text=r.get("text"), seed=r.get("seed")))
        return {"votes": votes, "renders": [{k: r[k] for k in keep} for r in renders.values()]}


def _list_items(value: Any) -> list[Any]:
    """A list typed as text ("5, 6;7 8"), one number, or an actual list, as its items."""
    if isinstance(value, str):
        return [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if isinstance(value, (int, float)):
        return [value]
    return list(value)


def history_file_stem(voice_slug: str, text: str, when: float | None = None) -> str:
    """'<voice>-<first words>-<YYYYmmdd-HHMMSS>': letters and digits only (any script), short enough for any disk."""
    import re
    import unicodedata

    def clean(s: str, limit: int) -> str:
        s = unicodedata.normalize("NFKC", s).lower()
        s = "".join(ch if unicodedata.category(ch)[0] in "LNM" else "-" for ch in s)
        return re.sub(r"-+", "-", s).strip("-")[:limit].strip("-")

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    parts = [clean(voice_slug, 32) or "voice", clean(text, 40) or "take", stamp]
    return "-".join(parts)


def render_label(nfe: int) -> str:
    """How a render is named once revealed: 'IndexTTS' for the cross-engine render, else 'NFE n'."""
    return "IndexTTS" if nfe == INDEXTTS_NFE else f"NFE {nfe}"


def _read_wav(path: Path) -> np.ndarray:
    import soundfile as sf

    audio, _ = sf.read(str(path), dtype="float32", always_2d=False)
    return audio if audio.ndim == 1 else audio.mean(axis=1)


LISTENING_LUFS = -23.0


def loudness_match(audio: np.ndarray, sr: int, target_lufs: float = LISTENING_LUFS) -> np.ndarray:
    """Bring a clip to `target_lufs` (ITU-R BS.1770 via pyloudnorm), never clipping; silence is left alone."""
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
