"""FP8 GEMMs (`engine.fp8_gemms`): the quantised product stays close to the full-precision one, every row keeps
its own range, and the sampler with FP8 blocks computes nearly the function without them (CPU: the same
quantised operands, emulated; the H200's native path is measured by the benchmark, `fp8_mel_rel_err`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from f5_tts.model import CFM, DiT

from ishowtts_studio.engines.f5_fp8 import E4M3, Fp8Weight, fp8_linear, linear, quantise_rows
from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem
from ishowtts_studio.engines.smoke import randomise_zeroed_layers


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_fp8_linear_is_close_to_linear_but_not_equal() -> None:
    gen = torch.Generator().manual_seed(3)
    x, w, b = torch.randn(2, 37, 64, generator=gen), torch.randn(96, 64, generator=gen), torch.randn(96, generator=gen)
    fw = Fp8Weight.of(w)
    assert fw.q_t.dtype == E4M3 and fw.q_t.shape == (64, 96) and fw.scale.shape == (1, 96)
    out = fp8_linear(x, fw, b, native=False)
    ref = F.linear(x, w, b)
    assert out.shape == ref.shape == (2, 37, 96) and out.dtype == x.dtype
    err = _rel(out, ref)
    assert 1e-4 < err < 4e-2, err  # e4m3 keeps 3 mantissa bits: a few % per product, never nothing
    assert torch.equal(linear(x, w, b, False), ref)  # a plain weight takes the plain path


def test_rows_are_scaled_apart() -> None:
    """A loud row does not flatten a quiet one (one scale per tensor would), and a zero row stays zero."""
    x = torch.zeros(3, 32)
    x[0] = torch.linspace(-1000.0, 1000.0, 32)
    x[1] = torch.linspace(-1e-3, 1e-3, 32)
    q, scale = quantise_rows(x)
    back = q.float() * scale
    assert torch.isfinite(back).all() and torch.equal(back[2], torch.zeros(32))
    for row in (0, 1):
        assert _rel(back[row], x[row]) < 4e-2
    whole = (x.abs().max() / 448.0)
    assert _rel((x[1] / whole).to(E4M3).float() * whole, x[1]) > 0.5  # per tensor: the quiet row is lost


@pytest.fixture(scope="module")
def cfm() -> CFM:
    torch.manual_seed(1234)
    dit = DiT(dim=64, depth=2, heads=4, dim_head=16, ff_mult=2, text_dim=32, conv_layers=2, text_num_embeds=40,
              mel_dim=100)
    randomise_zeroed_layers(dit, seed=99)
    return CFM(transformer=dit, mel_spec_kwargs=dict(n_mel_channels=100)).eval()


def test_sampler_with_fp8_blocks_stays_close(cfm: CFM) -> None:
    gen = torch.Generator().manual_seed(11)
    it = SampleItem(cond_mel=torch.randn(37, 100, generator=gen), text_ids=torch.randint(0, 40, (23,), generator=gen),
                    duration=90, seed=5)
    kw = {"nfe": 8, "cfg_strength": 2.0, "sway_coef": -1.0}
    plain = F5Sampler(cfm).sample([it], **kw)[0]
    sampler = F5Sampler(cfm, fp8_gemms=True)
    assert sampler.fp8 and not sampler.fp8_native  # CPU: emulated
    assert all(isinstance(w[0], Fp8Weight) and isinstance(w[6], Fp8Weight) for w in sampler._block_weights)
    fp8 = sampler.sample([it], **kw)[0]
    assert fp8.shape == plain.shape and torch.isfinite(fp8).all()
    assert torch.equal(fp8[:37], it.cond_mel)  # the reference frames are kept exactly
    err = _rel(fp8[37:], plain[37:])
    assert 1e-4 < err < 5e-2, err
