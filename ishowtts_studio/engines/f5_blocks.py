"""The fused DiT step of the published F5 layout as pure functions of their weights (head, one block shared by
all blocks, tail), so `torch.compile` builds one small graph for each and CUDA graphs capture them; the sampler
(`f5_sampler`) decides when they apply (`fusable`) and feeds them. Same maths as the model's own modules
(tested against them in tests/unit/test_sampler.py)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ishowtts_studio.engines.f5_fp8 import Fp8Weight, linear


def _grouped_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int) -> torch.Tensor:
    """A grouped 'same' Conv1d on (batch, length, channels) as one bmm over unfolded windows."""
    b, n, c = x.shape
    out_c, cg, k = weight.shape
    pad = k // 2
    windows = F.pad(x, (0, 0, pad, pad)).unfold(1, k, 1)  # (b, n, c, k), a view
    windows = windows.reshape(b * n, groups, cg * k).transpose(0, 1)  # (groups, b*n, cg*k)
    w = weight.view(groups, -1, cg * k).transpose(1, 2)  # (groups, cg*k, out per group)
    return torch.bmm(windows, w).transpose(0, 1).reshape(b, n, out_c) + bias


def varlen_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor,
                     max_len: int) -> torch.Tensor:
    """Attention within each sequence that `cu_seqlens` (int32 offsets) delimits; q, k, v are (tokens, heads,
    head_dim). A padded row is two sequences (its frames, then its padding), so padding needs no mask. On CUDA,
    FlashAttention-2's variable-length kernel (cuDNN's ragged attention was measured at 40-70 ms a call and
    cannot be traced by torch.compile: benchmarks/h200-2026-12-01/call2). The offsets are a device tensor, so a
    CUDA graph replays any split of its length. Off CUDA (tests) the same sums run one sequence at a time."""
    if q.is_cuda:
        return torch.ops.aten._flash_attention_forward(
            q, k, v, cu_seqlens, cu_seqlens, max_len, max_len, 0.0, False, False
        )[0]
    out = torch.empty_like(q)
    bounds = cu_seqlens.tolist()
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end > start:
            part = (t[start:end].transpose(0, 1) for t in (q, k, v))  # (heads, frames, head_dim)
            out[start:end] = F.scaled_dot_product_attention(*part).transpose(0, 1)
    return out


def fused_head(
    x: torch.Tensor,
    static: torch.Tensor,
    w_x: torch.Tensor,
    conv_w1: torch.Tensor,
    conv_b1: torch.Tensor,
    conv_w2: torch.Tensor,
    conv_b2: torch.Tensor,
    keep: torch.Tensor | None,
    ln_w: torch.Tensor,
    ln_b: torch.Tensor,
    eps: float,
    groups: int,
    use_cfg: bool,
    triton_conv: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The DiT's input embedding at one step: the step-dependent part of the input projection plus the
    precomputed static part, then the convolutional position embedding (conv, Mish, conv, Mish; padded
    frames zeroed) added back. `keep` is the (packed batch, length, 1) frame mask or None (no padding).
    With `triton_conv` each conv + mask + Mish is one Triton kernel (weights from
    `f5_kernels.arrange_weight`). Returns the hidden state and the first block's modulated layer norm of
    it (weight `ln_w` = 1 + scale, bias `ln_b` = shift)."""
    xx = torch.cat((x, x), dim=0) if use_cfg else x
    h = F.linear(xx, w_x) + static
    c = h if keep is None else h.masked_fill(~keep, 0.0)
    if triton_conv:
        keep8 = keep.squeeze(-1).to(torch.uint8) if keep is not None else None
        for w, b in ((conv_w1, conv_b1), (conv_w2, conv_b2)):
            c = torch.ops.ishowtts.gconv_mish(c, w, b, keep8)
    else:
        for w, b in ((conv_w1, conv_b1), (conv_w2, conv_b2)):
            c = _grouped_conv(c, w, b, groups)
            if keep is not None:
                c = c.masked_fill(~keep, 0.0)
            c = F.mish(c)
    h = c + h
    return h, F.layer_norm(h, (h.shape[-1],), ln_w, ln_b, eps)


