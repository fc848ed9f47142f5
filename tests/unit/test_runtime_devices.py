"""Several device workers behind one runtime (`DeviceRuntimes`), on fake engines on the CPU: routing by least
queued audio, both workers used under load, a failing or out-of-memory worker leaves the other serving,
streaming, cancellation, back-pressure and engine calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ishowtts_studio.engine_factory import build_runtime
from ishowtts_studio.engines.base import GenerationParams, VoiceRef
from ishowtts_studio.request import BusyError, SynthesisError, SynthesisRequest
from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.runtime_devices import DeviceRuntimes
from tests.helpers import FakeEngine

VOICE = VoiceRef(slug="v", audio_path=Path("v.wav"), transcript="hello", content_hash="0" * 64)
PARAMS = GenerationParams(nfe=8, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)


def request(text: str = "One. Two.", engine: str = "", seed: int = 1) -> SynthesisRequest:
    chunks = [t.strip() + "." for t in text.split(".") if t.strip()]
    # text_chars left at 0, as the benchmark leaves it: routing must estimate from the chunks themselves
    return SynthesisRequest(voice=VOICE, chunks=chunks, params=PARAMS, seed=seed, engine=engine)


@pytest.fixture
def runtimes() -> Iterator[list[DeviceRuntimes | EngineRuntime]]:
    made: list[DeviceRuntimes | EngineRuntime] = []
    yield made
    for rt in made:
        rt.stop()


def two_cpu(runtimes: list, *engines: FakeEngine, extra: FakeEngine | None = None, **kwargs: object
            ) -> DeviceRuntimes:
    pending = iter(engines)
    extras = {extra.name: extra} if extra else None
    rt = build_runtime(["cpu", "cpu"], lambda device: next(pending), extra_engines=extras, **kwargs)
    assert isinstance(rt, DeviceRuntimes)
    runtimes.append(rt)
    rt.start()
    rt.wait_ready(10)
    return rt


def hold_all(rt: DeviceRuntimes, gate: threading.Event) -> None:
    """Keep every worker in an engine call until `gate` is set, so submitted requests stay queued."""
    for worker in rt.workers:
        busy = threading.Event()
        threading.Thread(target=worker.call, args=(lambda e, b=busy: (b.set(), gate.wait(30)),), daemon=True).start()
        assert busy.wait(10)


def test_one_device_builds_the_plain_runtime_and_several_build_one_worker_each(runtimes) -> None:
    single = build_runtime(["cpu"], lambda d: FakeEngine())
    assert type(single) is EngineRuntime and single.device == "cpu" and single.workers == [single]
    a, b = FakeEngine(), FakeEngine()
    rt = two_cpu(runtimes, a, b)
    assert [w.device for w in rt.workers] == ["cpu#0", "cpu#1"]
    assert [w.engine for w in rt.workers] == [a, b], "each device has its own engine (its own caches, graphs)"
    assert rt.status == "ready" and a.loads == b.loads == 1


def test_requests_go_to_the_worker_with_the_least_queued_audio(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    rt = two_cpu(runtimes, a, b)
    gate = threading.Event()
    hold_all(rt, gate)
    long = rt.submit(request("A long line of text that will take many seconds to say out loud. " * 3, seed=1))
    shorts = [rt.submit(request("Hi.", seed=k)) for k in range(2, 6)]
    # the long line went to the first worker; the short ones to the other while its queue stays the smaller
    assert long.stats.worker == "cpu#0"
    assert [h.stats.worker for h in shorts] == ["cpu#1"] * 4
    loads = [w.queued_audio_s() for w in rt.workers]
    assert loads[0] > loads[1] > 0
    assert rt.queued_audio_s() == pytest.approx(sum(loads))
    gate.set()
    for h in [long, *shorts]:
        assert h.result(30)[0].size > 0
    assert rt.queued_audio_s() == 0.0
    assert sum(len(batch) for batch in a.batches) == 3 and sum(len(batch) for batch in b.batches) == 4


def test_both_workers_serve_concurrent_load_and_figures_add_up(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    rt = two_cpu(runtimes, a, b)
    seen: list[str] = []
    rt.listeners.append(lambda stats: seen.append(stats.worker))  # added after start: reaches both workers
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda k: rt.submit(request(f"Line number {k}. And more.", seed=k)).result(30),
                                range(32)))
    assert all(audio.size > 0 for audio, _ in results)
    workers = [stats.worker for _, stats in results]
    assert workers.count("cpu#0") >= 4 and workers.count("cpu#1") >= 4, workers
    assert a.batches and b.batches
    assert sorted(seen) == sorted(workers) and rt.completed == 32 and len(rt.recent) == 32
    rows = {row["device"]: row for row in rt.device_status()}
    assert rows["cpu#0"]["completed"] + rows["cpu#1"]["completed"] == 32
    assert all(row["status"] == "ready" and row["queued_audio_s"] == 0 for row in rows.values())


def test_a_worker_that_cannot_load_leaves_the_other_serving(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    b.fail_load = RuntimeError("CUDA error: device-side assert on the second GPU")
    rt = two_cpu(runtimes, a, b)
    assert rt.status == "ready", "one device serving is a serving studio"
    rows = {row["device"]: row for row in rt.device_status()}
    assert rows["cpu#1"]["status"] == "unavailable" and "device-side assert" in rows["cpu#1"]["message"]
    assert "cpu#1:" in rt.message
    handles = [rt.submit(request(seed=k)) for k in range(6)]
    assert all(h.result(30)[0].size > 0 for h in handles)
    assert {h.stats.worker for h in handles} == {"cpu#0"} and not b.batches


def test_all_workers_unavailable_refuses_with_the_engines_reason(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    a.fail_load = b.fail_load = RuntimeError("no weights here")
    rt = two_cpu(runtimes, a, b)
    assert rt.status == "unavailable" and not rt.wait_ready(1)
    from ishowtts_studio.engines.base import EngineUnavailable

    with pytest.raises(EngineUnavailable, match="no weights here"):
        rt.submit(request())


def test_out_of_memory_on_one_worker_fails_that_request_only(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    rt = two_cpu(runtimes, a, b)
    gate = threading.Event()
    hold_all(rt, gate)
    first, second = rt.submit(request("Hi.", seed=1)), rt.submit(request("Hi.", seed=2))
    assert (first.stats.worker, second.stats.worker) == ("cpu#0", "cpu#1")
    b.fail_synth = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    gate.set()
    assert first.result(30)[0].size > 0
    with pytest.raises(SynthesisError, match="ran out of memory"):
        second.result(30)
    # the failed worker keeps serving, and so does the other
    after = [rt.submit(request(seed=k)) for k in range(3, 9)]
    assert all(h.result(30)[0].size > 0 for h in after)
    assert {h.stats.worker for h in after} == {"cpu#0", "cpu#1"}
    assert rt.failed == 1 and rt.workers[1].failed == 1


def test_streaming_and_cancellation_through_several_workers(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    rt = two_cpu(runtimes, a, b)
    pieces = list(rt.submit(request("One. Two. Three.", seed=3)))
    assert len(pieces) >= 2 and all(p.size for p in pieces), "chunks stream as they are ready"
    gate = threading.Event()
    hold_all(rt, gate)
    kept, dropped = rt.submit(request("Keep.", seed=4)), rt.submit(request("Drop.", seed=5))
    assert kept.stats.worker != dropped.stats.worker
    dropped.cancel()
    gate.set()
    assert kept.result(30)[0].size > 0
    with pytest.raises(SynthesisError, match="cancelled"):
        dropped.result(30)


def test_full_queues_everywhere_refuse_busy_once_and_a_free_one_is_used(runtimes) -> None:
    a, b = FakeEngine(), FakeEngine()
    rt = two_cpu(runtimes, a, b, queue_size=1)
    gate = threading.Event()
    hold_all(rt, gate)
    queued = [rt.submit(request(seed=k)) for k in range(2)]
    assert {h.stats.worker for h in queued} == {"cpu#0", "cpu#1"}, "the second goes where there is room"
    with pytest.raises(BusyError, match="busy"):
        rt.submit(request(seed=9))
    assert rt.rejected_busy == 1
    gate.set()
    assert all(h.result(30)[0].size > 0 for h in queued)


def test_an_extra_engine_lives_on_the_first_worker_and_calls_reach_every_worker(runtimes) -> None:
    a, b, extra = FakeEngine(), FakeEngine(), FakeEngine("other")
    rt = two_cpu(runtimes, a, b, extra=extra)
    gate = threading.Event()
    hold_all(rt, gate)
    rt.submit(request("A long line that keeps the first worker busy for a while. " * 2, seed=1))
    other = rt.submit(request(engine="other", seed=2))
    assert other.stats.worker == "cpu#0", "the extra engine (IndexTTS in the studio) is on the first worker only"
    gate.set()
    assert other.result(30)[0].size > 0 and extra.batches
    assert {e["name"] for e in rt.engine_status()} == {"fake", "other"}
    assert rt.call_all(lambda engine: engine) == [a, b]
    assert rt.call(lambda engine: engine.name) == "fake"
    with pytest.raises(Exception, match="Unknown engine 'nope'"):
        rt.submit(request(engine="nope"))


class GatedEngine(FakeEngine):
    """A fake engine whose load waits for a gate (a GPU still loading and warming up), noting what it saw."""

    def __init__(self, gate: threading.Event, first: FakeEngine) -> None:
        super().__init__()
        self.gate, self.first, self.first_was_loaded = gate, first, None

    def load(self, progress: object = None) -> object:
        self.first_was_loaded = self.first.loaded
        assert self.gate.wait(30)
        return super().load(progress)


def test_workers_start_in_turn_and_a_ready_one_serves_while_the_next_loads(runtimes) -> None:
    a, gate = FakeEngine(), threading.Event()
    b = GatedEngine(gate, a)
    pending = iter([a, b])
    rt = build_runtime(["cpu", "cpu"], lambda device: next(pending))
    runtimes.append(rt)
    rt.start()
    try:
        assert rt.workers[0].wait_ready(10)
        assert rt.status == "ready" and rt.workers[1].status == "loading" and not rt.ready_event.is_set()
        handles = [rt.submit(request(seed=k)) for k in range(4)]
        assert all(h.result(30)[0].size > 0 for h in handles)
        assert {h.stats.worker for h in handles} == {"cpu#0"}, "no request waits on the device still loading"
    finally:
        gate.set()
    assert rt.wait_ready(10) and b.first_was_loaded is True, "the second device loaded after the first was ready"
    assert [row["status"] for row in rt.device_status()] == ["ready", "ready"]


class DyingEngine(FakeEngine):
    """A fake engine whose idle work ends its worker thread (an error no handler catches, as a fatal one)."""

    def idle_work(self) -> bool:
        raise SystemExit("the worker thread ends here")


def test_a_worker_whose_thread_ended_gets_no_requests_and_says_so(runtimes) -> None:
    a, b = FakeEngine(), DyingEngine()
    rt = two_cpu(runtimes, a, b)
    worker = rt.workers[1]
    worker._thread.join(10)  # idle work runs once the queue is quiet: the thread ends
    assert not worker.alive()
    handles = [rt.submit(request(seed=k)) for k in range(6)]
    assert all(h.result(10)[0].size > 0 for h in handles), "no request waits on a worker that is gone"
    assert {h.stats.worker for h in handles} == {"cpu#0"}
    row = rt.device_status()[1]
    assert row["status"] == "unavailable" and "stopped" in row["message"]


def test_every_worker_gone_refuses_at_once_with_the_reason(runtimes) -> None:
    from ishowtts_studio.engines.base import EngineUnavailable

    rt = two_cpu(runtimes, DyingEngine(), DyingEngine())
    for worker in rt.workers:
        worker._thread.join(10)
    assert rt.status == "unavailable"
    with pytest.raises(EngineUnavailable, match="stopped; restart the studio"):
        rt.submit(request())
    with pytest.raises(EngineUnavailable, match="stopped"):
        rt.call(lambda engine: None)
