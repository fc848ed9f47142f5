"""A batch of requests of different lengths streams each one as soon as its own audio is ready, shortest first,
instead of all at the end of the batch (tiny smoke F5 model on the CPU, the real runtime)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ishowtts_studio.engines.base import ChunkJob, GenerationParams
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest
from tests.helpers import en_voice, held_worker, smoke_f5

VOICE = en_voice("delivery-en")
PARAMS = GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
SHORT = "Hi chat!"
LONG = "This message is a good deal longer than the first one, so the engine spends more time on it. " * 2


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineRuntime]:
    engine = smoke_f5(tmp_path_factory.mktemp("cache"))
    rt = EngineRuntime(engine, queue_size=8, max_batch=8, batch_wait_s=0.5)
    rt.start()
    assert rt.wait_ready(180), rt.message
    yield rt
    rt.stop()


def test_short_request_of_a_batch_is_done_before_the_long_one(runtime: EngineRuntime) -> None:
    with held_worker(runtime):  # both wait in the queue together, as a burst
        long_h = runtime.submit(SynthesisRequest(voice=VOICE, chunks=[LONG], params=PARAMS, seed=1))
        short_h = runtime.submit(SynthesisRequest(voice=VOICE, chunks=[SHORT], params=PARAMS, seed=2))
    long_audio, long_st = long_h.result(timeout=120)
    short_audio, short_st = short_h.result(timeout=120)
    assert long_st.batch_size == short_st.batch_size == 2  # sampled in one batch
    assert len(short_audio) < len(long_audio) / 3
    # the long request was submitted first, yet the short one finished while the long one was still sampled
    short_done = short_h.submitted + short_st.latency_s
    long_done = long_h.submitted + long_st.latency_s
    assert long_done - short_done > 0.3 * (long_st.latency_s - long_st.queue_wait_s)


def test_each_job_is_handed_over_once_with_the_audio_the_batch_returns(runtime: EngineRuntime) -> None:
    texts = [SHORT, LONG, "A middle sized line for the chat.", SHORT + " again"]
    jobs = [ChunkJob(voice=VOICE, text=t, params=PARAMS, seed=i) for i, t in enumerate(texts)]
    heard: list[tuple[int, np.ndarray]] = []
    out = runtime.call(lambda eng: eng.synthesize(jobs, on_ready=lambda i, a: heard.append((i, a.audio))))
    assert sorted(i for i, _ in heard) == [0, 1, 2, 3]
    lengths = [len(a) for _, a in heard]
    assert lengths == sorted(lengths)  # shortest first
    for i, audio in heard:
        assert np.array_equal(audio, out[i].audio)
    alone = runtime.call(lambda eng: eng.synthesize(jobs[2:3]))[0]
    assert np.allclose(alone.audio, out[2].audio, atol=1e-5)  # grouping does not change a job's audio
