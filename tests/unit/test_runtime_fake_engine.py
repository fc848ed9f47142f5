"""The runtime's loop, engine pool and batching on fake engines (no torch model): fast, and each rule checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ishowtts_studio.engines.base import EngineUnavailable, GenerationParams, VoiceRef
from ishowtts_studio.runtime import EngineRuntime, SynthesisError, SynthesisRequest
from tests.helpers import FakeEngine

VOICE = VoiceRef(slug="v", audio_path=Path("v.wav"), transcript="hello", content_hash="0" * 64)
PARAMS = GenerationParams(nfe=8, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)


def request(text: str = "One. Two.", engine: str = "", seed: int = 1) -> SynthesisRequest:
    return SynthesisRequest(voice=VOICE, chunks=[t.strip() + "." for t in text.split(".") if t.strip()],
                            params=PARAMS, seed=seed, engine=engine)


def started(*engines: FakeEngine, **kwargs: object) -> EngineRuntime:
    rt = EngineRuntime(engines[0], extra_engines={e.name: e for e in engines[1:]}, **kwargs)  # type: ignore[arg-type]
    rt.start()
    assert rt.wait_ready(10), rt.message
    return rt


@pytest.fixture
def held() -> Iterator[tuple[threading.Event, list[EngineRuntime]]]:
    """Hold a runtime's worker in an engine call until the event is set, so requests pile up meanwhile."""
    gate, runtimes = threading.Event(), []
    yield gate, runtimes
    gate.set()
    for rt in runtimes:
        rt.stop()


def hold(rt: EngineRuntime, gate: threading.Event) -> None:
    busy = threading.Event()
    threading.Thread(target=rt.call, args=(lambda e: (busy.set(), gate.wait(30)),), daemon=True).start()
    assert busy.wait(10)


def test_requests_waiting_together_share_a_batch_up_to_the_engines_own_limit(held) -> None:
    gate, runtimes = held
    wide, narrow = FakeEngine("wide", max_batch=8), FakeEngine("narrow", max_batch=1)
    rt = started(wide, narrow, max_batch=4, max_loaded=2)
    runtimes.append(rt)
    rt.call(lambda e: None, engine="narrow")  # load it before the hold
    hold(rt, gate)
    handles = [rt.submit(request("Hi.", seed=k)) for k in range(6)]
    handles += [rt.submit(request("Hi.", engine="narrow", seed=k)) for k in range(3)]
    gate.set()
    for h in handles:
        h.result(30)
    assert max(len(b) for b in wide.batches) == 4, "batched, capped by the runtime's max_batch"
    assert [len(b) for b in narrow.batches] == [1, 1, 1], "an engine with max_batch 1 is never batched"


def test_the_pool_keeps_at_most_max_loaded_engines_least_recently_used_out_first(held) -> None:
    _, runtimes = held
    a, b = FakeEngine("a"), FakeEngine("b")
    rt = started(a, b, max_loaded=1)
    runtimes.append(rt)
    assert rt.submit(request(engine="b")).result(30)[0].size > 0
    assert (a.loaded, b.loaded, a.unloads) == (False, True, 1) and rt.pool.loaded_names() == ["b"]
    status = {e["name"]: e["status"] for e in rt.engine_status()}
    assert status == {"a": "ready", "b": "ready"}  # the default reports the runtime's own status
    rt.submit(request()).result(30)
    assert (a.loaded, b.loaded, a.loads) == (True, False, 2)
    assert {e["name"]: e["loaded"] for e in rt.engine_status()} == {"a": True, "b": False}


def test_out_of_memory_while_loading_unloads_the_others_and_retries_once(held) -> None:
    _, runtimes = held
    a, b = FakeEngine("a"), FakeEngine("b")
    rt = started(a, b, max_loaded=2)
    runtimes.append(rt)
    b.fail_load = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    rt.submit(request(engine="b")).result(30)
    assert (a.loaded, b.loaded, a.unloads, b.loads) == (False, True, 1, 1)


def test_a_load_that_fails_otherwise_fails_the_request_and_is_reported(held) -> None:
    _, runtimes = held
    a, b = FakeEngine("a"), FakeEngine("b")
    rt = started(a, b)
    runtimes.append(rt)
    b.fail_load = EngineUnavailable("b's weights are missing: download them")
    with pytest.raises(EngineUnavailable, match="weights are missing"):
        rt.submit(request(engine="b")).result(30)
    assert {e["name"]: e["message"] for e in rt.engine_status()}["b"] == "b's weights are missing: download them"
    assert rt.submit(request()).result(30)[0].size > 0, "the default engine keeps serving"


def test_out_of_memory_on_a_batch_retries_its_jobs_one_at_a_time(held) -> None:
    gate, runtimes = held
    engine = FakeEngine("a")
    rt = started(engine, max_batch=8)
    runtimes.append(rt)
    hold(rt, gate)
    handles = [rt.submit(request("Hi.", seed=k)) for k in range(3)]
    engine.fail_synth = RuntimeError("CUDA out of memory")
    gate.set()
    assert all(h.result(30)[0].size > 0 for h in handles)
    assert [len(b) for b in engine.batches] == [1, 1, 1]


def test_an_engine_error_fails_only_its_request(held) -> None:
    _, runtimes = held
    engine = FakeEngine("a")
    rt = started(engine)
    runtimes.append(rt)
    engine.fail_synth = ValueError("bad tensor")
    with pytest.raises(SynthesisError, match="Synthesis failed .ValueError: bad tensor"):
        rt.submit(request()).result(30)
    audio, stats = rt.submit(request()).result(30)
    assert audio.size > 0 and rt.failed == 1 and rt.completed == 1


def test_estimated_audio_uses_the_engines_hop_length(held) -> None:
    _, runtimes = held
    engine = FakeEngine("a")
    engine.hop_length = 512
    rt = started(engine)
    runtimes.append(rt)
    req = request("Four words right here.")
    _, stats = rt.submit(req).result(30)
    frames = engine.estimate_frames(VOICE, req.chunks[0], 1.0)
    assert stats.estimated_audio_s == pytest.approx((frames[0] - frames[1]) * 512 / engine.sample_rate)


def test_chunks_stream_in_order_joined_by_the_cross_fade(held) -> None:
    _, runtimes = held
    engine = FakeEngine("a")
    rt = started(engine)
    runtimes.append(rt)
    req = request("One two. Three four five.")
    req.crossfade_s = 0.01
    handle = rt.submit(req)
    pieces = list(handle)
    audio, _ = handle.result(30)
    lengths = [(f - engine.ref_frames) * engine.hop_length
               for f in (engine.estimate_frames(VOICE, c, 1.0)[0] for c in req.chunks)]
    fade = int(0.01 * engine.sample_rate)
    assert len(audio) == sum(lengths) - fade == sum(len(p) for p in pieces)
