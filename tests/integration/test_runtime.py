"""The engine runtime with the real F5 engine on the tiny smoke model (CPU): batching, streaming order,
failures that must not take the worker down, missing weights."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ishowtts_studio.engines.base import EngineUnavailable, GenerationParams
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.runtime import EngineRuntime, SynthesisError, SynthesisRequest
from tests.helpers import en_voice, held_worker, smoke_f5

VOICE = en_voice("test-en")
PARAMS = GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineRuntime]:
    rt = EngineRuntime(smoke_f5(tmp_path_factory.mktemp("cache")), queue_size=16, max_batch=8, batch_wait_s=0.05)
    rt.start()
    assert rt.wait_ready(180), rt.message
    yield rt
    rt.stop()


def _request(text: str | list[str], seed: int = 1) -> SynthesisRequest:
    chunks = [text] if isinstance(text, str) else text
    return SynthesisRequest(voice=VOICE, chunks=chunks, params=PARAMS, seed=seed, crossfade_s=0.1)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_streamed_chunks_concatenate_to_the_result(runtime: EngineRuntime) -> None:
    handle = runtime.submit(_request(["First part of the text.", "And the second part follows here."], seed=3))
    pieces = list(handle)
    audio, stats = handle.result()
    assert len(pieces) >= 2, "a two-chunk request streams in several pieces"
    assert np.array_equal(np.concatenate(pieces), audio)
    assert stats.chunks == 2 and stats.ttfa_s <= stats.latency_s
    assert stats.audio_s == pytest.approx(len(audio) / runtime.engine.sample_rate)
    assert stats.rtf == pytest.approx(stats.latency_s / stats.audio_s)


def test_concurrent_requests_are_batched_without_changing_results(runtime: EngineRuntime) -> None:
    texts = ["Short one.", "A somewhat longer sentence for the batch.", "Medium length text here."]
    alone = [runtime.submit(_request(t, seed=10 + i)).result()[0] for i, t in enumerate(texts)]
    with held_worker(runtime):  # all three wait in the queue together
        handles = [runtime.submit(_request(t, seed=10 + i)) for i, t in enumerate(texts)]
    together = [h.result()[0] for h in handles]
    assert max(h.stats.batch_size for h in handles) > 1, "requests waiting together run as one batch"
    for a, b in zip(alone, together):
        assert a.shape == b.shape
        assert _rel(b, a) < 1e-3


def test_engine_failure_fails_only_that_request(runtime: EngineRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = runtime.engine
    real = engine.synthesize
    calls = {"n": 0}

    def failing_once(jobs, on_ready=None):  # fault injection into the real engine: the first batch blows up
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA error: device-side assert triggered (injected)")
        return real(jobs, on_ready=on_ready)

    monkeypatch.setattr(engine, "synthesize", failing_once)
    with pytest.raises(SynthesisError, match="Synthesis failed .*injected.*still running"):
        runtime.submit(_request("This request meets a failing engine.")).result(60)
    audio, stats = runtime.submit(_request("The next request still works.")).result(60)
    assert audio.size > 0 and np.isfinite(audio).all()
    assert runtime.failed >= 1


def test_more_frames_than_the_model_holds_is_refused_with_what_to_change(runtime: EngineRuntime) -> None:
    """A voice whose transcript leaves out most of its clip's words (written to the library by hand or by an old
    version; the studio refuses such transcripts now) stretches every line: past the text embedding's position
    table (8192 frames) the model failed on a shape mismatch with "try again". Now the request is refused, the
    message says why, and the worker keeps serving."""
    from dataclasses import replace

    sparse = replace(VOICE, transcript="Hi.", content_hash="sparse-transcript")
    assert runtime.call(lambda e: e.max_frames()) == 8192
    line = "A sentence of ordinary length, spoken by this voice, and then a few more words after it."
    request = SynthesisRequest(voice=sparse, chunks=[line], params=PARAMS, seed=1)
    with pytest.raises(SynthesisError, match=r"would need \d+ s of audio .*holds at most 87 s.*transcript") as info:
        runtime.submit(request).result(60)
    assert "try again" not in str(info.value)
    audio, _ = runtime.submit(_request("The next request still works.")).result(60)
    assert audio.size > 0 and np.isfinite(audio).all()


def test_out_of_memory_on_a_batch_retries_one_by_one(runtime: EngineRuntime,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    engine = runtime.engine
    real = engine.synthesize
    sizes: list[int] = []

    def no_memory_for_batches(jobs, on_ready=None):
        sizes.append(len(jobs))
        if len(jobs) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real(jobs, on_ready=on_ready)

    monkeypatch.setattr(engine, "synthesize", no_memory_for_batches)
    with held_worker(runtime):
        handles = [runtime.submit(_request(f"Request number {i} in the batch.", seed=i)) for i in range(3)]
    results = [h.result(60)[0] for h in handles]
    assert max(sizes) > 1 and sizes.count(1) >= 3, f"batch tried, then one by one: {sizes}"
    assert all(r.size > 0 for r in results)


def test_missing_weights_leave_a_clear_unavailable_status(tmp_path: Path) -> None:
    engine = F5Engine(checkpoint=str(tmp_path / "nope.safetensors"), vocab=str(tmp_path / "vocab.txt"),
                      vocoder=str(tmp_path / "vocos"), device="cpu", cache_dir=tmp_path / "cache")
    rt = EngineRuntime(engine)
    rt.start()
    assert rt.wait_ready(60) is False
    assert rt.status == "unavailable"
    assert "f5.checkpoint" in rt.message and "nope.safetensors" in rt.message
    with pytest.raises(EngineUnavailable, match="f5.checkpoint"):
        rt.submit(_request("Anything."))
    rt.stop()


def test_offline_hub_id_says_how_to_get_the_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    engine = F5Engine(checkpoint="hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors",
                      vocab="hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt", vocoder="hf://charactr/vocos-mel-24khz",
                      device="cpu", cache_dir=tmp_path / "cache")
    with pytest.raises(EngineUnavailable) as err:
        engine.load()
    message = str(err.value)
    assert "hf download SWivid/F5-TTS F5TTS_v1_Base/model_1250000.safetensors" in message
    assert "--smoke" in message and "f5.checkpoint" in message


def test_engine_calls_never_take_a_place_in_the_request_queue(tmp_path: Path) -> None:
    """Housekeeping calls (metrics, voice preparation) wait on their own channel: with a queue of one,
    a user's request still gets the place while such calls are pending."""
    rt = EngineRuntime(smoke_f5(tmp_path / "cache"), queue_size=1, max_batch=1)
    rt.start()
    try:
        assert rt.wait_ready(180), rt.message
        with held_worker(rt):
            calls = [threading.Thread(target=rt.call, args=(lambda e: e.cache_stats(),)) for _ in range(3)]
            for t in calls:
                t.start()
            handle = rt.submit(_request("A user's request still fits."))
        for t in calls:
            t.join(30)
        audio, _ = handle.result(60)
        assert audio.size > 0
    finally:
        rt.stop()
