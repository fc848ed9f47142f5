"""NFE compare renders: check the request, plan the groups, render them through the shared runtime in a
bounded in-flight loop (one NFE at a time, the reference first), score each candidate, store renders.

Renders of texts x voices x seeds at several NFEs, each aligned with its reference render (same seed, same
frames per chunk), scored with `quality.score`, stored under samples/nfe/<group>/ and reused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio import quality
from ishowtts_studio.audio import read_audio, write_wav_atomic
from ishowtts_studio.engines.base import GenerationParams
from ishowtts_studio.engines.indextts import IndexTTSOptions
from ishowtts_studio.listening import Thresholds
from ishowtts_studio.runtime import BusyError, EngineRuntime, RequestHandle, SynthesisRequest
from ishowtts_studio.services.errors import USER_ERRORS, InputError
from ishowtts_studio.services.inputs import check_nfe, parse_fixed_seeds, parse_nfes
from ishowtts_studio.services.nfe_plan import INDEXTTS_NFE, RenderGroup, TextPlan, plan_groups, waves
from ishowtts_studio.services.preferences import Preferences
from ishowtts_studio.services.synthesis import SynthesisService
from ishowtts_studio.services.voices import find_voice, voice_ref
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import NfeRender, Store
from ishowtts_studio.voices import Voice, VoiceLibrary

# most seeds per run, most renders per run (voices x texts x seeds x NFEs)
NFE_MAX_SEEDS = 16
NFE_MAX_RENDERS = 2000
INDEXTTS = "indextts"


@dataclass
class RenderRun:
    """What one `render` call knows so far: stored rows (reused or new), failures, reference audio."""

    groups: list[RenderGroup]
    reference_nfe: int
    total: int
    stored: dict[tuple[int, int], NfeRender] = field(default_factory=dict)
    failed: dict[tuple[int, int], str] = field(default_factory=dict)
    refs: dict[int, np.ndarray] = field(default_factory=dict)
    reused_ids: set[int] = field(default_factory=set)
    done: int = 0


class NfeService:
    def __init__(self, settings: Settings, library: VoiceLibrary, store: Store, runtime: EngineRuntime,
                 synthesis: SynthesisService, preferences: Preferences, *, smoke: bool) -> None:
        self.settings, self.library, self.store, self.runtime = settings, library, store, runtime
        self.synthesis, self.preferences, self.smoke = synthesis, preferences, smoke

    # ---- settings ---------------------------------------------------------------------------------
    def thresholds(self) -> Thresholds:
        cfg = self.settings.nfe
        return Thresholds(margin=cfg.margin, pesq_min=cfg.pesq_min, stoi_min=cfg.stoi_min,
                          estoi_min=cfg.estoi_min, min_votes=cfg.min_votes)

    def reference_default(self) -> int:
        return int(self.settings.nfe.reference_nfe)

    def candidates_default(self) -> list[int]:
        return self.settings.nfe.candidate_list

    def voice_names(self) -> list[str]:
        return [v.name for v in self.library.list()]

    def adopt_default_nfe(self, nfe: Any) -> int:
        """Make `nfe` the studio's default (the Live tab reads it)."""
        return self.preferences.set_default_nfe(nfe)

    # ---- input ------------------------------------------------------------------------------------
    def _texts(self, texts: Any) -> list[str]:
        if isinstance(texts, str):
            texts = [texts]
        items = [t for t in (texts or []) if t is not None and str(t).strip()]
        if not items:
            raise InputError("Pick at least one sentence (a built-in one, or type your own).")
        out: list[str] = []
        for i, t in enumerate(items):
            try:
                clean = self.synthesis.clean_text(str(t))
            except InputError as exc:
                raise InputError(f"Text {i + 1} ({str(t)[:40]!r}): {exc}") from None
            if clean not in out:
                out.append(clean)
        return out

    def _voices(self, voices: Any) -> list[Voice]:
        if isinstance(voices, str):
            voices = [voices]
        names = [v for v in (voices or []) if v is not None and str(v).strip()]
        if not names:
            raise InputError("Pick at least one voice.")
        out: list[Voice] = []
        for n in names:
            v = find_voice(self.library, n)
            if v.slug not in {x.slug for x in out}:
                out.append(v)
        return out

    # ---- rendering --------------------------------------------------------------------------------
    def render(
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
        text_list = self._texts(texts)
        voice_list = self._voices(voices)
        candidates = parse_nfes(nfes, self.candidates_default())
        ref_nfe = check_nfe(self.reference_default() if reference_nfe in (None, "") else reference_nfe)
        candidates = [c for c in candidates if c != ref_nfe]
        if not candidates:
            raise InputError("Pick at least one candidate NFE different from the reference NFE.")
        seed_list = parse_fixed_seeds(seeds, NFE_MAX_SEEDS)
        if cross_engine:
            self.runtime.engine_for(INDEXTTS)  # unavailable: say so (and how to fix it) before rendering
        n_groups = len(text_list) * len(voice_list) * len(seed_list)
        total = n_groups * (len(candidates) + 1 + int(cross_engine))
        if total > NFE_MAX_RENDERS:
            raise InputError(
                f"That is {total} renders ({len(voice_list)} voices × {len(text_list)} texts × {len(seed_list)} "
                f"seeds × {len(candidates) + 1} NFEs); one run renders at most {NFE_MAX_RENDERS}. "
                "Pick fewer texts, voices, seeds or NFEs.")
        params, _ = self.synthesis.check_params(ref_nfe, None, None, 0)

        def report(done: int, what: str) -> None:
            if progress is not None:
                progress(done / max(total, 1), desc=what)

        report(0, "planning the renders")
        plans = self._plans(voice_list, text_list, params)
        groups = plan_groups(plans, seed_list, ref_nfe, params, engine=self.runtime.engine.name, smoke=self.smoke,
                             crossfade_ms=self.settings.engine.crossfade_ms)
        order = waves(ref_nfe, candidates, cross_engine)
        run = RenderRun(groups, ref_nfe, total)
        self._find_stored(run, order)
        report(run.done, f"{run.done} of {total} renders reused from earlier runs" if run.done else "rendering")
        for n in order:
            self._render_wave(run, n, params, report)
        report(total, f"{total} renders done")
        return self._rows(run, order)

    def _plans(self, voices: list[Voice], texts: list[str], params: GenerationParams) -> list[TextPlan]:
        """Each (voice, text) chunked, with the frames per chunk estimated once for all, in one runtime call."""
        pending = [(v, voice_ref(v), t, self.synthesis.chunk_text(t)) for v in voices for t in texts]

        def estimate(engine: Any) -> list[list[int]]:
            return [[int(engine.estimate_frames(vref, c, params.speed)[0]) for c in chunks]
                    for _, vref, _, chunks in pending]

        return [TextPlan(v, vref, t, chunks, frames)
                for (v, vref, t, chunks), frames in zip(pending, self.runtime.call(estimate))]

    def _find_stored(self, run: RenderRun, order: list[int]) -> None:
        """What is stored already (and still on disk) is reused."""
        samples = self.settings.paths.samples
        for gi, g in enumerate(run.groups):
            for n in order:
                row = self.store.get_nfe_render(g.key(n))
                if row is not None and (samples / row.audio_path).exists() and (samples / row.clip_path).exists():
                    run.stored[(gi, n)] = row
        run.done = len(run.stored)
        run.reused_ids = {row.id for row in run.stored.values()}

    def _ref_audio(self, run: RenderRun, gi: int) -> np.ndarray | None:
        if gi not in run.refs and (gi, run.reference_nfe) in run.stored:
            path = self.settings.paths.samples / run.stored[(gi, run.reference_nfe)].audio_path
            run.refs[gi] = read_audio(path, target_sr=None)[0]
        return run.refs.get(gi)

    def _request(self, g: RenderGroup, nfe: int, params: GenerationParams) -> SynthesisRequest:
        index = nfe == INDEXTTS_NFE
        return SynthesisRequest(
            voice=g.plan.vref, chunks=g.plan.chunks, seed=g.seed, text_chars=len(g.text),
            params=GenerationParams(nfe=nfe, cfg_strength=params.cfg_strength, sway_coef=params.sway_coef,
                                    speed=params.speed),
            crossfade_s=self.settings.engine.crossfade_ms / 1000, duration_frames=None if index else g.plan.frames,
            engine=INDEXTTS if index else "", extra={"indextts": IndexTTSOptions()} if index else {}, origin="nfe")

    def _render_wave(self, run: RenderRun, n: int, params: GenerationParams, report: Any) -> None:
        """Render every group still missing at NFE `n`, at most `window` requests in flight (never more than
        half the queue, so live users keep room)."""
        eng = self.settings.engine
        ref_nfe = run.reference_nfe
        todo = [gi for gi in range(len(run.groups)) if (gi, n) not in run.stored]
        if n != ref_nfe:  # a candidate whose reference failed cannot be aligned or scored
            for gi in [gi for gi in todo if (gi, ref_nfe) in run.failed]:
                run.failed[(gi, n)] = "not rendered: its reference render failed"
                todo.remove(gi)
                run.done += 1
        window = max(1, min(eng.max_batch, eng.queue_size // 2))
        waiting, in_flight = list(todo), []
        while waiting or in_flight:
            if waiting and len(in_flight) < window:
                try:
                    in_flight.append((waiting[0], self.runtime.submit(self._request(run.groups[waiting[0]], n,
                                                                                   params))))
                    waiting.pop(0)
                    continue
                except BusyError:
                    if not in_flight:  # the queue is full of other people's requests: wait a moment
                        time.sleep(0.2)
                        continue
            gi, handle = in_flight.pop(0)
            self._collect(run, gi, n, handle, params)
            run.done += 1
            what = "IndexTTS" if n == INDEXTTS_NFE else f"NFE {n}"
            report(run.done, f"{what}: {len(todo) - len(waiting) - len(in_flight)} of {len(todo)} rendered "
                             f"· {run.done} of {run.total} renders done")

    def _collect(self, run: RenderRun, gi: int, n: int, handle: RequestHandle, params: GenerationParams) -> None:
        """Wait for one render, score it against its reference, store it (or note why it failed)."""
        try:
            audio, stats = handle.result(600)
        except USER_ERRORS as exc:
            run.failed[(gi, n)] = f"render failed: {exc}"
            return
        if n == run.reference_nfe:
            run.refs[gi] = audio
        sr = self.runtime.engine.sample_rate
        scored = None if n in (run.reference_nfe, INDEXTTS_NFE) else quality.score(self._ref_audio(run, gi), audio, sr)
        run.stored[(gi, n)] = self._store_render(run.groups[gi], n, params, audio, stats, scored)

    def _store_render(self, g: RenderGroup, nfe: int, params: GenerationParams, audio: np.ndarray, stats: Any,
                      s: quality.QualityScores | None) -> NfeRender:
        """Write a render and its loudness-matched listening clip (atomically), then its row."""
        sr = self.runtime.engine.sample_rate
        samples = self.settings.paths.samples
        rel = Path("nfe") / g.group / f"{nfe}.wav"
        clip_rel = Path("nfe") / g.group / f"{nfe}-clip.wav"
        write_wav_atomic(samples / rel, audio, sr)
        write_wav_atomic(samples / clip_rel, quality.loudness_match(audio, sr), sr)
        key = g.key(nfe)
        self.store.add_nfe_render(
            key=key, group_key=g.group, voice_slug=g.voice.slug, voice_hash=g.plan.vref.content_hash,
            text=g.text, seed=g.seed, nfe=nfe, reference_nfe=g.reference_nfe, speed=params.speed,
            cfg_strength=params.cfg_strength, sway_coef=params.sway_coef, duration_frames=json.dumps(g.plan.frames),
            audio_path=str(rel), clip_path=str(clip_rel), sample_rate=sr, audio_seconds=len(audio) / sr,
            latency_s=stats.latency_s, rtf=stats.rtf, pesq_wb=s.pesq_wb if s else None, stoi=s.stoi if s else None,
            estoi=s.estoi if s else None, error=s.error if s else None, smoke=self.smoke)
        stored = self.store.get_nfe_render(key)
        assert stored is not None  # written just above (or by a concurrent run with the same key)
        return stored

    def _rows(self, run: RenderRun, order: list[int]) -> list[dict[str, Any]]:
        rows = []
        for gi, g in enumerate(run.groups):
            for n in order:
                r = run.stored.get((gi, n))
                base = {"voice": g.voice.name, "text": g.text, "seed": g.seed, "nfe": n,
                        "reference_nfe": run.reference_nfe, "is_reference": n == run.reference_nfe,
                        "engine": INDEXTTS if n == INDEXTTS_NFE else self.runtime.engine.name}
                if r is None:
                    rows.append(dict(base, pesq_wb=None, stoi=None, estoi=None, rtf=None, audio_s=None,
                                     render_id=None, reused=False, error=run.failed.get((gi, n), "not rendered")))
                else:
                    rows.append(dict(base, pesq_wb=r.pesq_wb, stoi=r.stoi, estoi=r.estoi, rtf=r.rtf, error=r.error,
                                     audio_s=r.audio_seconds, render_id=r.id, reused=r.id in run.reused_ids))
        return rows

    def stored_renders(self, reference_nfe: Any = None) -> list[dict[str, Any]]:
        """Every stored render with the given reference NFE (default: the configured one if stored, else the latest
        run's), as rows shaped like `render`'s, so a reloaded page can show them again."""
        every = self.store.list_nfe_renders()
        if not every:
            return []
        if reference_nfe in (None, ""):
            refs = {r.reference_nfe for r in every}
            default = self.reference_default()
            reference_nfe = default if default in refs else every[-1].reference_nfe
        ref = check_nfe(reference_nfe)
        names = {v.slug: v.name for v in self.library.list()}
        return [{"voice": names.get(r.voice_slug, r.voice_slug), "text": r.text, "seed": r.seed,
                 "nfe": r.nfe, "reference_nfe": ref, "is_reference": r.nfe == ref,
                 "engine": INDEXTTS if r.nfe == INDEXTTS_NFE else self.runtime.engine.name,
                 "pesq_wb": r.pesq_wb, "stoi": r.stoi, "estoi": r.estoi, "rtf": r.rtf, "error": r.error,
                 "audio_s": r.audio_seconds, "render_id": r.id, "reused": True}
                for r in every if r.reference_nfe == ref]

    def scores(
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
        return self.render([text], [voice] if voice else [], nfes, reference_nfe, seed, progress)
