"""Live synthesis: check a request, queue it on the shared runtime, stream it, save it to history."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.audio import read_audio, trim_silence, write_wav_atomic
from ishowtts_studio.engines.base import EngineUnavailable, GenerationParams
from ishowtts_studio.engines.indextts import IndexTTSOptions
from ishowtts_studio.runtime import EngineRuntime, RequestHandle, SynthesisRequest
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import check_cfg, check_nfe, check_seed, check_speed
from ishowtts_studio.services.preferences import Preferences
from ishowtts_studio.services.voices import find_voice, voice_ref
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import Store, SynthesisRecord
from ishowtts_studio.textproc import TextError, chunk_for_engine, normalize_text
from ishowtts_studio.validation import brief
from ishowtts_studio.voices import Voice, VoiceLibrary

ENGINE_LABELS = {"f5": "F5-TTS", "indextts": "IndexTTS"}


@dataclass
class SynthesisOutcome:
    wav_path: Path
    sample_rate: int
    stats: dict[str, Any]
    history_id: int


class LiveSynthesis:
    """One synthesis in flight: iterate for audio chunks, then `finish()` saves it to history."""

    def __init__(self, service: SynthesisService, handle: RequestHandle, text: str, voice: Voice,
                 remove_silence: bool) -> None:
        self.service, self.handle, self.text, self.voice = service, handle, text, voice
        self.remove_silence = remove_silence
        self.seed = handle.request.seed
        self.sample_rate = handle.sample_rate

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.handle)

    def finish(self, timeout: float | None = 600) -> SynthesisOutcome:
        audio, stats = self.handle.result(timeout)
        return self.service.save_history(self.text, self.voice, self.handle.request, audio, stats,
                                         self.remove_silence)

    def cancel(self) -> None:
        self.handle.cancel()


class SynthesisService:
    def __init__(self, settings: Settings, library: VoiceLibrary, store: Store, runtime: EngineRuntime,
                 preferences: Preferences) -> None:
        self.settings, self.library, self.store, self.runtime = settings, library, store, runtime
        self.preferences = preferences
        # where uploaded clips land (the web server's upload folder, set by the UI): a clip named in a request's
        # options must be one of them, never any file on the server (that was a file-existence oracle)
        self.upload_roots: tuple[Path, ...] = ()

    # ---- engines and defaults ---------------------------------------------------------------------
    def default_nfe(self) -> int:
        return self.preferences.default_nfe()

    def check_engine(self, engine: Any) -> str:
        """The engine's registered name from a name or label ('' / None = the default engine)."""
        default = self.runtime.engine.name
        name = default if engine is None or str(engine).strip() == "" else str(engine).strip()
        by_label = {v.lower(): k for k, v in ENGINE_LABELS.items()}
        name = by_label.get(name.lower(), name.lower())
        if name not in self.runtime.engines:
            raise InputError(f"Unknown engine {brief(engine)}: choose {' or '.join(ENGINE_LABELS.values())}.")
        return name

    def indextts_version(self) -> str | None:
        """The configured IndexTTS model's version ('1.5' or '2'), or None when it is not usable."""
        engine = self.runtime.engines.get("indextts")
        try:
            return engine.check() if engine is not None else None
        except EngineUnavailable:
            return None

    # ---- checks -----------------------------------------------------------------------------------
    def check_params(self, nfe: Any, speed: Any, cfg_strength: Any, seed: Any) -> tuple[GenerationParams, int]:
        """Generation parameters with the configured defaults for what is None, and the seed to use."""
        eng = self.settings.engine
        params = GenerationParams(
            nfe=self.default_nfe() if nfe is None else check_nfe(nfe),
            speed=check_speed(eng.speed if speed is None else speed),
            cfg_strength=check_cfg(eng.cfg_strength if cfg_strength is None else cfg_strength),
            sway_coef=eng.sway_coef,
        )
        return params, check_seed(seed)

    def clean_text(self, text: str | None) -> str:
        """The text as it will be spoken, or an InputError saying what to change."""
        try:
            return normalize_text(text, self.settings.engine.max_text_chars)
        except TextError as exc:
            raise InputError(str(exc)) from exc

    def chunk_text(self, text: str) -> list[str]:
        return chunk_for_engine(text, self.settings.engine)

    # ---- synthesis --------------------------------------------------------------------------------
    def start(
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
        origin: str = "ui",
    ) -> LiveSynthesis:
        """Validate, then queue a synthesis; the returned object streams chunks and saves history.

        `engine` is "f5" (default) or "indextts"; `indextts` holds IndexTTS's generation options
        (temperature, top_p, ..., and version 2's emotion controls), checked by `IndexTTSOptions.check`.
        `origin` says who asked ("ui", "api", "cli", ...); history, metrics and Prometheus carry it."""
        name = self.check_engine(engine)
        clean = self.clean_text(text)
        chosen = find_voice(self.library, voice)
        params, seed = self.check_params(nfe, speed, cfg_strength, seed)
        extra: dict[str, Any] = {}
        if name == "indextts":
            try:
                options = IndexTTSOptions.check(indextts)
            except ValueError as exc:
                raise InputError(str(exc)) from exc
            if options.emotion_audio:  # an uploaded emotion clip must be readable audio, checked here
                self.check_uploaded(options.emotion_audio, "the emotion reference clip")
                read_audio(options.emotion_audio, max_seconds=60)
            extra["indextts"] = options
            params = dataclasses.replace(params, nfe=0)  # no ODE steps: recorded as 0 (not applicable)
        elif indextts:
            raise InputError("IndexTTS options were given but the engine is F5-TTS: choose IndexTTS or drop them.")
        request = SynthesisRequest(
            voice=voice_ref(chosen), chunks=self.chunk_text(clean), params=params, seed=seed, text_chars=len(clean),
            crossfade_s=self.settings.engine.crossfade_ms / 1000, engine=name, extra=extra, origin=origin,
        )
        handle = self.runtime.submit(request)
        return LiveSynthesis(self, handle, clean, chosen, remove_silence)

    def check_uploaded(self, path: str, what: str) -> None:
        """Refuse a path outside `upload_roots` without saying anything about it (whether it exists, what it is)."""
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root) for root in self.upload_roots):
            raise InputError(f"Upload {what} with the form; a path on the server is not accepted.")

    def synthesize(self, text: str | None, voice: str | None, **kwargs: Any) -> SynthesisOutcome:
        return self.start(text, voice, **kwargs).finish()

    def save_history(
        self, text: str, voice: Voice, request: SynthesisRequest, audio: np.ndarray, stats: Any, remove_silence: bool
    ) -> SynthesisOutcome:
        """Write the take's WAV atomically, then its history row (no audio file is left without its row)."""
        engine = self.runtime.engines[request.engine or self.runtime.engine.name]
        sr = engine.sample_rate
        if remove_silence and audio.size:
            audio = trim_silence(audio, sr)
        # a name that says what the take is when it is downloaded: voice, start of the text, time
        rel = Path("history") / f"{history_file_stem(voice.slug, text)}-{uuid.uuid4().hex[:6]}.wav"
        path = self.settings.paths.samples / rel
        write_wav_atomic(path, audio, sr)
        # the default engine's info is the runtime's; another engine reports its own (device, precision)
        info = self.runtime.info if engine is self.runtime.engine else engine.info()
        record = SynthesisRecord(
            id=None, created_at=None, text=text, voice_name=voice.name, voice_slug=voice.slug, engine=stats.engine,
            nfe=request.params.nfe, seed=request.seed, speed=request.params.speed,
            cfg_strength=request.params.cfg_strength, audio_path=str(rel), audio_seconds=len(audio) / sr,
            latency_s=stats.latency_s, ttfa_s=stats.ttfa_s, rtf=stats.rtf, device=stats.device,
            smoke=bool(info and info.smoke), origin=request.origin,
        )
        try:
            history_id = self.store.add_synthesis(record)
        except Exception:
            path.unlink(missing_ok=True)
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

    def history(self, limit: int = 50, *, favourites_only: bool = False) -> list[dict[str, Any]]:
        return [self._history_row(rec)
                for rec in self.store.list_syntheses(limit=limit, favourites_only=favourites_only)]

    def set_favourite(self, history_id: Any, on: Any) -> dict[str, Any]:
        """Star (on=True) or unstar one take; returns its row as it now is."""
        hid = check_history_id(history_id)
        rec = self.store.set_favourite(hid, bool(on))
        if rec is None:
            raise InputError(f"No history entry {hid}: it may have been deleted.")
        return self._history_row(rec)

    def history_entry(self, history_id: Any) -> dict[str, Any]:
        """One take's row, with `regenerated` (which sentence of which take was made again) when it says so."""
        from ishowtts_studio.services.regenerate import regeneration_note

        hid = check_history_id(history_id)
        rec = self.store.get_synthesis(hid)
        if rec is None:
            raise InputError(f"No history entry {hid}.")
        return dict(self._history_row(rec), regenerated=regeneration_note(self, hid))

    def take_sentences(self, history_id: Any) -> list[str]:
        """The sentences (chunks) a take was rendered in, in order: what `regenerate_sentence` numbers."""
        return self.chunk_text(self.history_entry(history_id)["text"])

    def regenerate_sentence(self, history_id: Any, sentence: Any, seed: Any = None) -> SynthesisOutcome:
        """Sentence `sentence` (1-based) of a take made again with a new seed, spliced in, saved as a new take
        (see services/regenerate.py)."""
        from ishowtts_studio.services.regenerate import regenerate_sentence

        return regenerate_sentence(self, check_history_id(history_id), sentence, seed)

    def search_history(self, query: str | None, limit: int = 50, scan: int = 2000, *,
                       favourites_only: bool = False) -> list[dict[str, Any]]:
        """History rows whose text or voice name contains every word of `query` (case-insensitive), newest first;
        an empty query is the plain history. `favourites_only` keeps the starred takes only."""
        words = str(query or "").casefold().split()
        if not words:
            return self.history(limit, favourites_only=favourites_only)
        out = []
        for rec in self.store.list_syntheses(limit=scan, favourites_only=favourites_only):
            hay = f"{rec.text} {rec.voice_name}".casefold()
            if all(w in hay for w in words):
                out.append(self._history_row(rec))
                if len(out) >= limit:
                    break
        return out

    def delete_history(self, history_id: Any) -> dict[str, Any]:
        """Delete one take: its row, then its audio file (a row never points at a missing file)."""
        hid = check_history_id(history_id)
        rec = self.store.delete_synthesis(hid)
        if rec is None:
            raise InputError(f"No history entry {hid}: it may have been deleted already.")
        from ishowtts_studio.services.regenerate import NOTE_KEY

        if self.store.get_pref(NOTE_KEY.format(hid)) is not None:  # a later take may get this number again
            self.store.set_pref(NOTE_KEY.format(hid), None)
        path = (self.settings.paths.samples / rec.audio_path).resolve()
        if path.is_relative_to(self.settings.paths.samples.resolve()):
            path.unlink(missing_ok=True)
        return self._history_row(rec)

    def history_audio(self, history_id: Any) -> Path:
        history_id = check_history_id(history_id)
        rec = self.store.get_synthesis(history_id)
        if rec is None:
            raise InputError(f"No history entry {history_id}.")
        path = (self.settings.paths.samples / rec.audio_path).resolve()
        if not path.is_relative_to(self.settings.paths.samples.resolve()) or not path.exists():
            raise InputError(f"The audio of history entry {history_id} is missing.")
        return path


def check_history_id(history_id: Any) -> int:
    """A take's number, or an InputError that says to pick one."""
    if isinstance(history_id, bool):
        raise InputError("Select a take in the history first.")
    try:
        f = float(history_id)
    except (TypeError, ValueError):
        raise InputError("Select a take in the history first.") from None
    if not f.is_integer() or f < 1:
        raise InputError(f"A take number is a whole number from 1, not {brief(history_id)}.")
    if f >= 2**62:  # past what the database's integer holds: no such take can exist
        raise InputError(f"There is no take {brief(history_id)}; select a take in the history.")
    return int(f)


def history_file_stem(voice_slug: str, text: str, when: float | None = None) -> str:
    """'<voice>-<first words>-<YYYYmmdd-HHMMSS>': letters and digits only (any script), short enough for any disk."""
    import re
    import unicodedata

    def clean(s: str, limit: int) -> str:
        s = unicodedata.normalize("NFKC", s).lower()
        s = "".join(ch if unicodedata.category(ch)[0] in "LNM" else "-" for ch in s)
        return re.sub(r"-+", "-", s).strip("-")[:limit].strip("-")

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return "-".join([clean(voice_slug, 32) or "voice", clean(text, 40) or "take", stamp])
