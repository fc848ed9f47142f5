"""The fast sampler computes the same function as f5-tts's own `CFM.sample` (CPU, fp32, tiny model)."""

from __future__ import annotations

import pytest
import torch
from f5_tts.model import CFM, DiT

from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem, effective_duration
from ishowtts_studio.engines.smoke import randomise_zeroed_layers

N_MELS = 100


@pytest.fixture(scope="module", params=["fused", "reference"])
def cfm(request: pytest.FixtureRequest) -> CFM:
    """Two tiny models: the published layout (our fused block path) and one with qk-norm, which the
    fused path does not cover, so the reference block path runs."""
    torch.manual_seed(1234)
    qk_norm = None if request.param == "fused" else "rms_norm"
    dit = DiT(dim=64, depth=2, heads=4, dim_head=16, ff_mult=2, text_dim=32, conv_layers=2,
              text_num_embeds=40, mel_dim=N_MELS, qk_norm=qk_norm)
    randomise_zeroed_layers(dit, seed=99)
    model = CFM(transformer=dit, mel_spec_kwargs=dict(n_mel_channels=N_MELS)).eval()
    assert F5Sampler(model).fused == (request.param == "fused")
    return model


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _item(ref_frames: int, n_text: int, duration: int, seed: int, gen: torch.Generator) -> SampleItem:
    cond = torch.randn(ref_frames, N_MELS, generator=gen)
    ids = torch.randint(0, 40, (n_text,), generator=gen)
    return SampleItem(cond_mel=cond, text_ids=ids, duration=duration, seed=seed)


def _stock(cfm: CFM, it: SampleItem, nfe: int, cfg: float, sway: float) -> torch.Tensor:
    out, _ = cfm.sample(
        cond=it.cond_mel[None], text=it.text_ids[None], duration=it.duration, steps=nfe,
        cfg_strength=cfg, sway_sampling_coef=sway, seed=it.seed,
    )
    return out[0]


@pytest.mark.parametrize("nfe", [5, 8, 16, 32])
def test_same_function_as_cfm_sample(cfm: CFM, nfe: int) -> None:
    gen = torch.Generator().manual_seed(nfe)
    it = _item(ref_frames=37, n_text=23, duration=90, seed=7 + nfe, gen=gen)
    ours = F5Sampler(cfm).sample([it], nfe=nfe, cfg_strength=2.0, sway_coef=-1.0)[0]
    ref = _stock(cfm, it, nfe, 2.0, -1.0)
    assert ours.shape == ref.shape == (90, N_MELS)
    assert torch.isfinite(ours).all()
    assert _rel_err(ours, ref) < 1e-3
    # the reference frames are restored exactly, as CFM.sample does
    assert torch.equal(ours[:37], it.cond_mel)


def test_without_guidance_and_without_sway(cfm: CFM) -> None:
    gen = torch.Generator().manual_seed(5)
    it = _item(ref_frames=20, n_text=15, duration=50, seed=3, gen=gen)
    ours = F5Sampler(cfm).sample([it], nfe=8, cfg_strength=0.0, sway_coef=None)[0]
    ref = _stock(cfm, it, 8, 0.0, None)
    assert _rel_err(ours, ref) < 1e-3


def test_duration_rule_matches_cfm(cfm: CFM) -> None:
    # a requested duration shorter than the text is raised to text length + 1, as CFM.sample does
    gen = torch.Generator().manual_seed(11)
    it = _item(ref_frames=10, n_text=30, duration=12, seed=1, gen=gen)
    ours = F5Sampler(cfm).sample([it], nfe=6, cfg_strength=2.0, sway_coef=-1.0)[0]
    ref = _stock(cfm, it, 6, 2.0, -1.0)
    assert ours.shape[0] == ref.shape[0] == effective_duration(30, 10, 12) == 31
    assert _rel_err(ours, ref) < 1e-3


def test_batching_and_buckets_do_not_change_a_result(cfm: CFM) -> None:
    gen = torch.Generator().manual_seed(21)
    items = [
        _item(ref_frames=30, n_text=20, duration=70, seed=1, gen=gen),
        _item(ref_frames=25, n_text=35, duration=110, seed=2, gen=gen),
        _item(ref_frames=40, n_text=12, duration=55, seed=3, gen=gen),
    ]
    alone = [F5Sampler(cfm).sample([it], nfe=8, cfg_strength=2.0, sway_coef=-1.0)[0] for it in items]
    bucketed = F5Sampler(cfm, bucket_frames=64)
    together = bucketed.sample(items, nfe=8, cfg_strength=2.0, sway_coef=-1.0)
    for a, b, it in zip(alone, together, items):
        assert a.shape == b.shape == (it.duration, N_MELS)
        assert _rel_err(b, a) < 1e-4
    # and each still equals the stock sampler's single-request result
    for b, it in zip(together, items):
        assert _rel_err(b, _stock(cfm, it, 8, 2.0, -1.0)) < 1e-3


