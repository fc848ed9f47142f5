"""A Triton attention kernel for the DiT step (CUDA only; imported only when `engine.attention` is "triton").

Why: at the step's shapes (16 heads of 64, 800-2100 frames, [cond; uncond] rows) cuDNN's attention, the fastest
library kernel here, runs at 250-350 TFLOP/s on an H200 (benchmarks/h200-2026-12-01-r4/call3), and attention is a
fifth of a short request's step and two fifths of a long one's. This kernel reads q, k and v where the block's
q/k/v GEMM and rotary left them (any strides, so no layout copy) and writes the output as (batch, frames, heads,
head_dim), the layout the output projection reads; one program computes one tile of queries of one (row, head)
with the running-maximum softmax, so the scores never go to memory.

Padded rows ("triton" padded attention): with the sampler's variable-length offsets each row reads only its own
frames' keys and a tile of padding queries does no work, so a padded row costs about what its exact length
does; the dense library call with a padding bias computes every padded key and query (10-25% more, round 3).

Applying the rotary embedding inside the kernel as well (pair-swapped loads of each q and k tile) was measured
5.5 times slower in the engine (round 5, benchmarks/h200-2026-12-02-r5/call2) and removed.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _kv_tile(q, k_base, v_base, start, N, skn, svn, m_i, l_i, acc, qk_scale,
             D: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr):
    """One tile of keys and values into the running softmax (m_i: row maximum, l_i: row sum, acc: output)."""
    cols = start + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, D)
    col_ok = cols < N
    if MASKED:
        k = tl.load(k_base + cols[:, None] * skn + dims[None, :], mask=col_ok[:, None], other=0.0)
        v = tl.load(v_base + cols[:, None] * svn + dims[None, :], mask=col_ok[:, None], other=0.0)
        s = tl.where(col_ok[None, :], tl.dot(q, tl.trans(k)) * qk_scale, float("-inf"))
    else:
        k = tl.load(k_base + cols[:, None] * skn + dims[None, :])
        v = tl.load(v_base + cols[:, None] * svn + dims[None, :])
        s = tl.dot(q, tl.trans(k)) * qk_scale
    m_new = tl.maximum(m_i, tl.max(s, 1))
    p = tl.exp2(s - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc


@triton.jit
def _attention_kernel(q_ptr, k_ptr, v_ptr, o_ptr, cu_ptr, N, H, scale,
                      sqb, sqn, sqh, skb, skn, skh, svb, svn, svh, sob, son, soh,
                      D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PADDED: tl.constexpr):
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    if PADDED:
        # the row's own frames, from the variable-length offsets (frames, then padding, per row): keys past them
        # are padding, and a tile of padding queries reads no keys and writes zeros (the block masks them anyway)
        n_own = tl.load(cu_ptr + 2 * b + 1) - tl.load(cu_ptr + 2 * b)
        n_kv = tl.where(pid_m * BLOCK_M < n_own, n_own, 0)
    else:
        n_kv = N
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, D)
    row_ok = rows < N
    q = tl.load(q_ptr + b * sqb + h * sqh + rows[:, None] * sqn + dims[None, :], mask=row_ok[:, None], other=0.0)
    k_base = k_ptr + b * skb + h * skh
    v_base = v_ptr + b * svb + h * svh
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    # scores in base 2: exp(s) = exp2(s * log2(e)), the scale folded into the same multiply
    qk_scale = scale * 1.4426950408889634
    full = (n_kv // BLOCK_N) * BLOCK_N  # whole tiles need no mask; the last, partial one does
    for start in tl.range(0, full, BLOCK_N):
        m_i, l_i, acc = _kv_tile(q, k_base, v_base, start, n_kv, skn, svn, m_i, l_i, acc, qk_scale, D, BLOCK_N,
                                 False)
    if full < n_kv:
        m_i, l_i, acc = _kv_tile(q, k_base, v_base, full, n_kv, skn, svn, m_i, l_i, acc, qk_scale, D, BLOCK_N,
                                 True)
    if PADDED:
        l_i = tl.where(l_i > 0, l_i, 1.0)  # rows that read no keys: zeros, not 0 / 0
    out = acc / l_i[:, None]
    if PADDED:
        out = tl.where((rows < n_own)[:, None], out, 0.0)  # padding queries in a tile with frames: zeros too
    tl.store(o_ptr + b * sob + h * soh + rows[:, None] * son + dims[None, :], out.to(o_ptr.dtype.element_ty),
             mask=row_ok[:, None])


# the best of 36 tile / warp / pipeline configurations over the short, medium, long and batch-16 shapes on the H200
# (benchmarks/probe_kernels.py --triton-attention, benchmarks/h200-2026-12-01-r4/call6): 22.3 / 48.7 / 87.8 / 274 us
# against cuDNN's 23.9 / 52.7 / 114.8 / 275
CONFIG = {"block_m": 64, "block_n": 64, "warps": 4, "stages": 3}


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor | None = None,
              block_m: int | None = None, block_n: int | None = None, warps: int | None = None,
              stages: int | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v for q, k, v of shape (batch, frames, heads, head_dim), any strides (a last
    dimension that is not contiguous is copied first; head_dim a power of two); returns (batch, frames, heads,
    head_dim), contiguous. With `cu_seqlens` (int32, the sampler's variable-length offsets: each row's frames then
    its padding, `f5_sampler.split_offsets`) each row attends only to its own frames, and its padding rows come
    out as zeros."""
    b, n, h, d = q.shape
    q, k, v = (_last_dim_contiguous(t) for t in (q, k, v))
    out = torch.empty((b, n, h, d), device=q.device, dtype=q.dtype)
    bm = block_m or CONFIG["block_m"]
    grid = (triton.cdiv(n, bm), b * h)
    _attention_kernel[grid](
        q, k, v, out, cu_seqlens if cu_seqlens is not None else q, n, h, d ** -0.5,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), out.stride(0), out.stride(1), out.stride(2),
        D=d, BLOCK_M=bm, BLOCK_N=block_n or CONFIG["block_n"], PADDED=cu_seqlens is not None,
        num_warps=warps or CONFIG["warps"], num_stages=stages or CONFIG["stages"],
    )
    return out


def _last_dim_contiguous(t: torch.Tensor) -> torch.Tensor:
    """The kernel steps through head_dim one element at a time: other strides are free, that one must be 1."""
    return t if t.stride(-1) == 1 else t.contiguous()


@torch.library.custom_op("ishowtts::attention", mutates_args=())
def attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor | None) -> torch.Tensor:
    """`attention` as an operator torch.compile traces around (a Triton launch it does not look into)."""
    return attention(q, k, v, cu_seqlens)


@attention_op.register_fake
def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor | None) -> torch.Tensor:
    return q.new_empty(q.shape)
