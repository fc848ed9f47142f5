"""The batch window (`engine.batch_wait_ms`) holds back only requests that arrive together: a request that comes
alone, one that waited behind a busy worker, and the later chunks of a long text start at once (tiny smoke F5 model
on the CPU, the real runtime). The window here is 6 s, far longer than any of these requests takes (a full batch of
eight took 2.6 s on a CI machine busy with other tests), so waiting for it or not is plain in the latencies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ishowtts_studio.engines.base import GenerationParams
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest
from tests.helpers import en_voice, held_worker, smoke_f5

VOICE = en_voice("window-en")
PARAMS = GenerationParams(nfe=2, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
WINDOW_S = 6.0


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineRuntime]:
    engine = smoke_f5(tmp_path_factory.mktemp("cache"))
    rt = EngineRuntime(engine, queue_size=8, max_batch=8, batch_wait_s=WINDOW_S)
    rt.start()
    assert rt.wait_ready(180), rt.message
    rt.submit(SynthesisRequest(voice=VOICE, chunks=["Warm the voice up."], params=PARAMS, seed=0)).result(120)
    yield rt
    rt.stop()


def _request(chunks: list[str], seed: int) -> SynthesisRequest:
    return SynthesisRequest(voice=VOICE, chunks=chunks, params=PARAMS, seed=seed)


def test_a_request_that_arrives_alone_starts_at_once(runtime: EngineRuntime) -> None:
    time.sleep(0.3)  # the worker is idle, waiting for work
    _, stats = runtime.submit(_request(["Hello chat, one line."], seed=1)).result(60)
    assert stats.batch_size == 1
    assert stats.latency_s < WINDOW_S / 2, f"a lone request waited for the batch window: {stats.latency_s:.2f} s"


def test_a_request_that_waited_behind_a_busy_worker_starts_when_it_is_free(runtime: EngineRuntime) -> None:
    with held_worker(runtime):
        handle = runtime.submit(_request(["Queued behind other work."], seed=2))
        time.sleep(0.2)
        released = time.perf_counter()
    _, stats = handle.result(60)
    finished = handle.submitted + stats.latency_s
    assert stats.batch_size == 1
    assert finished - released < WINDOW_S / 2, "it waited one more window after the worker was free"


def test_each_chunk_of_a_long_text_follows_the_one_before_without_a_pause(runtime: EngineRuntime) -> None:
    chunks = ["The first chunk of a long text.", "Then a second one.", "And a third chunk to end it."]
    audio, stats = runtime.submit(_request(chunks, seed=3)).result(60)
    assert stats.chunks == 3 and audio.size > 0
    # before, the worker waited one window for company before each later chunk's batch: 2 x 6 s at least
    assert stats.latency_s < WINDOW_S, f"the chunks paused between batches: {stats.latency_s:.2f} s"


def test_requests_that_arrive_together_share_a_batch_and_stragglers_join_it(runtime: EngineRuntime) -> None:
    with held_worker(runtime):  # two arrive together while the worker is busy
        first = runtime.submit(_request(["A burst, line one."], seed=4))
        second = runtime.submit(_request(["A burst, line two is longer."], seed=5))
    time.sleep(0.3)  # well inside the window counted from the first one's arrival
    third = runtime.submit(_request(["And a straggler."], seed=6))
    sizes = [h.result(60)[1].batch_size for h in (first, second, third)]
    assert sizes == [3, 3, 3], f"the burst and its straggler ran as batches of {sizes}"


def test_a_burst_that_fills_a_batch_does_not_wait_out_the_window(runtime: EngineRuntime) -> None:
    with held_worker(runtime):  # a full batch's worth (max_batch 8) arrives together
        handles = [runtime.submit(_request([f"Line {i} of a full burst."], seed=10 + i)) for i in range(8)]
        released = time.perf_counter()
    stats = [h.result(60)[1] for h in handles]
    assert [st.batch_size for st in stats] == [8] * 8
    finished = max(h.submitted + st.latency_s for h, st in zip(handles, stats))
    assert finished - released < WINDOW_S / 2, "a full batch waited for company it had no room for"


def test_a_zero_window_still_batches_what_waits_together(tmp_path: Path) -> None:
    engine = smoke_f5(tmp_path / "cache")
    rt = EngineRuntime(engine, queue_size=8, max_batch=8, batch_wait_s=0.0)
    rt.start()
    try:
        assert rt.wait_ready(180), rt.message
        with held_worker(rt):
            handles = [rt.submit(_request([f"Waiting together, number {i}."], seed=i)) for i in range(3)]
        assert [h.result(60)[1].batch_size for h in handles] == [3, 3, 3]
    finally:
        rt.stop()