def test_different_seeds_give_different_results(cfm: CFM) -> None:
    gen = torch.Generator().manual_seed(8)
    a = _item(ref_frames=20, n_text=15, duration=50, seed=1, gen=gen)
    b = SampleItem(cond_mel=a.cond_mel, text_ids=a.text_ids, duration=a.duration, seed=2)
    s = F5Sampler(cfm)
    out_a, out_b = s.sample([a, b], nfe=8, cfg_strength=2.0, sway_coef=-1.0)
    assert _rel_err(out_a[20:], out_b[20:]) > 0.1


@pytest.mark.parametrize("masked", [False, True])
def test_fused_head_matches_the_modules(masked: bool) -> None:
    """The fused path's input embedding (step part of the projection + static part, then the position
    convolutions as unfold + bmm) equals f5-tts's ConvPositionEmbedding added to its input, masks included."""
    from f5_tts.model.modules import ConvPositionEmbedding

    from ishowtts_studio.engines.f5_blocks import fused_head

    torch.manual_seed(3)
    module = ConvPositionEmbedding(dim=64, kernel_size=31, groups=16).eval()
    x, static, w_x = torch.randn(3, 57, 10), torch.randn(3, 57, 64), torch.randn(64, 10)
    mask = torch.arange(57)[None] < torch.tensor([57, 40, 12])[:, None] if masked else None
    conv = module.conv1d
    with torch.no_grad():
        h = torch.nn.functional.linear(x, w_x) + static
        expected = module(h, mask=mask) + h
        ln_w, ln_b = torch.randn(64), torch.randn(64)
        ours, norm = fused_head(x, static, w_x, conv[0].weight, conv[0].bias, conv[2].weight, conv[2].bias,
                                mask.unsqueeze(-1) if masked else None, ln_w, ln_b, 1e-6, conv[0].groups, False)
    assert _rel_err(ours, expected) < 1e-5
    # the first block's modulated norm comes with it
    expected_norm = torch.nn.functional.layer_norm(expected, (64,), eps=1e-6) * ln_w + ln_b
    assert _rel_err(norm, expected_norm) < 1e-5


def test_kept_schedules_and_uncond_text_do_not_leak_between_requests(cfm: CFM) -> None:
    """One sampler serves requests of equal length but different text lengths and NFEs in turn: the kept
    (NFE, sway) modulations and unconditional text embeddings must not carry one request into another."""
    gen = torch.Generator().manual_seed(31)
    s = F5Sampler(cfm)
    for n_text, nfe in ((15, 8), (25, 8), (25, 6), (15, 6)):
        it = _item(ref_frames=20, n_text=n_text, duration=60, seed=n_text + nfe, gen=gen)
        ours = s.sample([it], nfe=nfe, cfg_strength=2.0, sway_coef=-1.0)[0]
        assert _rel_err(ours, _stock(cfm, it, nfe, 2.0, -1.0)) < 1e-3


def test_engine_samples_mixed_lengths_in_unpadded_groups(cfm: CFM, tmp_path) -> None:
    """The engine splits a batch by length (padded batches measured slower than separate ones on the GPU);
    each result, in the batch's order, equals the request sampled alone."""
    from types import SimpleNamespace

    from ishowtts_studio.engines.f5 import F5Engine

    eng = F5Engine(checkpoint="", vocab="", vocoder="", cache_dir=tmp_path)
    eng.sampler = F5Sampler(cfm)
    calls: list[int] = []
    sample = eng.sampler.sample
    eng.sampler.sample = lambda its, **kw: calls.append(len(its)) or sample(its, **kw)  # type: ignore[method-assign]
    gen = torch.Generator().manual_seed(41)
    items = [_item(20, 15, 50, 1, gen), _item(20, 15, 64, 2, gen), _item(20, 15, 50, 3, gen)]
    params = SimpleNamespace(nfe=6, cfg_strength=2.0, sway_coef=-1.0)
    out = eng.sample_mels(items, params)
    assert sorted(calls) == [1, 2]  # lengths 50 (two requests) and 64
    for it, mel in zip(items, out):
        alone = sample([it], nfe=6, cfg_strength=2.0, sway_coef=-1.0)[0]
        assert mel.shape == alone.shape and _rel_err(mel, alone) < 1e-4
