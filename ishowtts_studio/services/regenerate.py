"""Regenerate one sentence of a history take: re-render sentence i with a new seed in the same voice, NFE, speed
and CFG, splice it into the take with `audio.crossfade_concat`, and save the result as a new take.

Where each sentence sits in the take is worked out, not stored: a take is its sentences (`chunk_for_engine` of
its text, chunk j rendered with seed + j) joined by the runtime's streaming cross-fade, and each sentence's
length follows from the engine's duration rule. The positions are trusted only when they add up to the take's
exact length; otherwise (trimmed silences, a re-cloned voice, changed chunk settings) the take is refused with
a message rather than cut in the wrong place. The splice keeps the neighbours' audio up to where their old
cross-fade with the sentence began and ended, and cross-fades the new sentence in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ishowtts_studio.audio import crossfade_concat, read_audio
from ishowtts_studio.engines.base import GenerationParams
from ishowtts_studio.request import SynthesisRequest
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import SEED_MAX, check_seed
from ishowtts_studio.services.voices import voice_ref
from ishowtts_studio.validation import brief
from ishowtts_studio.voices import VoiceError, VoiceNotFound

if TYPE_CHECKING:
    from ishowtts_studio.services.synthesis import SynthesisOutcome, SynthesisService

NOTE_KEY = "history.regenerated.{}"  # preference key of a take's "which sentence was regenerated" note


@dataclass(frozen=True)
class Placement:
    """Where sentence i sits in a take (sample indices): `start` is where it begins to fade in over sentence
    i-1, `end` where sentence i+1 has fully faded in; the audio before `start` and after `end` is untouched."""

    start: int
    end: int


def join_placements(lengths: list[int], fade: int) -> tuple[list[Placement], int]:
    """Each chunk's placement in the runtime's streaming join (`runtime._Active.emit_ready`: the tail of chunk i,
    at most `fade` samples and half the chunk, cross-fades with the head of chunk i+1, at most half of it), and
    the joined length."""
    begins, fades = [], []
    pos, tail = 0, 0
    last = len(lengths) - 1
    for i, n in enumerate(lengths):
        f = min(tail, n // 2) if tail else 0
        pos += tail - f  # the tail's part before the cross-fade
        begins.append(pos)  # chunk i's first sample mixes in here
        fades.append(f)
        if i < last and fade > 0:
            keep = min(fade, (n - f) // 2)
            pos += n - keep  # the cross-fade itself (f) and the body up to the new tail
            tail = keep
        else:
            pos += n
            tail = 0
    placements = []
    for i in range(len(lengths)):
        after = begins[i + 1] + fades[i + 1] if i < last else pos
        placements.append(Placement(start=begins[i], end=after))
    return placements, pos


def check_sentence(sentence: Any, count: int) -> int:
    """A 1-based sentence number as a 0-based index, or an InputError naming the range."""
    try:
        f = float(sentence)
    except (TypeError, ValueError):
        raise InputError(f"Pick a sentence from 1 to {count}.") from None
    if isinstance(sentence, bool) or not f.is_integer() or not 1 <= f <= count:
        raise InputError(f"Pick a sentence from 1 to {count}, not {brief(sentence)}.")
    return int(f) - 1


def regenerate_sentence(service: SynthesisService, history_id: int, sentence: Any,
                        seed: Any = None) -> SynthesisOutcome:
    """The take `history_id` with sentence `sentence` (1-based) re-rendered with `seed` (None = a new random one,
    never the sentence's old seed), saved as a new take; the old take is kept."""
    rec = service.store.get_synthesis(history_id)
    if rec is None:
        raise InputError(f"No history entry {history_id}: it may have been deleted.")
    if rec.engine == "indextts":
        raise InputError("Regenerating one sentence works for F5-TTS takes only: IndexTTS has no seed per "
                         "sentence. Make the whole take again with 'Use these settings'.")
    chunks = service.chunk_text(rec.text)
    index = check_sentence(sentence, len(chunks))
    old_seed = ((rec.seed or 0) + index) % (2**31)
    new_seed = check_seed(seed)
    if seed in (None, "") or (isinstance(seed, (int, float)) and seed < 0):
        while new_seed == old_seed:  # "a new seed" means a different take of the sentence
            new_seed = (new_seed + 1) % (SEED_MAX + 1)
    try:
        voice = service.library.get(rec.voice_slug)
    except VoiceNotFound:
        raise InputError(f"The voice of this take ({brief(rec.voice_name)}) is not in the library any more; one "
                         "sentence can only be made again in it. Add the voice again, or make the whole text again "
                         "in another voice.") from None
    except VoiceError as exc:  # broken: the message says how to repair it
        raise InputError(str(exc)) from None
    ref = voice_ref(voice)
    engine = service.runtime.engines[rec.engine]
    audio, sr = read_audio(service.history_audio(history_id), target_sr=None)
    if sr != engine.sample_rate:
        raise InputError("This take's sample rate is not the engine's: make the whole take again instead.")
    estimates = service.runtime.call(lambda e: [e.estimate_frames(ref, t, rec.speed) for t in chunks],
                                     engine=rec.engine)
    fade_s = service.settings.engine.crossfade_ms / 1000
    params = GenerationParams(nfe=rec.nfe, speed=rec.speed, cfg_strength=rec.cfg_strength,
                              sway_coef=service.settings.engine.sway_coef)
    # the sentence keeps its old duration (duration_frames), so it fits where the old one was
    request = SynthesisRequest(voice=ref, chunks=[chunks[index]], params=params, seed=new_seed,
                               text_chars=len(chunks[index]), crossfade_s=fade_s, engine=rec.engine,
                               duration_frames=[estimates[index][0]], origin=rec.origin or "ui")
    new, stats = service.runtime.submit(request).result(600)
    # a chunk of F frames comes out of the vocoder a fixed few samples short of F * hop; the new sentence shows
    # by how much, and the same holds for every sentence of the take
    frames = [(total - ref_frames) * engine.hop_length for total, ref_frames in estimates]
    short = frames[index] - len(new)
    placements, joined = join_placements([n - short for n in frames], int(fade_s * sr))
    if joined != audio.shape[0]:
        raise InputError("This take's sentences cannot be located exactly (it was trimmed with 'Remove long "
                         "silences', or its voice or the chunk settings changed since), so one sentence cannot be "
                         "replaced. Make the whole take again with 'Use these settings'.")
    place = placements[index]
    spliced = crossfade_concat([audio[:place.start], np.asarray(new, np.float32), audio[place.end:]], sr, fade_s)
    # the new take keeps the take's own seed (the other sentences' seeds follow from it); the note says which
    # sentence was made again and with which seed
    saved_request = SynthesisRequest(voice=ref, chunks=chunks, params=params, seed=rec.seed or 0,
                                     text_chars=len(rec.text), crossfade_s=fade_s, engine=rec.engine,
                                     origin=rec.origin or "ui")
    outcome = service.save_history(rec.text, voice, saved_request, spliced, stats, remove_silence=False)
    note = {"from_take": history_id, "sentence": index + 1, "sentences": len(chunks), "seed": new_seed}
    service.store.set_pref(NOTE_KEY.format(outcome.history_id), note)
    outcome.stats.update(regenerated=note)
    return outcome


def regeneration_note(service: SynthesisService, history_id: int) -> dict[str, Any] | None:
    note = service.store.get_pref(NOTE_KEY.format(history_id))
    return note if isinstance(note, dict) else None
