"""Live traffic's fast path gives the same audio whichever way a request is served: a new length runs padded in
its length bucket, a length met again runs unpadded once its exact shape was prepared between requests (tiny
smoke model, CPU, fp32). Also: the runtime's idle hook does that preparation, and the graph input buffers that
all shapes share are plain tensors over one storage."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from ishowtts_studio.engines.base import ChunkJob, GenerationParams
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.f5_prepare import queue_voice_lengths, voice_lengths
from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest
from tests.helpers import en_voice, smoke_f5

VOICE = en_voice("live-en")
PARAMS = GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
BUCKET = 32


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> F5Engine:
    eng = smoke_f5(tmp_path_factory.mktemp("cache"), bucket_frames=BUCKET)
    eng.load()
    assert eng.sampler is not None
    eng.sampler.bucket_frames = BUCKET  # the engine keeps CPU runs exact; the serving policy is what is tested
    return eng


def _item(engine: F5Engine, text: str, seed: int = 5) -> SampleItem:
    return engine.sample_item(VOICE, text, seed=seed)[0]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def _unpadded_length(engine: F5Engine, text: str) -> SampleItem:
    """An item whose length is not a multiple of the bucket, so the padded path really pads."""
    for extra in ("", "!", "!!", "?!", "..."):
        it = _item(engine, text + extra)
        if engine.sampler.duration_of(it) % BUCKET:
            return it
    raise AssertionError("no test text of an unaligned length")


def test_new_length_padded_equals_known_length_exact_and_cfm_sample(engine: F5Engine) -> None:
    sampler = engine.sampler
    it = _unpadded_length(engine, "A brand new chat line arrives")
    frames = sampler.duration_of(it)
    before = dict(sampler.shape_stats)
    first = engine.sample_mels([it], PARAMS)[0]  # new length: its padded bucket
    bucket = -(-frames // BUCKET) * BUCKET
    assert (1, bucket, True, True) in sampler._shapes_seen and not sampler.exact_ready(frames, True)
    assert sampler.pending == 0  # met once: nothing queued yet
    second = engine.sample_mels([it], PARAMS)[0]  # met again: still padded, now queued for an exact shape
    assert sampler.pending == 1
    assert engine.prepare_next_shape(min_idle_s=0) is False  # prepared the one queued shape; nothing left
    assert sampler.exact_ready(frames, True) and sampler.pending == 0
    third = engine.sample_mels([it], PARAMS)[0]  # a known length: exact, unpadded
    assert (1, frames, True, False) in sampler._shapes_seen
    assert sampler.shape_stats["new_shapes"] - before["new_shapes"] == 2  # the padded bucket, then the exact one
    assert first.shape == third.shape == (frames, engine.cfm.num_channels)
    assert torch.equal(first, second)
    assert _rel(first, third) < 1e-5  # padded (masked) and alone: the same function
    with torch.inference_mode():
        stock, _ = engine.cfm.sample(cond=it.cond_mel[None], text=it.text_ids[None], duration=it.duration,
                                     steps=PARAMS.nfe, cfg_strength=PARAMS.cfg_strength,
                                     sway_sampling_coef=PARAMS.sway_coef, seed=it.seed)
    assert _rel(third, stock[0]) < 1e-3 and _rel(first, stock[0]) < 1e-3


def test_mixed_batch_serves_each_length_its_own_way(engine: F5Engine) -> None:
    """One batch holding a known length, a new length and two requests of one length: each result equals the
    request sampled alone at its exact length."""
    sampler = engine.sampler
    known = _unpadded_length(engine, "This line has been said before")
    frames = sampler.duration_of(known)
    for _ in range(2):
        engine.sample_mels([known], PARAMS)
    while engine.prepare_next_shape(min_idle_s=0):
        pass
    assert sampler.exact_ready(frames, True)
    new = _unpadded_length(engine, "And this one is completely new to the engine")
    twin_a = _item(engine, "Two viewers typed the same", seed=1)
    twin_b = SampleItem(cond_mel=twin_a.cond_mel, text_ids=twin_a.text_ids, duration=twin_a.duration, seed=2)
    items = [known, new, twin_a, twin_b]
    together = engine.sample_mels(items, PARAMS)
    kw = {"nfe": PARAMS.nfe, "cfg_strength": PARAMS.cfg_strength, "sway_coef": PARAMS.sway_coef}
    for it, mel in zip(items, together):
        alone = sampler.sample([it], length=sampler.duration_of(it), **kw)[0]
        assert mel.shape == alone.shape
        assert _rel(mel, alone) < 1e-5
    assert _rel(together[2], together[3]) > 1e-2  # different seeds really differ


def test_sample_refuses_a_length_shorter_than_an_item(engine: F5Engine) -> None:
    it = _item(engine, "Too long for the length asked")
    with pytest.raises(ValueError, match="shorter than its longest item"):
        engine.sampler.sample([it], nfe=2, cfg_strength=2.0, sway_coef=-1.0, length=engine.sampler.duration_of(it) - 1)


def test_shared_graph_buffers_are_plain_tensors_over_one_storage(engine: F5Engine) -> None:
    sampler = F5Sampler(engine.cfm, share_graph_memory=True)
    big = sampler._buffer("x", (2, 40, 100), torch.float32)
    small = sampler._buffer("x", (1, 30, 100), torch.float32)
    assert big._base is None and small._base is None and small.is_contiguous()
    assert small.untyped_storage().data_ptr() == big.untyped_storage().data_ptr()
    grown = sampler._buffer("x", (4, 40, 100), torch.float32)  # larger than the arena: a new one
    assert grown.untyped_storage().data_ptr() != big.untyped_storage().data_ptr()
    big.fill_(1.0)  # the older buffer stays valid and whole
    assert float(big.sum()) == 2 * 40 * 100
    apart = F5Sampler(engine.cfm, share_graph_memory=False)
    a, b = apart._buffer("x", (1, 8, 100), torch.float32), apart._buffer("x", (1, 8, 100), torch.float32)
    assert a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr()


@pytest.fixture()
def runtime(engine: F5Engine) -> Iterator[EngineRuntime]:
    rt = EngineRuntime(engine, queue_size=8, max_batch=4, batch_wait_s=0.01)
    rt.start()
    assert rt.wait_ready(180), rt.message
    rt.call(lambda e: setattr(e.sampler, "bucket_frames", BUCKET))  # the runtime loads its own sampler
    yield rt
    rt.stop()


def test_runtime_prepares_a_repeated_length_while_idle(engine: F5Engine, runtime: EngineRuntime) -> None:
    text = "Say it twice and it gets faster"
    frames = runtime.call(lambda e: e.sampler.duration_of(_item(e, text)))
    audio = []
    for _ in range(2):
        handle = runtime.submit(SynthesisRequest(voice=VOICE, chunks=[text], params=PARAMS, seed=9))
        audio.append(handle.result(timeout=120)[0])
    deadline = time.monotonic() + 30
    while not runtime.call(lambda e: e.sampler.exact_ready(frames, True)) and time.monotonic() < deadline:
        time.sleep(0.2)  # the worker prepares the exact shape once its queue has been empty for a moment
    assert runtime.call(lambda e: e.sampler.exact_ready(frames, True))
    handle = runtime.submit(SynthesisRequest(voice=VOICE, chunks=[text], params=PARAMS, seed=9))
    exact = handle.result(timeout=120)[0]
    assert np.array_equal(audio[0], audio[1])
    assert exact.shape == audio[0].shape
    assert float(np.linalg.norm(exact - audio[0]) / np.linalg.norm(audio[0])) < 1e-4


def test_synthesize_results_do_not_depend_on_the_path(engine: F5Engine) -> None:
    """Through the whole engine (sampler + vocoder): a new length served padded and the same request again
    after its exact shape was prepared give the same waveform."""
    job = ChunkJob(voice=VOICE, text="Waveform check for a fresh length!", params=PARAMS, seed=4)
    first = engine.synthesize([job])[0].audio
    engine.synthesize([job])
    frames = engine.sampler.duration_of(_item(engine, job.text, seed=4))
    assert engine.sampler.pending == 1
    # just after work the engine waits for a quiet moment before preparing (a capture would delay a request)
    assert engine.idle_work() is False and engine.sampler.pending == 1
    time.sleep(engine.idle_before_prepare_s)
    assert engine.idle_work() is False and engine.sampler.pending == 0 and engine.sampler.exact_ready(frames, True)
    exact = engine.synthesize([job])[0].audio
    assert first.shape == exact.shape
    assert float(np.linalg.norm(exact - first) / np.linalg.norm(first)) < 1e-4


def test_voice_lengths_cover_every_short_text_of_the_voice(engine: F5Engine) -> None:
    """The lengths prepared ahead (`engine.prepare_exact_bytes`) are exactly those the duration rule gives the
    voice's short texts: any chat line up to the limit meets a prepared length."""
    lengths = voice_lengths(engine, VOICE, 60)
    assert lengths == sorted(set(lengths)) and len(lengths) > 30
    for text in ("hi", "ok!", "good morning chat", "这是一条弹幕", "a" * 60, "是" * 20):
        assert engine.estimate_frames(VOICE, text, 1.0)[0] in lengths
    assert engine.estimate_frames(VOICE, "a" * 61, 1.0)[0] not in lengths  # over the limit: not prepared
    engine.prepare_exact_bytes = 60
    try:
        assert queue_voice_lengths(engine, [VOICE]) == 0  # the CPU has no CUDA graphs to capture
    finally:
        engine.prepare_exact_bytes = 0


