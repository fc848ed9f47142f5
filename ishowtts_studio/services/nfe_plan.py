"""Render planning for NFE compare, as pure functions over a typed `RenderGroup` (no runtime, no store).

A group is one (voice, text, seed): it is rendered at the reference NFE and at every candidate with the same
seed and the same frames per chunk, so the signals are aligned. Keys hash everything that shapes the audio,
so a stored render is found again by a later run that asks for the same thing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ishowtts_studio.engines.base import GenerationParams, VoiceRef
from ishowtts_studio.voices import Voice

# NFE value that marks an IndexTTS render in an NFE comparison group: the cross-engine A/B pairs it with the F5-TTS
# reference render of the same voice, text and seed (IndexTTS has no ODE steps; never a candidate NFE)
INDEXTTS_NFE = 0


def render_label(nfe: int) -> str:
    """How a render is named once revealed: 'IndexTTS' for the cross-engine render, else 'NFE n'."""
    return "IndexTTS" if nfe == INDEXTTS_NFE else f"NFE {nfe}"


@dataclass(frozen=True)
class TextPlan:
    """One (voice, text) with its chunks and the frames per chunk every render of it uses."""

    voice: Voice
    vref: VoiceRef
    text: str
    chunks: list[str]
    frames: list[int]


@dataclass(frozen=True)
class RenderGroup:
    """One (voice, text, seed) rendered at the reference and every candidate NFE."""

    plan: TextPlan
    seed: int
    ident: str  # everything that shapes the audio but the NFEs
    group: str  # folder name and group key: ident + reference NFE, hashed
    reference_nfe: int

    @property
    def voice(self) -> Voice:
        return self.plan.voice

    @property
    def text(self) -> str:
        return self.plan.text

    def key(self, nfe: int) -> str:
        """The stored render's key at `nfe`."""
        return hashlib.sha256(f"{self.ident}|{self.reference_nfe}|{nfe}".encode()).hexdigest()[:32]


def plan_groups(plans: list[TextPlan], seeds: list[int], reference_nfe: int, params: GenerationParams, *,
                engine: str, smoke: bool, crossfade_ms: float) -> list[RenderGroup]:
    """Every (voice, text) plan at every seed, in that order."""
    groups = []
    for p in plans:
        for seed in seeds:
            ident = json.dumps([p.vref.content_hash, p.text, seed, params.cfg_strength, params.sway_coef,
                                params.speed, p.frames, engine, smoke, crossfade_ms], ensure_ascii=False)
            group = hashlib.sha256(f"{ident}|{reference_nfe}".encode()).hexdigest()[:24]
            groups.append(RenderGroup(p, seed, ident, group, reference_nfe))
    return groups


def waves(reference_nfe: int, candidates: list[int], cross_engine: bool) -> list[int]:
    """The order renders go through the runtime: the reference first (candidates are scored against it),
    then each candidate, then IndexTTS."""
    return [reference_nfe, *candidates] + ([INDEXTTS_NFE] if cross_engine else [])
