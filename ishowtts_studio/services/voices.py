"""The voice library as the Voices tab uses it: list, add (clean, store, prepare), rename, update, delete,
export, import, preview. Library writes are atomic and serialised by the VoiceLibrary's lock; the engine's
reference cache is built on add and dropped on transcript edits."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ishowtts_studio.audio import write_wav_atomic
from ishowtts_studio.engines.base import EngineUnavailable, VoiceRef
from ishowtts_studio.runtime import BusyError, EngineRuntime
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import Store
from ishowtts_studio.transcribe import NO_TRANSCRIBER, Transcriber
from ishowtts_studio.validation import InvalidInput, brief, check_transcript, check_transcript_covers
from ishowtts_studio.voice_cleaning import CleanedClip, clean_clip
from ishowtts_studio.voices import LANGUAGES, Voice, VoiceError, VoiceLibrary, read_pack

if TYPE_CHECKING:  # the synthesis service imports this module's lookups
    from ishowtts_studio.services.synthesis import SynthesisOutcome, SynthesisService

log = logging.getLogger(__name__)

PREVIEW_MAX_CHARS = 300  # a preview is a sentence or two, not a take
PREVIEW_LINES = {
    "en": "Hello! This is a short preview of my cloned voice.",
    "zh": "你好！这是我的克隆声音的简短预览。",
    "other": "Hello! This is a short preview of my cloned voice.",
}


def find_voice(library: VoiceLibrary, name_or_slug: str | None) -> Voice:
    """The voice called `name_or_slug`, or an InputError saying to pick one."""
    if not name_or_slug or not str(name_or_slug).strip():
        raise InputError("Pick a voice first.")
    try:
        return library.get(str(name_or_slug))
    except VoiceError as exc:
        raise InputError(str(exc)) from exc


def voice_ref(voice: Voice) -> VoiceRef:
    """What an engine needs of a voice."""
    return VoiceRef(slug=voice.slug, audio_path=Path(voice.audio_path), transcript=voice.transcript,
                    content_hash=voice.content_hash)


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InputError(f"Language must be one of {', '.join(LANGUAGES)} (got {brief(language)}).")
    return language


def _check_covers(transcript: str, duration_s: float) -> None:
    try:
        check_transcript_covers(transcript, duration_s)
    except InvalidInput as exc:
        raise InputError(str(exc)) from None


class VoiceService:
    NO_TRANSCRIBER = NO_TRANSCRIBER

    def __init__(self, settings: Settings, library: VoiceLibrary, store: Store, runtime: EngineRuntime,
                 transcriber: Transcriber, synthesis: SynthesisService) -> None:
        self.settings, self.library, self.store, self.runtime = settings, library, store, runtime
        self.transcriber, self.synthesis = transcriber, synthesis
        self._rename_listeners: list[Callable[[str, str], None]] = []

    @property
    def can_transcribe(self) -> bool:
        """Whether a Whisper model is configured (the tab shows its Transcribe button only then)."""
        return self.transcriber.configured

    # ---- reading ----------------------------------------------------------------------------------
    def list_voices(self) -> list[dict[str, Any]]:
        usage = self.store.voice_usage_counts()
        return [dict(v.to_dict(), times_used=usage.get(v.slug, 0)) for v in self.library.list()]

    def voice_names(self) -> list[str]:
        return [v.name for v in self.library.list()]

    def get_voice(self, name_or_slug: str | None) -> Voice:
        return find_voice(self.library, name_or_slug)

    def _voice_dict(self, voice: Voice, **more: Any) -> dict[str, Any]:
        usage = self.store.voice_usage_counts()
        return dict(voice.to_dict(), times_used=usage.get(voice.slug, 0), **more)

    # ---- adding -----------------------------------------------------------------------------------
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
        if name is None or (isinstance(name, str) and not name.strip()):
            raise InputError("Give the voice a name with at least one letter or digit.")
        name = self.library.check_new_name(name)
        try:  # the length limit before the clip is decoded; the per-second limit once its length is known
            transcript = check_transcript(transcript)
        except InvalidInput as exc:
            raise InputError(str(exc)) from None
        if not transcript and not self.transcriber.configured:
            raise InputError(self.NO_TRANSCRIBER)
        return name, transcript, _check_language(language or "en")

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
        _check_covers(transcript, cleaned.duration_s)
        src = Path(str(audio_path))
        info = cleaned.to_dict()
        self.settings.paths.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="voice-add-", dir=self.settings.paths.cache) as tmp:
            wav = write_wav_atomic(Path(tmp) / "reference.wav", cleaned.audio, cleaned.sample_rate)
            voice = self.library.add(
                name, wav, transcript, language, original_name=original_name or src.name,
                extra={"loudness_lufs": round(cleaned.loudness_lufs, 2), "cleaning": info},
            )
        ref = voice_ref(voice)
        try:
            self.runtime.call(lambda engine: engine.prepare_voice(ref), timeout=300)
        except (EngineUnavailable, BusyError, TimeoutError) as exc:
            log.warning("voice %r saved; the engine will prepare it on first use (%s)", voice.name, exc)
        except Exception as exc:
            log.exception("the engine could not prepare voice %r; removing it", voice.name)
            self.library.delete(voice.slug)
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

    # ---- changing ---------------------------------------------------------------------------------
    def when_renamed(self, listener: Callable[[str, str], None]) -> None:
        """Call `listener(old name, new name)` after each rename (the live chat keeps its choices by name)."""
        self._rename_listeners.append(listener)

    def rename_voice(self, voice: str | None, new_name: str | None) -> dict[str, Any]:
        chosen = self.get_voice(voice)
        if new_name is None or not str(new_name).strip():
            raise InputError("Give the voice a new name with at least one letter or digit.")
        renamed = self.library.rename(chosen.slug, str(new_name))
        if renamed.name != chosen.name:
            for listener in self._rename_listeners:
                try:
                    listener(chosen.name, renamed.name)
                except Exception:  # the rename itself is done; a listener's failure must not undo or hide it
                    log.exception("a rename listener failed for %r -> %r", chosen.name, renamed.name)
        return self._voice_dict(renamed)

    def update_voice(
        self, voice: str | None, transcript: str | None = None, language: str | None = None,
        preview_text: str | None = None,
    ) -> dict[str, Any]:
        """Change the transcript, language and/or preview text ("" = the default line); when the transcript or
        language changes, the engine's cached reference for the voice is dropped."""
        chosen = self.get_voice(voice)
        preview = None if preview_text is None else self.check_preview_text(preview_text)
        if transcript is not None and not isinstance(transcript, str):
            raise InputError(f"The transcript must be text, not {type(transcript).__name__}.")
        if transcript is not None and not str(transcript).strip():
            raise InputError("The transcript cannot be empty: type exactly the words spoken in the clip.")
        if transcript is not None:
            _check_covers(" ".join(transcript.split()), chosen.duration_s)
        if language is not None and str(language).strip() == "":
            language = None
        if language is not None:
            _check_language(language)
        updated = self.library.update(chosen.slug, transcript=transcript, language=language, preview_text=preview)
        if transcript is None and language is None:
            return self._voice_dict(updated)  # the reference is unchanged: the engine's cache stays valid
        old = voice_ref(chosen)
        try:
            self.runtime.call_all(lambda engine: engine.forget_voice(old), timeout=60, load=False)  # every device
        except (EngineUnavailable, BusyError, TimeoutError) as exc:
            # the engine also checks the transcript on every cache hit, so a stale entry is never used
            log.warning("could not drop the cached reference of %r: %s", chosen.name, exc)
        return self._voice_dict(updated)

    def delete_voice(self, voice: str | None) -> dict[str, Any]:
        """Delete a voice. Syntheses in flight keep going (the engine holds the prepared reference) and
        history rows keep their own audio files."""
        if not voice or not str(voice).strip():
            raise InputError("Pick a voice first.")
        return self.library.delete(str(voice)).to_dict()  # broken voices too: delete is how they go away

    # ---- broken voices ----------------------------------------------------------------------------
    def broken_voices(self) -> list[dict[str, Any]]:
        """Voice folders that cannot be used (reference.wav missing or changed, voice.json unreadable):
        name, slug, problem, repairable. They are never synthesised or exported; repair or delete them."""
        return [b.to_dict() for b in self.library.list_broken()]

    def repair_voice(self, voice: str | None, audio_path: str | Path | None) -> dict[str, Any]:
        """Give a broken voice a new clip (cleaned like an upload); its name, transcript and language stay."""
        if not voice or not str(voice).strip():
            raise InputError("Pick the broken voice to repair.")
        cleaned = self.clean_voice_clip(audio_path)
        self.settings.paths.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="voice-repair-", dir=self.settings.paths.cache) as tmp:
            wav = write_wav_atomic(Path(tmp) / "reference.wav", cleaned.audio, cleaned.sample_rate)
            fixed = self.library.repair(str(voice), wav, extra={"loudness_lufs": round(cleaned.loudness_lufs, 2),
                                                                 "cleaning": cleaned.to_dict()})
        return self._voice_dict(fixed)

    # ---- packs and previews -----------------------------------------------------------------------
    def export_voice(self, voice: str | None) -> Path:
        """A voice pack: `<slug>.zip` with reference.wav and voice.json, under samples/exports."""
        chosen = self.get_voice(voice)
        return self.library.export_pack(chosen.slug, self.settings.paths.samples / "exports")

    def import_voice(self, pack_path: str | Path | None, name: str | None = None) -> dict[str, Any]:
        """Add a voice from a pack, cleaned and checked like an upload; `name` overrides the pack's name."""
        if pack_path is None or not str(pack_path).strip():
            raise InputError("Choose a voice pack (.zip) to import.")
        if not Path(str(pack_path)).is_file():
            raise InputError("The voice pack was not received; upload it again.")
        pack = read_pack(pack_path, max_bytes=self.settings.server.max_upload_mb * 2**20)
        new_name = str(name).strip() if name and str(name).strip() else pack.name
        try:
            self.library.check_new_name(new_name)
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

    def check_preview_text(self, text: Any) -> str:
        """A preview line as stored ("" = the default line): one line of plain text, short, and speakable."""
        if not isinstance(text, str):
            raise InputError(f"The preview text must be text, not {type(text).__name__}.")
        line = " ".join(text.split())
        if not line:
            return ""
        if len(line) > PREVIEW_MAX_CHARS:
            raise InputError(f"The preview text is {len(line)} characters long; keep it to {PREVIEW_MAX_CHARS} "
                             "(a sentence or two), or leave it empty for the default line.")
        return self.synthesis.clean_text(line)  # the same checks as a Live text (it is spoken the same way)

    def preview_voice(self, voice: str | None, text: str | None = None, **kwargs: Any) -> SynthesisOutcome:
        """A short line in `voice`: `text` if given, else the voice's own preview text, else its language's
        default line."""
        chosen = self.get_voice(voice)
        default = chosen.preview_text or PREVIEW_LINES.get(chosen.language, PREVIEW_LINES["en"])
        line = text if text and str(text).strip() else default
        return self.synthesis.synthesize(line, chosen.slug, **kwargs)