GRID = 64


def _one_cell(engine: F5Engine, n: int) -> list[SampleItem]:
    """`n` items of distinct lengths that fall in one cell of GRID frames (a burst's lines of similar length)."""
    cells: dict[int, dict[int, SampleItem]] = {}
    for k in range(40):
        it = _item(engine, "Chat line" + " la" * k, seed=10 + k)
        frames = engine.sampler.duration_of(it)
        cells.setdefault(-(-frames // GRID), {}).setdefault(frames, it)
        best = max(cells.values(), key=len)
        if len(best) >= n:
            return list(best.values())[:n]
    raise AssertionError("no cell holds enough distinct lengths")


def test_batch_padding_runs_a_cell_as_one_padded_batch_with_each_lines_own_result(engine: F5Engine) -> None:
    """engine.batch_padding: lines of different lengths in one cell run as one padded batch of the cell's length,
    and each line's mel equals that line sampled alone at its exact length (and CFM.sample)."""
    sampler = engine.sampler
    items = _one_cell(engine, 3)
    frames = [sampler.duration_of(it) for it in items]
    cell = -(-max(frames) // GRID) * GRID
    kw = {"nfe": PARAMS.nfe, "cfg_strength": PARAMS.cfg_strength, "sway_coef": PARAMS.sway_coef}
    engine.batch_grid = GRID
    try:
        together = engine.sample_mels(items, PARAMS)
    finally:
        engine.batch_grid = 0
    assert (2, cell, True, True) in sampler._shapes_seen  # 3 lines: a padded pair and one alone
    for it, mel, n in zip(items, together, frames):
        alone = sampler.sample([it], length=n, **kw)[0]
        assert mel.shape == alone.shape == (n, engine.cfm.num_channels)
        assert _rel(mel, alone) < 1e-5
    with torch.inference_mode():
        stock, _ = engine.cfm.sample(cond=items[0].cond_mel[None], text=items[0].text_ids[None],
                                     duration=items[0].duration, steps=PARAMS.nfe, cfg_strength=PARAMS.cfg_strength,
                                     sway_sampling_coef=PARAMS.sway_coef, seed=items[0].seed)
    assert _rel(together[0], stock[0]) < 1e-3


def test_batch_padding_hands_each_run_over_shortest_first(engine: F5Engine) -> None:
    """Through the whole engine with a callback: the padded run's lines arrive together, before a longer line,
    and every waveform equals the line synthesised alone."""
    sampler = engine.sampler
    items = _one_cell(engine, 2)
    lengths = [sampler.duration_of(it) for it in items]
    jobs = [ChunkJob(voice=VOICE, text="Chat line" + " la" * k, params=PARAMS, seed=3) for k in range(40)]
    by_frames = {sampler.duration_of(_item(engine, j.text)): j for j in jobs}
    pair = [by_frames[n] for n in lengths]
    longer = jobs[-1]
    shape = (2, -(-max(lengths) // GRID) * GRID, True, True)
    sampler._shapes_seen.discard(shape)  # (an earlier test may have met it) to see that this call runs it
    heard: list[int] = []
    engine.batch_grid = GRID
    try:
        out = engine.synthesize([longer, *pair], on_ready=lambda i, a: heard.append(i))
    finally:
        engine.batch_grid = 0
    assert shape in sampler._shapes_seen
    assert sorted(heard[:2]) == [1, 2] and heard[2] == 0
    for job, got in zip([longer, *pair], out):
        alone = engine.synthesize([job])[0].audio
        assert got.audio.shape == alone.shape
        assert float(np.linalg.norm(got.audio - alone) / np.linalg.norm(alone)) < 1e-4


def test_a_padded_batch_without_its_graph_is_queued_once_for_idle_preparation(engine: F5Engine) -> None:
    """With CUDA graphs (bookkeeping only: nothing is captured here), a padded batch whose graph is not held is
    not ready, is queued once between requests, ahead of shapes queued in advance, and the ahead queue takes
    padded batch shapes largest first."""
    sampler = F5Sampler(engine.cfm)
    assert sampler.padded_batch_ready(4, 640, True)  # no graphs: nothing to capture, always ready
    sampler.use_graphs = True
    assert not sampler.padded_batch_ready(4, 640, True)
    assert sampler.queue_ahead([(1, 600, True, False), (2, 640, True, True), (8, 640, True, True)]) == 3
    assert sampler.queue_ahead([(8, 640, True, True)]) == 0  # queued already
    sampler.note_padded_batch(4, 640, True)
    sampler.note_padded_batch(4, 640, True)
    assert sampler._pending == [(4, 640, True, True)]
    assert sampler._pending_pinned == [(8, 640, True, True), (2, 640, True, True), (1, 600, True, False)]
    assert sampler.pending == 4
