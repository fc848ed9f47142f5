"""The chunk scheduling policy (pure: plain values in, a batch out) and the runtime that follows it."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from ishowtts_studio.chunk_schedule import PendingChunk, chunk_deadlines, pick_batch

KEY = ("f5", 8, 2.0, -1.0)
OTHER = ("f5", 16, 2.0, -1.0)


def _request(owner: int, start: float, seconds: list[float], done: int = 0, key: Any = KEY) -> list[PendingChunk]:
    """The jobs of a request whose first `done` chunks are computed already."""
    due = chunk_deadlines(start, seconds)
    return [PendingChunk(owner, i, key, due[i]) for i in range(done, len(seconds))]


def test_deadlines_follow_the_audio_before_each_chunk() -> None:
    assert chunk_deadlines(10.0, [1.5, 2.0, 3.0]) == [10.0, 11.5, 13.5]
    assert chunk_deadlines(0.0, []) == []


def test_one_playing_request_gets_chunk_two_alone_not_with_the_rest() -> None:
    # chunk 1 is out; chunks 2..5 wait: the batch is chunk 2 only, though eight would fit
    batch = pick_batch(_request(0, 100.0, [1.0, 3.0, 3.0, 3.0, 3.0], done=1), lambda k: 8)
    assert [(p.owner, p.index) for p in batch] == [(0, 1)]


def test_next_chunks_of_several_requests_share_a_batch_in_deadline_order() -> None:
    pending = (_request(0, 100.0, [2.0, 2.0, 2.0], done=1)      # chunk 1 due at 102
               + _request(1, 99.0, [1.0, 2.0, 2.0], done=1)     # chunk 1 due at 100 (more urgent)
               + _request(2, 101.5, [2.0, 2.0]))                 # new request: first audio due at 101.5
    batch = pick_batch(pending, lambda k: 8)
    assert [(p.owner, p.index) for p in batch] == [(1, 1), (2, 0), (0, 1)]
    assert [(p.owner, p.index) for p in pick_batch(pending, lambda k: 2)] == [(1, 1), (2, 0)]


def test_a_starving_stream_goes_before_a_new_request() -> None:
    # request 0 played its first 1 s of audio long ago: its chunk 1 is overdue, more urgent than new work
    pending = _request(0, 50.0, [1.0, 2.0], done=1) + _request(1, 60.0, [2.0])
    assert [(p.owner, p.index) for p in pick_batch(pending, lambda k: 1)] == [(0, 1)]


def test_only_the_urgent_key_is_batched_and_the_engine_limit_holds() -> None:
    pending = _request(0, 10.0, [1.0], key=OTHER) + _request(1, 11.0, [1.0]) + _request(2, 12.0, [1.0], key=OTHER)
    batch = pick_batch(pending, lambda k: 8)
    assert [(p.owner, p.key) for p in batch] == [(0, OTHER), (2, OTHER)]
    assert len(pick_batch(pending, lambda k: 1)) == 1
    assert len(pick_batch(pending, lambda k: 0)) == 1  # a bad limit still makes progress
    assert pick_batch([], lambda k: 8) == []


# ---- the runtime follows the policy (real smoke engine, batches recorded as they run) ----------------
EN_WAV = Path(str(files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav")))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[list[tuple[str, int]]]]]:
    from ishowtts_studio.engines.f5 import F5Engine
    from ishowtts_studio.runtime import EngineRuntime

    engine = F5Engine(checkpoint="", vocab="", vocoder="", device="cpu", cache_dir=tmp_path_factory.mktemp("cache"),
                      random_weights="smoke")
    batches: list[list[tuple[str, int]]] = []
    real = engine.synthesize

    def synthesize(jobs: list[Any]) -> list[Any]:  # the real engine, with each batch's (text, seed) written down
        batches.append([(j.text, j.seed) for j in jobs])
        return real(jobs)

    engine.synthesize = synthesize  # type: ignore[method-assign]
    rt = EngineRuntime(engine, queue_size=8, max_batch=8, batch_wait_s=0.05)
    rt.start()
    assert rt.wait_ready(180), rt.message
    yield rt, batches
    rt.stop()


def test_runtime_streams_a_long_request_one_chunk_at_a_time(recorded: tuple[Any, list[Any]]) -> None:
    from ishowtts_studio.engines.base import GenerationParams, VoiceRef
    from ishowtts_studio.runtime import SynthesisRequest

    rt, batches = recorded
    voice = VoiceRef(slug="en", audio_path=EN_WAV, transcript="Some call me nature, others call me mother nature.",
                     content_hash="sched-en")
    chunks = ["First part.", "The second part comes next.", "A third part follows it.", "And the fourth ends it."]
    batches.clear()
    handle = rt.submit(SynthesisRequest(voice=voice, chunks=chunks, seed=5, crossfade_s=0.05,
                                        params=GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)))
    pieces = list(handle)  # the stream ends (no hang, no error) once the last chunk is out
    audio, stats = handle.result(5)
    assert pieces and stats.chunks == 4 and len(audio) > 0
    # before the fix: [chunk 1], then [chunks 2, 3, 4] in one batch, so playback waited for all three
    assert [[text for text, _ in b] for b in batches] == [[c] for c in chunks]
