"""Hand-written kernels for the F5 fast path (CUDA only; imported only when they are switched on).

`gconv_mish`: f5-tts's grouped 'same' Conv1d of the convolutional position embedding, with its bias, the
zeroing of padded frames and the Mish that follows, in one kernel on channels-last (batch, length,
channels) input. Each program computes a tile of frames for one group as K small matrix products over
shifted rows of the input (read from L2), so the unfolded windows (31x the activation, 110-260 MB per call
at batch 1) are never written to memory. Registered as a custom op so `torch.compile` can trace around it.

`linear_gelu`: the feed-forward's first GEMM with bias and tanh-GELU in cuBLASLt's epilogue.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _gconv_mish_kernel(x_ptr, w_ptr, b_ptr, keep_ptr, y_ptr, N,
                       C: tl.constexpr, CG: tl.constexpr, K: tl.constexpr, HAS_KEEP: tl.constexpr,
                       BLOCK_N: tl.constexpr):
    pid_n = tl.program_id(0)
    g = tl.program_id(1)
    b = tl.program_id(2)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, CG)
    x_base = x_ptr + b * N * C + g * CG
    acc = tl.zeros((BLOCK_N, CG), dtype=tl.float32)
    for k in range(K):
        src = rows + (k - K // 2)
        ok = (src >= 0) & (src < N)
        a = tl.load(x_base + src[:, None] * C + cols[None, :], mask=ok[:, None], other=0.0)
        w = tl.load(w_ptr + ((g * K + k) * CG + cols[:, None]) * CG + cols[None, :])
        acc = tl.dot(a, w, acc)
    acc += tl.load(b_ptr + g * CG + cols).to(tl.float32)[None, :]
    if HAS_KEEP:
        kp = tl.load(keep_ptr + b * N + rows, mask=rows < N, other=0)
        acc = tl.where(kp[:, None] != 0, acc, 0.0)
    # Mish: x * tanh(softplus(x)), softplus with torch's threshold of 20; softplus >= 0 keeps tanh stable
    sp = tl.where(acc > 20.0, acc, tl.log(1.0 + tl.exp(acc)))
    e = tl.exp(-2.0 * sp)
    y = acc * (1.0 - e) / (1.0 + e)
    tl.store(y_ptr + b * N * C + rows[:, None] * C + g * CG + cols[None, :], y.to(y_ptr.dtype.element_ty),
             mask=(rows < N)[:, None])


def arrange_weight(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """Conv1d weight (C, C/groups, K) -> (groups, K, in per group, out per group), contiguous."""
    c, cg, k = weight.shape
    return weight.view(groups, c // groups, cg, k).permute(0, 3, 2, 1).contiguous()


@torch.library.custom_op("ishowtts::gconv_mish", mutates_args=())
def gconv_mish(x: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor, keep: torch.Tensor | None,
               block_n: int = 64) -> torch.Tensor:
    """mish(mask(grouped_conv1d(x) + bias)) on (batch, length, channels); `wt` from `arrange_weight`;
    `keep` (batch, length) uint8 or None."""
    x = x.contiguous()
    b, n, c = x.shape
    groups, k, cg, _ = wt.shape
    y = torch.empty_like(x)
    grid = (triton.cdiv(n, block_n), groups, b)
    _gconv_mish_kernel[grid](x, wt, bias, keep if keep is not None else x, y, n, C=c, CG=cg, K=k,
                             HAS_KEEP=keep is not None, BLOCK_N=block_n, num_warps=4, num_stages=3)
    return y


@gconv_mish.register_fake
def _(x: torch.Tensor, wt: torch.Tensor, bias: torch.Tensor, keep: torch.Tensor | None,
      block_n: int = 64) -> torch.Tensor:
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("ishowtts::linear_gelu", mutates_args=())
def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """gelu_tanh(x @ weight.T + bias) on 2-D x, the GELU in cuBLASLt's GEMM epilogue (kept opaque to
    torch.compile, which would otherwise split it back into a GEMM and a separate GELU kernel)."""
    return torch._addmm_activation(bias, x, weight.t(), use_gelu=True)


@linear_gelu.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape[0], weight.shape[0])
