"""Padded rows through variable-length attention (`engine.padded_attention = "varlen_flash"`): the offsets split
each row into its frames and its padding, and a padded batch gives each request the result it gets alone (CPU,
fp32, tiny model; on the GPU the same offsets feed FlashAttention-2's kernel, checked by benchmarks/probe_path.py
and the benchmark's varlen runs)."""

from __future__ import annotations

import torch
from f5_tts.model import CFM, DiT

from ishowtts_studio.engines.f5_blocks import varlen_attention
from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem, split_offsets
from ishowtts_studio.engines.smoke import randomise_zeroed_layers

N_MELS = 100
KW = {"nfe": 6, "cfg_strength": 2.0, "sway_coef": -1.0}


def _model() -> CFM:
    torch.manual_seed(4321)
    dit = DiT(dim=64, depth=2, heads=4, dim_head=16, ff_mult=2, text_dim=32, conv_layers=2, text_num_embeds=40,
              mel_dim=N_MELS)
    randomise_zeroed_layers(dit, seed=7)
    return CFM(transformer=dit, mel_spec_kwargs=dict(n_mel_channels=N_MELS)).eval()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_offsets_split_each_row_into_frames_and_padding() -> None:
    assert split_offsets([5, 8], 8) == [0, 5, 8, 16, 16]  # the full second row has an empty padding sequence
    assert split_offsets([1], 32) == [0, 1, 32]
    assert split_offsets([], 16) == [0]


def test_varlen_attention_is_dense_attention_with_the_padding_masked() -> None:
    gen = torch.Generator().manual_seed(3)
    rows, length, heads, dim = 2, 12, 4, 16
    valid = [7, 12]
    q, k, v = (torch.randn(rows, length, heads, dim, generator=gen) for _ in range(3))
    cu = torch.tensor(split_offsets(valid, length), dtype=torch.int32)
    out = varlen_attention(*(t.reshape(rows * length, heads, dim) for t in (q, k, v)), cu, length)
    out = out.view(rows, length, heads, dim)
    for row, n in enumerate(valid):
        bias = torch.zeros(1, 1, 1, length)
        bias[..., n:] = float("-inf")
        dense = torch.nn.functional.scaled_dot_product_attention(
            *(t[row : row + 1].transpose(1, 2) for t in (q, k, v)), attn_mask=bias).transpose(1, 2)[0]
        assert _rel(out[row, :n], dense[:n]) < 1e-5
    padding = out[0, valid[0]:]  # the padding attends to itself only: not the masked row's values
    assert torch.isfinite(padding).all()


def test_padded_batch_through_varlen_equals_each_request_alone() -> None:
    cfm = _model()
    gen = torch.Generator().manual_seed(11)
    items = [SampleItem(cond_mel=torch.randn(30, N_MELS, generator=gen), text_ids=torch.randint(0, 40, (n,),
                        generator=gen), duration=d, seed=s) for n, d, s in ((12, 61, 1), (20, 77, 2))]
    alone = F5Sampler(cfm)
    assert alone.fused and not alone.varlen  # the CPU keeps the bias path unless told otherwise
    exact = [alone.sample([it], **KW)[0] for it in items]
    varlen = F5Sampler(cfm, padded_attention="varlen_flash")
    assert not varlen.varlen  # the kernels need CUDA: the CPU falls back to the bias
    varlen.varlen = True  # the GPU's choice, forced here to run the same offsets through the CPU fallback
    padded = varlen.sample(items, length=96, **KW)  # both padded, to a length neither fills
    bias = F5Sampler(cfm).sample(items, length=96, **KW)
    for got, masked, want in zip(padded, bias, exact):
        assert got.shape == want.shape
        assert _rel(got, want) < 1e-5 and _rel(masked, want) < 1e-5
    single = varlen.sample(items[:1], length=64, force_padded=True, **KW)[0]  # one request in its bucket
    assert _rel(single, exact[0]) < 1e-5
