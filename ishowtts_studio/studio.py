"""Studio: the composition root. It builds the store, voice library, engines, runtime and one service per tab,
and offers start / close / health / engines. Everything a tab does goes through its service:

    studio.voices     VoiceService      (Voices tab; /add_voice, /rename_voice, ...)
    studio.synthesis  SynthesisService  (Live synthesis tab; /synthesize, /history)
    studio.nfe        NfeService        (NFE compare renders and scores; /nfe_scores)
    studio.ab         AbService         (blind A/B trials, votes, results, export)
    studio.bench      BenchService      (Performance tab: benchmark runs, baselines, live figures)
    studio.chat       ChatService       (Live chat tab; /chat_post, /chat_status, ...; services/chat/)

The OpenAI-compatible API (`ishowtts_studio/api/`) is built here too when it lands.
"""

from __future__ import annotations

import time
from typing import Any

from ishowtts_studio.engine_factory import f5_from_settings, indextts_from_settings, runtime_from_settings
from ishowtts_studio.metrics import MetricsService
from ishowtts_studio.recovery import remove_cache_leftovers
from ishowtts_studio.runtime import BusyError
from ishowtts_studio.served_files import ServedFiles
from ishowtts_studio.services.ab import AbService
from ishowtts_studio.services.bench import BenchService
from ishowtts_studio.services.chat.service import ChatService
from ishowtts_studio.services.chat.sources.factory import sources_from_settings
from ishowtts_studio.services.errors import USER_ERRORS, InputError
from ishowtts_studio.services.nfe import NfeService
from ishowtts_studio.services.preferences import Preferences
from ishowtts_studio.services.synthesis import SynthesisService
from ishowtts_studio.services.voices import VoiceService, voice_ref
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import Store
from ishowtts_studio.transcribe import Transcriber
from ishowtts_studio.voices import VoiceLibrary

__all__ = ["USER_ERRORS", "InputError", "Studio"]


class Studio:
    def __init__(self, settings: Settings, *, random_weights: str | None = None) -> None:
        self.settings = settings
        paths = settings.paths
        for folder in (paths.voices, paths.samples, paths.cache):
            folder.mkdir(parents=True, exist_ok=True)
        remove_cache_leftovers(paths.cache)  # what a crashed voice add/import/repair left
        # files handed to pages (the UI moves the root into the web server's folder)
        self.served = ServedFiles(paths.cache / "served")
        self.store = Store(paths.database_url)
        self.library = VoiceLibrary(paths.voices)
        self.library.seed_defaults()
        self.engine = f5_from_settings(settings, random_weights)  # the first device's (engine.devices)
        self.indextts = indextts_from_settings(settings)
        # one worker per device in this process, or (serve.address set) Ray Serve replicas behind the same interface
        self.runtime = runtime_from_settings(settings, self.engine, {self.indextts.name: self.indextts},
                                             random_weights)
        self.metrics = MetricsService(self.runtime, self.store, warmup_enabled=settings.engine.warmup)
        self.transcriber = Transcriber(settings.voices.whisper_model)
        self.preferences = Preferences(settings, self.store)
        # one service per tab; each gets what it uses and nothing more
        self.synthesis = SynthesisService(settings, self.library, self.store, self.runtime, self.preferences)
        self.voices = VoiceService(settings, self.library, self.store, self.runtime, self.transcriber,
                                   self.synthesis)
        self.nfe = NfeService(settings, self.library, self.store, self.runtime, self.synthesis, self.preferences,
                              smoke=self.is_smoke)
        self.ab = AbService(settings, self.store, self.nfe, smoke=self.is_smoke)
        self.bench = BenchService(self.runtime, self.store, self.metrics, self.synthesis, self.preferences)
        # live chat: its lines go through the synthesis service, so they share the runtime's queue and batches
        self.chat = ChatService(
            settings.chat, self.store,
            lambda text, voice, nfe: self.synthesis.start(text, voice, nfe=nfe, origin="chat"),
            voices=self.voices.voice_names, default_nfe=self.default_nfe, audio_dir=paths.samples / "chat",
            registry=self.metrics.registry, sources=sources_from_settings(settings.chat),
            user_errors=USER_ERRORS, busy_errors=(BusyError,),
        )
        self.voices.when_renamed(self.chat.voice_renamed)  # the chat keeps its voice choices by name
        self.started_at = time.time()

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self.metrics.attach()  # before the worker starts, so no request is missed
        warm = None
        if self.settings.engine.warmup:
            refs = [voice_ref(v) for v in self.library.list()]
            nfe = self.default_nfe()

            def warm(engine: Any, progress: Any) -> None:
                engine.warmup(refs, nfe, progress)

        self.runtime.start(warm)
        self.chat.start()

    def close(self) -> None:
        self.chat.close()  # before the runtime: its loop feeds the runtime
        self.runtime.stop()
        self.indextts.close()  # its worker process exits with the studio
        self.metrics.close()  # after the worker, before the store it writes to
        self.store.close()

    # ---- status -----------------------------------------------------------------------------------
    @property
    def is_smoke(self) -> bool:
        return self.settings.smoke or self.engine.random_weights == "smoke"

    def default_nfe(self) -> int:
        return self.preferences.default_nfe()

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
            # one entry per device worker (engine.devices): state, queue, queued audio, counts
            "devices": rt.device_status(),
        }

    def engines(self) -> list[dict[str, Any]]:
        """Every engine with its status ('ready', 'available', 'loading', 'unavailable') and message."""
        return self.runtime.engine_status()