def fused_block(
    x: torch.Tensor,
    norm: torch.Tensor,
    mod: torch.Tensor,
    next_w: torch.Tensor,
    next_b: torch.Tensor,
    w_qkv: torch.Tensor | Fp8Weight,
    b_qkv: torch.Tensor,
    w_o: torch.Tensor | Fp8Weight,
    b_o: torch.Tensor,
    w_ff1: torch.Tensor | Fp8Weight,
    b_ff1: torch.Tensor,
    w_ff2: torch.Tensor | Fp8Weight,
    b_ff2: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    keep: torch.Tensor | None,
    attn_bias: torch.Tensor | None,
    cu_seqlens: torch.Tensor | None,
    heads: int,
    eps_ff: float,
    eps_next: float,
    gelu_epilogue: bool = False,
    fp8_native: bool = False,
    triton_attention: bool = False,
    padded_triton: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DiT block (published layout) as a pure function of its weights, so one compiled graph serves
    all blocks. `norm` is this block's modulated attention norm of `x` (computed by the previous block or
    the head); the block returns the new hidden state and the NEXT layer's modulated norm of it (weight
    `next_w` = 1 + scale, bias `next_b` = shift: the next block's attention norm, or the final norm), so
    the gated residual and the next norm share one pass. Modulated norms are `layer_norm` calls (the step's
    modulation is shared by every row; `mod` holds 1 + scale), q/k/v one GEMM, rotary on q and k together
    from cos / signed-sin tables, gated residuals `addcmul`, the tanh-GELU feed-forward (with
    `gelu_epilogue`, GELU runs in the GEMM's epilogue: cuBLASLt's GELU is the same tanh form). Weights given
    as `Fp8Weight` (`engine.fp8_gemms`) run as FP8 GEMMs (`f5_fp8`; `fp8_native`: on FP8 tensor cores).
    Padded rows mask their padding either with `attn_bias` (dense attention) or `cu_seqlens` (`varlen_attention`;
    `engine.padded_attention`). With `triton_attention` unpadded rows go through `f5_attention` (`engine.attention
    = "triton"`), which reads q, k and v where they lie and writes the output projection's layout. With
    `padded_triton` (`engine.padded_attention = "triton"`) padded rows go through the kernel too, each reading
    only its own frames' keys (from `cu_seqlens`)."""
    b, n, _ = x.shape
    qkv = linear(norm, w_qkv, b_qkv, fp8_native).view(b, n, 3, heads, -1)
    triton = triton_attention and attn_bias is None and (cu_seqlens is None or padded_triton)
    qk = qkv[:, :, :2]
    qk = torch.addcmul(qk * cos, qk.unflatten(-1, (-1, 2)).flip(-1).flatten(-2), sin)
    if triton:
        o = torch.ops.ishowtts.attention(qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2], cu_seqlens).view(b, n, -1)
    elif cu_seqlens is not None:
        q, k, v = (t.reshape(b * n, heads, -1) for t in (qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]))
        o = varlen_attention(q, k, v, cu_seqlens, n).view(b, n, -1)
    else:
        o = F.scaled_dot_product_attention(
            qk[:, :, 0].transpose(1, 2), qk[:, :, 1].transpose(1, 2), qkv[:, :, 2].transpose(1, 2),
            attn_mask=attn_bias,
        ).transpose(1, 2).reshape(b, n, -1)
    return _block_rest(x, o, mod, next_w, next_b, w_o, b_o, w_ff1, b_ff1, w_ff2, b_ff2, keep, eps_ff, eps_next,
                       gelu_epilogue, fp8_native)


def _block_rest(x: torch.Tensor, o: torch.Tensor, mod: torch.Tensor, next_w: torch.Tensor, next_b: torch.Tensor,
                w_o: torch.Tensor | Fp8Weight, b_o: torch.Tensor, w_ff1: torch.Tensor | Fp8Weight,
                b_ff1: torch.Tensor, w_ff2: torch.Tensor | Fp8Weight, b_ff2: torch.Tensor, keep: torch.Tensor | None,
                eps_ff: float, eps_next: float, gelu_epilogue: bool,
                fp8_native: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A block after its attention: output projection, gated residual, feed-forward, and the next layer's norm."""
    b, n, dim = x.shape
    _, _, gate_msa, shift_mlp, wscale_mlp, gate_mlp = mod.view(6, dim).unbind(0)
    o = linear(o, w_o, b_o, fp8_native)
    if keep is not None:
        o = o.masked_fill(~keep, 0.0)
    x = torch.addcmul(x, gate_msa, o)
    norm = F.layer_norm(x, (dim,), wscale_mlp, shift_mlp, eps_ff)
    if gelu_epilogue and not isinstance(w_ff1, Fp8Weight):
        hidden = torch.ops.ishowtts.linear_gelu(norm.view(b * n, dim), w_ff1, b_ff1).view(b, n, -1)
    else:
        hidden = F.gelu(linear(norm, w_ff1, b_ff1, fp8_native), approximate="tanh")
    x = torch.addcmul(x, gate_mlp, linear(hidden, w_ff2, b_ff2, fp8_native))
    return x, F.layer_norm(x, (dim,), next_w, next_b, eps_next)


def fused_tail(
    norm: torch.Tensor,
    w_out: torch.Tensor,
    b_out: torch.Tensor,
    cfg: torch.Tensor,
    use_cfg: bool,
) -> torch.Tensor:
    """Output projection of the final modulated norm (computed by the last block), CFG combination."""
    pred = F.linear(norm, w_out, b_out)
    if not use_cfg:
        return pred
    p_c, p_u = torch.chunk(pred, 2, dim=0)
    return p_c + (p_c - p_u) * cfg


def fusable(dit: Any) -> bool:
    """The fused path covers the published F5 configs: rotary on every head, no qk-norm, no xpos, no long
    skip connection, tanh-GELU feed-forward."""
    blocks = dit.transformer_blocks
    return (
        getattr(dit.rotary_embed, "scale", None) is None  # xpos scaling off
        and dit.long_skip_connection is None
        and all(b.attn.processor.pe_attn_head is None for b in blocks)
        and all(b.attn.q_norm is None and b.attn.k_norm is None for b in blocks)
        and all(b.attn.to_q.bias is not None for b in blocks)
        and all(getattr(b.ff.ff[0][1], "approximate", None) == "tanh" for b in blocks)
    )
