"""The IndexTTS engine on a tiny randomly initialised IndexTTS 1.5, driven through the real `IndexTTS`
class in its own environment (.venv-indextts, the worker process), the runtime and the HTTP API.

The tiny model (small GPT and BigVGAN, a BPE model trained on a few sentences) is written by
tests/indextts_tiny.py with IndexTTS's own Python. Without .venv-indextts these tests skip on a
developer machine and fail in CI, where `bash install.sh --with-indextts` must have built it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio.engines.base import ChunkJob, EngineUnavailable, GenerationParams
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.indextts import IndexTTSEngine, IndexTTSOptions, WorkerStopped
from ishowtts_studio.runtime import EngineRuntime, SynthesisRequest
from tests.helpers import (
    EN_CLIP,
    REPO,
    Server,
    en_voice,
    fill_and_keep,
    open_page,
    running_studio,
    smoke_f5,
    start_server,
    stop,
)

INDEX_PY = REPO / ".venv-indextts" / "bin" / "python"
VOICE = en_voice("indextts-test-en")
PARAMS = GenerationParams(nfe=0, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
# short renders: the random GPT never emits its stop token, so max_mel_tokens sets the length
FAST = {"max_mel_tokens": 40, "num_beams": 1}
SAMPLES_PER_TOKEN = 1024  # BigVGAN's upsampling of one GPT latent (mel_length_compression)


def _need_extra() -> None:
    if not INDEX_PY.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{INDEX_PY} is missing: CI must run `bash install.sh --with-indextts`")
        pytest.skip("the IndexTTS extra is not installed (bash install.sh --with-indextts)")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_extra()
    folder = tmp_path_factory.mktemp("tiny-indextts")
    done = subprocess.run([str(INDEX_PY), str(REPO / "tests" / "indextts_tiny.py"), str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Iterator[IndexTTSEngine]:
    eng = IndexTTSEngine(model_dir=str(tiny_model), device="cpu")
    eng.load()
    yield eng
    eng.unload()


def _job(text: str, seed: int, **options: object) -> ChunkJob:
    return ChunkJob(voice=VOICE, text=text, params=PARAMS, seed=seed,
                    extra={"indextts": IndexTTSOptions.check(dict(FAST, **options))})


# ---- the engine -----------------------------------------------------------------------------------
def test_tiny_model_generates_audio_through_the_real_class(engine: IndexTTSEngine) -> None:
    assert engine.version == "1.5" and engine.loaded
    out = engine.synthesize([_job("Hello there, this is a test.", seed=1)])[0]
    audio = out.audio
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == FAST["max_mel_tokens"] * SAMPLES_PER_TOKEN
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
    assert float(np.std(audio)) > 1e-3, "random weights still give a non-constant waveform"
    assert out.ref_frames == sf.info(str(EN_CLIP)).frames * 24000 // sf.info(str(EN_CLIP)).samplerate // 256


def test_same_seed_same_audio_other_seed_other_audio(engine: IndexTTSEngine) -> None:
    a = engine.synthesize([_job("Seeds make takes repeatable.", seed=7)])[0].audio
    b = engine.synthesize([_job("Seeds make takes repeatable.", seed=7)])[0].audio
    c = engine.synthesize([_job("Seeds make takes repeatable.", seed=8)])[0].audio
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generation_options_reach_the_model(engine: IndexTTSEngine) -> None:
    short = engine.synthesize([_job("Options are passed through.", seed=3, max_mel_tokens=20)])[0].audio
    assert len(short) == 20 * SAMPLES_PER_TOKEN
    # more than the model's position table holds is held to its limit (tiny model: 80 - 1), not an index error
    capped = engine.synthesize([_job("Too long a request.", seed=3, max_mel_tokens=1000)])[0].audio
    assert len(capped) == 79 * SAMPLES_PER_TOKEN


def test_chinese_text_goes_through_the_normaliser(engine: IndexTTSEngine) -> None:
    audio = engine.synthesize([_job("你好，欢迎使用语音克隆工作室。", seed=2)])[0].audio
    assert len(audio) > 0 and np.all(np.isfinite(audio))


def test_voice_conditioning_is_cached(engine: IndexTTSEngine) -> None:
    before = engine.cache_stats()
    engine.synthesize([_job("Cached voice.", seed=1)])
    after = engine.cache_stats()
    assert after["ref_cache_hits"] > before["ref_cache_hits"]
    assert after["ref_cache_misses"] == before["ref_cache_misses"]


def test_hub_cache_change_of_the_package_does_not_leak(engine: IndexTTSEngine, tiny_model: Path) -> None:
    import huggingface_hub.constants as hub

    # the package really does move HF_HUB_CACHE when imported on its own ...
    raw = subprocess.run([str(INDEX_PY), "-c", "import os, indextts.infer; print(os.environ['HF_HUB_CACHE'])"],
                         capture_output=True, text=True, timeout=120)
    assert raw.stdout.strip().endswith("checkpoints/hf_cache"), raw.stderr[-2000:]
    # ... but not in our worker, and never in the studio's own process
    env = engine.worker_env()
    assert env["HF_HUB_CACHE"] == os.environ.get("HF_HUB_CACHE")
    assert not str(env["hub_cache"]).endswith("checkpoints/hf_cache")
    assert not str(hub.HF_HUB_CACHE).endswith("checkpoints/hf_cache")
    assert os.environ.get("HF_HUB_CACHE", "") != "./checkpoints/hf_cache"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": 0}, "temperature must be a number from 0.1 to 2"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"top_k": 2.5}, "top_k must be a whole number"),
        ({"num_beams": 99}, "num_beams must be a whole number from 1 to 10"),
        ({"max_mel_tokens": float("nan")}, "max_mel_tokens must be a whole number"),
        ({"beam_width": 2}, "Unknown IndexTTS option(s): beam_width"),
        ({"emotion_mode": "furious"}, "emotion_mode must be one of"),
        ({"emotion_mode": "emotion vector", "emotion_vector": [0.5] * 7}, "must be 8 numbers from 0 to 1"),
        ({"emotion_mode": "emotion vector", "emotion_vector": [0.0] * 8}, "all zeros"),
        ({"emotion_mode": "emotion reference audio"}, "upload the emotion reference audio"),
    ],
)
def test_bad_options_are_refused_with_the_fix(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        IndexTTSOptions.check(options)


def test_version_2_options_become_emotion_arguments() -> None:
    vec = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8]
    opts = IndexTTSOptions.check({"emotion_mode": "emotion vector", "emotion_vector": vec, "emotion_alpha": 0.5})
    assert opts.infer_kwargs("2")["emo_vector"] == vec and opts.infer_kwargs("2")["emo_alpha"] == 0.5
    assert "emo_vector" not in opts.infer_kwargs("1.5")


# ---- availability -----------------------------------------------------------------------------------
def test_missing_extra_says_how_to_install(tmp_path: Path) -> None:
    eng = IndexTTSEngine(model_dir=str(tmp_path), python=str(tmp_path / "no-such-python"))
    with pytest.raises(EngineUnavailable, match="install.sh --with-indextts"):
        eng.check()


def test_model_folder_problems_are_named(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(EngineUnavailable, match="indextts.model_dir"):
        IndexTTSEngine(model_dir="").check()
    with pytest.raises(EngineUnavailable, match="no config.yaml"):
        IndexTTSEngine(model_dir=str(tmp_path)).check()
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.yaml").write_text((tiny_model / "config.yaml").read_text())
    with pytest.raises(EngineUnavailable, match="lacks gpt.pth, bigvgan_generator.pth, bpe.model"):
        IndexTTSEngine(model_dir=str(partial)).check()


def test_corrupt_checkpoint_fails_to_load_with_a_message(tmp_path: Path, tiny_model: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "gpt.pth").write_bytes(b"not a checkpoint")
    eng = IndexTTSEngine(model_dir=str(broken), device="cpu")
    with pytest.raises(EngineUnavailable, match="failed to load"):
        eng.load()
    assert not eng.loaded


# ---- the runtime: two engines, one worker ----------------------------------------------------------
@pytest.fixture
def two_engine_runtime(tiny_model: Path, tmp_path: Path) -> Iterator[EngineRuntime]:
    f5 = smoke_f5(tmp_path)
    index = IndexTTSEngine(model_dir=str(tiny_model), device="cpu")
    rt = EngineRuntime(f5, queue_size=8, max_batch=4, extra_engines={"indextts": index}, max_loaded=1)
    rt.start()
    assert rt.wait_ready(180), rt.message
    yield rt
    rt.stop()
    index.unload()


def _index_request(text: str, seed: int = 1) -> SynthesisRequest:
    return SynthesisRequest(voice=VOICE, chunks=[text], params=PARAMS, seed=seed, engine="indextts",
                            extra={"indextts": IndexTTSOptions.check(FAST)})


def test_runtime_keeps_at_most_max_loaded_engines(two_engine_runtime: EngineRuntime) -> None:
    rt = two_engine_runtime
    f5, index = rt.engines["f5"], rt.engines["indextts"]
    f5_params = GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
    first = rt.submit(SynthesisRequest(voice=VOICE, chunks=["Hello."], params=f5_params, seed=1)).result(120)[0]
    assert f5.cfm is not None and not index.loaded

    audio, stats = rt.submit(_index_request("Now the other engine speaks.")).result(180)
    assert stats.engine == "indextts" and len(audio) == FAST["max_mel_tokens"] * SAMPLES_PER_TOKEN
    assert index.loaded and f5.cfm is None, "with max_loaded = 1 the least recently used engine is unloaded"
    # reading statistics (the metrics sampler) must not reload the unloaded engine
    assert "ref_cache_items" in rt.call(lambda e: e.cache_stats(), load=False)
    assert index.loaded and f5.cfm is None
    pid = index.worker.proc.pid

    again = rt.submit(SynthesisRequest(voice=VOICE, chunks=["Hello."], params=f5_params, seed=1)).result(120)[0]
    assert np.array_equal(first, again), "F5-TTS reloads and gives the same take"
    assert not index.loaded
    with pytest.raises(ProcessLookupError):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # the worker process is gone, its memory given back
            time.sleep(0.1)
    status = {e["name"]: e for e in rt.engine_status()}
    assert status["indextts"]["status"] == "available" and status["f5"]["status"] == "ready"


def test_indextts_requests_are_not_batched(two_engine_runtime: EngineRuntime) -> None:
    rt = two_engine_runtime
    handles = [rt.submit(_index_request(f"Request number {i}.", seed=i)) for i in range(3)]
    stats = [h.result(300)[1] for h in handles]
    assert [s.batch_size for s in stats] == [1, 1, 1]


def test_crashed_worker_is_restarted_for_the_next_request(two_engine_runtime: EngineRuntime) -> None:
    rt = two_engine_runtime
    rt.submit(_index_request("Warm up the worker.")).result(180)
    index = rt.engines["indextts"]
    old_pid = index.worker.proc.pid
    index.worker.proc.kill()
    index.worker.proc.wait()
    audio, stats = rt.submit(_index_request("And this one gets a new worker.")).result(180)
    assert len(audio) > 0 and stats.engine == "indextts"
    assert index.loaded and index.worker.proc.pid != old_pid


def test_worker_dying_mid_request_is_a_clear_error(tiny_model: Path) -> None:
    eng = IndexTTSEngine(model_dir=str(tiny_model), device="cpu")
    eng.load()
    try:
        eng.synthesize([_job("Prepare the voice first.", seed=1)])
        eng.worker.proc.kill()
        eng.worker.proc.wait()
        with pytest.raises(WorkerStopped, match=r"IndexTTS worker stopped \(exit code -9\).*restarts on the next"):
            eng.synthesize([_job("This one meets a dead worker.", seed=1)])
        assert not eng.loaded
    finally:
        eng.unload()


def test_indextts_works_when_f5_weights_are_missing(tiny_model: Path, tmp_path: Path) -> None:
    f5 = F5Engine(checkpoint=str(tmp_path / "missing.safetensors"), vocab=str(tmp_path / "vocab.txt"),
                  vocoder=str(tmp_path / "vocos"), device="cpu", cache_dir=tmp_path)
    index = IndexTTSEngine(model_dir=str(tiny_model), device="cpu")
    rt = EngineRuntime(f5, extra_engines={"indextts": index})
    rt.start()
    try:
        assert not rt.wait_ready(60) and rt.status == "unavailable" and "f5.checkpoint" in rt.message
        f5_params = GenerationParams(nfe=4, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
        with pytest.raises(EngineUnavailable, match="f5.checkpoint"):
            rt.submit(SynthesisRequest(voice=VOICE, chunks=["Hello."], params=f5_params, seed=1))
        audio, stats = rt.submit(_index_request("The second engine still speaks.")).result(180)
        assert stats.engine == "indextts" and len(audio) == FAST["max_mel_tokens"] * SAMPLES_PER_TOKEN
    finally:
        rt.stop()
        index.unload()


def test_unknown_engine_is_refused_at_once(two_engine_runtime: EngineRuntime) -> None:
    req = _index_request("Who speaks?")
    req.engine = "tacotron"
    with pytest.raises(EngineUnavailable, match="Unknown engine 'tacotron'. Choose one of: f5, indextts"):
        two_engine_runtime.submit(req)


# ---- the studio's HTTP API --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    extra = f'[indextts]\nmodel_dir = "{tiny_model}"\ndevice = "cpu"\n'
    server = start_server(tmp_path_factory.mktemp("indextts-server"), extra_toml=extra)
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="module")
def index_client(index_server: Server, tmp_path_factory: pytest.TempPathFactory):
    from gradio_client import Client

    return Client(index_server.url, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("indextts-downloads")))


def _first_voice(client) -> str:
    return client.predict(api_name="/list_voices")[0]["name"]


def test_api_synthesizes_with_indextts(index_client, index_server: Server) -> None:
    voice = _first_voice(index_client)
    engines = {e["name"]: e for e in index_client.predict(api_name="/engines")}
    assert engines["indextts"]["status"] in ("available", "ready")
    wav, stats = index_client.predict("Hello from the second engine.", voice, None, 5, None, "indextts", FAST,
                                      api_name="/synthesize")
    audio, sr = sf.read(wav)
    assert sr == 24000 and len(audio) >= FAST["max_mel_tokens"] * SAMPLES_PER_TOKEN * 0.9
    assert stats["engine"] == "indextts" and stats["nfe"] == 0 and stats["seed"] == 5
    history = index_client.predict(5, api_name="/history")
    assert history[0]["engine"] == "indextts" and history[0]["seed"] == 5
    # F5-TTS still answers on the same server afterwards
    _, f5_stats = index_client.predict("And F5 again.", voice, 4, 1, None, "f5", None, api_name="/synthesize")
    assert f5_stats["engine"] == "f5"


def test_api_refuses_bad_engine_and_options(index_client) -> None:
    from gradio_client.exceptions import AppError

    voice = _first_voice(index_client)
    with pytest.raises(AppError, match="Unknown engine 'tacotron'"):
        index_client.predict("Hi there.", voice, None, 1, None, "tacotron", None, api_name="/synthesize")
    with pytest.raises(AppError, match="num_beams must be a whole number from 1 to 10"):
        index_client.predict("Hi there.", voice, None, 1, None, "indextts", {"num_beams": 0},
                             api_name="/synthesize")
    with pytest.raises(AppError, match="IndexTTS options were given but the engine is F5-TTS"):
        index_client.predict("Hi there.", voice, None, 1, None, "f5", {"num_beams": 2}, api_name="/synthesize")


def test_api_says_how_to_install_when_the_extra_is_missing(client) -> None:
    """The shared smoke server has no IndexTTS configured: the engine is listed as unavailable with the
    fix, a request for it is refused with that message, and F5-TTS is unaffected."""
    from gradio_client.exceptions import AppError

    engines = {e["name"]: e for e in client.predict(api_name="/engines")}
    assert engines["indextts"]["status"] == "unavailable"
    assert "indextts.model_dir" in engines["indextts"]["message"] or "install.sh" in engines["indextts"]["message"]
    voice = client.predict(api_name="/list_voices")[0]["name"]
    with pytest.raises(AppError, match="IndexTTS"):
        client.predict("Hi there.", voice, None, 1, None, "indextts", None, api_name="/synthesize")
    _, stats = client.predict("Hi there.", voice, 4, 1, None, None, None, api_name="/synthesize")
    assert stats["engine"] == "f5"


# ---- the page -----------------------------------------------------------------------------------------
def test_live_tab_switches_to_indextts_and_speaks(browser, index_server: Server, tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    with open_page(browser, index_server.url) as page:
        page.locator("#live-engine label").filter(has_text="IndexTTS").click()
        expect(page.locator("#engine-note")).to_contain_text("IndexTTS 1.5")
        expect(page.locator("#live-nfe")).to_be_hidden()
        options = page.locator("#indextts-options")
        expect(options).to_be_visible()
        options.get_by_text("IndexTTS options").click()
        expect(page.locator("#indextts-emotion")).to_be_hidden()  # emotion controls are version 2 only
        for elem, value in (("#indextts-max-mel", "20"), ("#indextts-beams", "1")):
            fill_and_keep(page, page.locator(f"{elem} input[type=number]"), value, press="Tab")
        page.locator("#live-text textarea").fill("Spoken by the second engine.")
        page.locator("#synth-btn").click()
        stats = page.locator("#stats-line")
        # the take's figures replace the progress line once the whole take is done (minutes on a busy CPU)
        expect(stats).to_contain_text("0.85 s", timeout=180_000)  # 20 tokens x 1024 / 24 kHz
        expect(stats).to_contain_text("IndexTTS")
        expect(page.locator("#live-full a[download]")).to_have_attribute("href", re.compile(r"\.wav$"))
        page.screenshot(path=str(tmp_path / "live-indextts.png"), full_page=True)
        # back to F5-TTS: the NFE slider returns, IndexTTS's options hide
        page.locator("#live-engine label").filter(has_text="F5-TTS").click()
        expect(page.locator("#live-nfe")).to_be_visible()
        expect(options).to_be_hidden()


def test_live_tab_explains_an_unavailable_indextts(browser, studio_url: str) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    with open_page(browser, studio_url) as page:
        page.locator("#live-engine label").filter(has_text="IndexTTS").click()
        expect(page.locator("#engine-note")).to_contain_text("IndexTTS is unavailable")
        expect(page.locator("#engine-note")).to_contain_text("indextts.model_dir")


# ---- NFE compare: the cross-engine blind A/B ---------------------------------------------------------
@pytest.fixture(scope="module")
def index_studio(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    overrides = {"indextts.model_dir": str(tiny_model), "indextts.device": "cpu"}
    with running_studio(tmp_path_factory.mktemp("cross-engine"), **overrides) as s:
        yield s


def test_cross_engine_ab_pairs_indextts_with_the_reference_only(index_studio: Any) -> None:
    from ishowtts_studio.services.nfe_plan import INDEXTTS_NFE

    s = index_studio
    voice = s.voices.voice_names()[0]
    rows = s.nfe.render(["Hello there, this is a test."], [voice], [3, 4], 6, 0, cross_engine=True)
    index_rows = [r for r in rows if r["nfe"] == INDEXTTS_NFE]
    assert len(index_rows) == 1 and index_rows[0]["engine"] == "indextts" and index_rows[0]["render_id"]
    assert index_rows[0]["pesq_wb"] is None and not index_rows[0]["is_reference"]
    assert all(r["pesq_wb"] is not None or r["error"] for r in rows if r["nfe"] in (3, 4))
    # again: everything is reused, the IndexTTS render too
    assert all(r["reused"] for r in s.nfe.render(["Hello there, this is a test."], [voice], [3, 4], 6, 0,
                                                  cross_engine=True))

    seen, revealed = set(), []
    for _ in range(3):  # three pairs: 3 vs 6, 4 vs 6, IndexTTS vs 6 (and the neighbours 3 vs 4)
        trial_id, a, b = s.ab.next_trial("Rita")
        assert "indextts" not in f"{trial_id}{a.name}{b.name}".lower()  # nothing reveals the engine before the vote
        r = s.ab.vote(trial_id, "Rita", "A" if len(revealed) % 2 else "B")
        revealed.append(r)
        seen.add(frozenset((r["a_nfe"], r["b_nfe"])))
    for _ in range(3):
        trial_id, _, _ = s.ab.next_trial("Rita")
        r = s.ab.vote(trial_id, "Rita", "tie")
        revealed.append(r)
        seen.add(frozenset((r["a_nfe"], r["b_nfe"])))
    assert frozenset((INDEXTTS_NFE, 6)) in seen
    assert not any(INDEXTTS_NFE in p and p != frozenset((INDEXTTS_NFE, 6)) for p in seen), \
        "IndexTTS is only ever compared with the reference"
    labels = {r["a_label"] for r in revealed} | {r["b_label"] for r in revealed}
    assert "IndexTTS" in labels and "NFE 6" in labels

    res = s.ab.results(6)
    cross = res["cross_engine"]
    cross_votes = sum(1 for r in revealed if INDEXTTS_NFE in (r["a_nfe"], r["b_nfe"]))
    assert cross["votes"] == cross_votes >= 1
    assert cross["other_wins"] + cross["reference_wins"] + cross["ties"] == cross_votes
    assert "IndexTTS preferred" in cross["summary"]
    # the NFE statistics never see the IndexTTS render
    assert [v["nfe"] for v in res["verdicts"]] == [3, 4]
    assert INDEXTTS_NFE not in {b["nfe"] for b in res["bradley_terry"]}
    assert res["total_votes"] == len(revealed) - cross_votes
    assert res["recommended_nfe"] != INDEXTTS_NFE


def test_engine_comparison_statistics() -> None:
    from ishowtts_studio.listening import Vote, engine_comparison

    # IndexTTS (nfe 0) against the reference (32): 14 wins, 2 losses, 2 ties; one unrelated NFE vote
    votes = [Vote(0, 32, "A")] * 8 + [Vote(32, 0, "B")] * 6 + [Vote(32, 0, "A")] * 2 + [Vote(0, 32, "tie")] * 2
    votes.append(Vote(5, 32, "A"))
    out = engine_comparison(votes, reference_nfe=32, other_nfe=0)
    assert (out["votes"], out["other_wins"], out["reference_wins"], out["ties"]) == (18, 14, 2, 2)
    assert out["prefer_other"] == pytest.approx(15 / 18)  # ties count half
    # Wilson 95% of 15 of 18 (hand-checked with scipy): 0.6078-0.9416
    assert out["prefer_other_ci"] == pytest.approx([0.6077796, 0.9416342], abs=1e-6)
    assert out["p_value"] == pytest.approx(0.0041809, abs=1e-6)  # exact binomial, 14 of 16 decisive votes
    assert out["summary"].startswith("listeners prefer IndexTTS")
    even = engine_comparison([Vote(0, 32, "A"), Vote(0, 32, "B")], reference_nfe=32, other_nfe=0)
    assert even["summary"].startswith("no clear preference yet")
    assert engine_comparison([], reference_nfe=32, other_nfe=0)["summary"] == "No cross-engine votes yet."


def test_cross_engine_needs_indextts(tmp_path: Path) -> None:
    """Without an IndexTTS model, asking for the cross-engine renders says why before anything renders."""
    with running_studio(tmp_path) as s:
        with pytest.raises(EngineUnavailable, match="indextts.model_dir"):
            s.nfe.render(["Hello there."], [s.voices.voice_names()[0]], [3], 6, 0, cross_engine=True)
        assert s.store.list_nfe_renders() == []
