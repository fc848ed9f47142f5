"""The services over a runtime with a FakeEngine (no torch model): each tab's service end to end, fast.

Real parts: a SQLite file, the voice library on disk with the f5-tts example clips, the real runtime thread;
only the engine is the tests' FakeEngine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf

from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.services.ab import AbService
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.nfe import NfeService
from ishowtts_studio.services.preferences import Preferences
from ishowtts_studio.services.synthesis import SynthesisService
from ishowtts_studio.services.voices import VoiceService
from ishowtts_studio.settings import load_settings
from ishowtts_studio.store import Store
from ishowtts_studio.transcribe import Transcriber
from ishowtts_studio.voices import VoiceLibrary
from tests.helpers import NO_LISTEN_WAIT_S, FakeEngine


@dataclass
class Services:
    engine: FakeEngine
    runtime: EngineRuntime
    store: Store
    voices: VoiceService
    synthesis: SynthesisService
    nfe: NfeService
    ab: AbService
    samples: Path


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    root = tmp_path_factory.mktemp("services")
    settings = load_settings(None, overrides={
        "paths.voices": str(root / "v"), "paths.samples": str(root / "s"),
        "paths.database": str(root / "s" / "db.sqlite"), "paths.cache": str(root / "cache"),
        "engine.max_batch": 4, "engine.queue_size": 8, "nfe.listen_slack_s": NO_LISTEN_WAIT_S,  # votes at once
    })
    store = Store(settings.paths.database_url)
    library = VoiceLibrary(settings.paths.voices)
    library.seed_defaults()
    engine = FakeEngine("f5")  # registered under the default engine's name, as the studio does
    runtime = EngineRuntime(engine, queue_size=8, max_batch=4)
    runtime.start()
    assert runtime.wait_ready(10)
    prefs = Preferences(settings, store)
    synthesis = SynthesisService(settings, library, store, runtime, prefs)
    voices = VoiceService(settings, library, store, runtime, Transcriber(None), synthesis)
    nfe = NfeService(settings, library, store, runtime, synthesis, prefs, smoke=True)
    yield Services(engine, runtime, store, voices, synthesis, nfe, AbService(settings, store, nfe, smoke=True),
                   settings.paths.samples)
    runtime.stop()
    store.close()


def test_synthesis_streams_and_saves_the_take_with_its_history_row(svc: Services) -> None:
    voice = svc.voices.voice_names()[0]
    live = svc.synthesis.start("Hello there. This is a second sentence.", voice, nfe=8, seed=3)
    pieces = list(live)
    outcome = live.finish()
    audio, sr = sf.read(str(outcome.wav_path))
    assert sr == svc.engine.sample_rate and len(audio) == sum(len(p) for p in pieces) > 0
    row = svc.synthesis.history_entry(outcome.history_id)
    assert (row["nfe"], row["seed"], row["voice_name"], row["engine"]) == (8, 3, voice, "f5")
    # a seed typed as text is taken like an NFE typed as text
    typed = svc.synthesis.start("Hello.", voice, nfe="8", seed=" 12 ")
    assert typed.seed == 12
    typed.finish()
    assert svc.synthesis.history_audio(outcome.history_id) == outcome.wav_path.resolve()
    assert svc.voices.list_voices()[0]["times_used"] >= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"nfe": 0}, "NFE 0 is out of range: use 1 to 64"),
    ({"nfe": 2.5}, "NFE must be a whole number"),
    ({"speed": 9}, "Speed 9 is out of range"),
    ({"cfg_strength": "x"}, "CFG strength must be a number"),
    ({"seed": 1.5}, "Seed must be a whole number"),
    ({"seed": True}, "Seed must be a whole number"),  # a boolean is not seed 1
    ({"seed": float("-inf")}, "Seed must be a whole number"),  # nor is minus infinity "random"
    ({"seed": "-5.5"}, "Seed must be a whole number"),
    ({"speed": True}, "Speed must be a number"),
    ({"engine": "tortoise"}, "Unknown engine 'tortoise'"),
    ({"indextts": {"temperature": 1}}, "IndexTTS options were given but the engine is F5-TTS"),
])
def test_bad_synthesis_input_is_refused_before_anything_is_queued(svc: Services, kwargs: dict, message: str) -> None:
    before = svc.runtime.completed + svc.runtime.failed
    with pytest.raises(InputError, match=message):
        svc.synthesis.start("Hello.", svc.voices.voice_names()[0], **kwargs)
    with pytest.raises(InputError, match="Pick a voice first"):
        svc.synthesis.start("Hello.", "")
    assert svc.runtime.completed + svc.runtime.failed == before and svc.runtime.queue_depth() == 0


def test_nfe_renders_are_aligned_stored_reused_and_paired_for_blind_trials(svc: Services) -> None:
    voice = svc.voices.voice_names()[0]
    rows = svc.nfe.render(["Hello there."], [voice], "4, 6", 8, "0")
    assert [(r["nfe"], r["is_reference"], r["reused"]) for r in rows] == [(8, True, False), (4, False, False),
                                                                       (6, False, False)]
    lengths = {sf.info(str(svc.samples / svc.store.get_nfe_render_by_id(r["render_id"]).audio_path)).frames
               for r in rows}
    assert len(lengths) == 1, "every NFE render has its reference's duration"
    done = svc.runtime.completed
    again = svc.nfe.render(["Hello there."], [voice], [4, 6], 8, 0)
    assert all(r["reused"] for r in again) and svc.runtime.completed == done
    trial, a, b = svc.ab.next_trial("Rita")
    assert a.is_file() and b.is_file() and a != b  # the pages get fresh hand-outs of these (served_files.py)
    assert svc.ab.next_trial("Rita")[0] == trial, "an open trial is handed back, not a new mapping"
    revealed = svc.ab.vote(trial, "Rita", "tie", 3.0)
    assert {revealed["a_nfe"], revealed["b_nfe"]} <= {4, 6, 8} and revealed["reference_nfe"] == 8
    with pytest.raises(InputError, match="already been voted"):
        svc.ab.vote(trial, "Rita", "A")
    assert svc.ab.results(8, boot=10)["total_votes"] == 1
    assert {v["trial_id"] for v in svc.ab.export()["votes"]} == {trial}


@pytest.mark.parametrize("args, message", [
    ((["Hi."], [], [4], 8, 0), "Pick at least one voice"),
    (([], None, [4], 8, 0), "Pick at least one sentence"),
    ((["Hi."], None, [8], 8, 0), "different from the reference"),
    ((["Hi."], None, [4], 8, -1), "fixed seeds"),
    ((["Hi."], None, "4, x", 8, 0), "Candidate NFEs must be whole numbers"),
    ((["Hi."], None, [4], 8, list(range(17))), "Too many seeds"),
])
def test_bad_nfe_requests_are_refused_before_rendering(svc: Services, args: tuple, message: str) -> None:
    texts, voices, nfes, ref, seeds = args
    voices = [svc.voices.voice_names()[0]] if voices is None else voices
    before = svc.runtime.completed
    with pytest.raises(InputError, match=message):
        svc.nfe.render(texts, voices, nfes, ref, seeds)
    assert svc.runtime.completed == before
