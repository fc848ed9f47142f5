"""The runtime follows the chunk scheduling policy: real smoke engine, batches recorded as they run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import en_voice, smoke_f5

# ---- the runtime follows the policy (real smoke engine, batches recorded as they run) ----------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[list[tuple[str, int]]]]]:
    from ishowtts_studio.runtime import EngineRuntime

    engine = smoke_f5(tmp_path_factory.mktemp("cache"))
    batches: list[list[tuple[str, int]]] = []
    real = engine.synthesize

    def synthesize(jobs: list[Any], on_ready: Any = None) -> list[Any]:  # the real engine, each batch written down
        batches.append([(j.text, j.seed) for j in jobs])
        return real(jobs, on_ready=on_ready)

    engine.synthesize = synthesize  # type: ignore[method-assign]
    rt = EngineRuntime(engine, queue_size=8, max_batch=8, batch_wait_s=0.05)
    rt.start()
    assert rt.wait_ready(180), rt.message
    yield rt, batches
    rt.stop()


def test_runtime_streams_a_long_request_one_chunk_at_a_time(recorded: tuple[Any, list[Any]]) -> None:
    from ishowtts_studio.engines.base import GenerationParams
    from ishowtts_studio.runtime import SynthesisRequest

    rt, batches = recorded
    voice = en_voice("sched-en")
    chunks = ["First part.", "The second part comes next.", "A third part follows it.", "And the fourth ends it."]
    batches.clear()
    handle = rt.submit(SynthesisRequest(voice=voice, chunks=chunks, seed=5, crossfade_s=0.05,
                                        params=GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)))
    pieces = list(handle)  # the stream ends (no hang, no error) once the last chunk is out
    audio, stats = handle.result(5)
    assert pieces and stats.chunks == 4 and len(audio) > 0
    # before the fix: [chunk 1], then [chunks 2, 3, 4] in one batch, so playback waited for all three
    assert [[text for text, _ in b] for b in batches] == [[c] for c in chunks]
