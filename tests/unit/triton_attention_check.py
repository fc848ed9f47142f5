"""Run by tests/unit/test_triton_attention.py in a subprocess with TRITON_INTERPRET=1 (Triton's CPU interpreter,
chosen when the kernel is defined, hence a process of its own). Prints one JSON object of measured differences."""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F
import triton.runtime.interpreter as interpreter

# Triton 3.5's interpreter turns a scalar argument into a 1-element array and reads it back with int(), which
# NumPy 2.4 refuses for arrays of one dimension; read the element instead (only this process, only the interpreter)
_patch_tensor = interpreter._patch_lang_tensor


def _patched(tensor: type) -> None:
    _patch_tensor(tensor)
    tensor.__index__ = lambda self: int(np.asarray(self.handle.data).reshape(-1)[0])


interpreter._patch_lang_tensor = _patched

from ishowtts_studio.engines import f5_attention  # noqa: E402  (after the patch above; registers the custom op)
from ishowtts_studio.engines.f5_attention import attention  # noqa: E402
from ishowtts_studio.engines.f5_blocks import fused_block  # noqa: E402
from ishowtts_studio.engines.f5_sampler import split_offsets  # noqa: E402


def kernel_vs_sdpa() -> dict[str, float]:
    """The kernel against PyTorch's attention, on q, k, v sliced out of one packed tensor (strided, as the block has
    them): lengths with a partial last tile, whole tiles only, and fewer frames than a tile."""
    out = {}
    gen = torch.Generator().manual_seed(11)
    for dtype in (torch.float32, torch.float16):
        for frames in (70, 64, 5):
            qkv = torch.randn(2, frames, 3, 2, 16, generator=gen).to(dtype)
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
            got = attention(q, k, v, block_m=32, block_n=16, warps=4, stages=1)
            ref = F.scaled_dot_product_attention(*(t.float().transpose(1, 2) for t in (q, k, v))).transpose(1, 2)
            assert got.shape == (2, frames, 2, 16) and got.is_contiguous() and got.dtype == dtype
            out[f"{dtype}_{frames}"] = float((got.float() - ref).abs().max())
    return out


def padded_kernel_vs_each_alone() -> dict[str, float]:
    """Two rows of 37 and 20 frames padded to 40, with the sampler's offsets: each row's frames against the
    attention of that row alone, and its padding rows (zeros)."""
    gen = torch.Generator().manual_seed(13)
    valid, length = [37, 20], 40
    qkv = torch.randn(2, length, 3, 2, 16, generator=gen)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    cu = torch.tensor(split_offsets(valid, length), dtype=torch.int32)
    got = attention(q, k, v, cu_seqlens=cu, block_m=16, block_n=16, warps=4, stages=1)
    out = {}
    for row, n in enumerate(valid):
        alone = F.scaled_dot_product_attention(*(t[row:row + 1, :n].transpose(1, 2) for t in (q, k, v)))
        out[f"row{row}"] = float((got[row:row + 1, :n] - alone.transpose(1, 2)).abs().max())
        out[f"row{row}_padding"] = float(got[row, n:].abs().max())
    return out


def block_with_and_without(padded: bool = False) -> dict:
    """One fused DiT block (fp32, tiny: 64 wide, 4 heads of 16) through the Triton kernel and through PyTorch's
    attention: relative difference of the new hidden state."""
    gen = torch.Generator().manual_seed(5)
    b, n, dim, heads = 2, 37, 64, 4

    def r(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    x, norm = r(b, n, dim), r(b, n, dim)
    mod = r(6 * dim, scale=0.1)
    weights = (r(3 * dim, dim, scale=dim**-0.5), r(3 * dim, scale=0.1), r(dim, dim, scale=dim**-0.5), r(dim, scale=0.1),
               r(2 * dim, dim, scale=dim**-0.5), r(2 * dim, scale=0.1), r(dim, 2 * dim, scale=(2 * dim) ** -0.5),
               r(dim, scale=0.1))
    angles = torch.arange(n)[:, None] * r(16).abs()[None, :]
    cos, sin = angles.cos().view(1, n, 1, 1, 16), angles.sin().view(1, n, 1, 1, 16)
    if padded:  # the second row's last 12 frames are padding: a bias for the plain path, offsets for the kernel
        keep = torch.ones(b, n, 1, dtype=torch.bool)
        keep[1, n - 12:] = False
        bias = torch.zeros(b, 1, 1, n).masked_fill(~keep.view(b, 1, 1, n), float("-inf"))
        cu = torch.tensor(split_offsets([n, n - 12], n), dtype=torch.int32)
    else:
        keep = bias = cu = None
    weights_etc = (x, norm, mod, 1 + r(dim, scale=0.1), r(dim, scale=0.1), *weights, cos, sin, keep)
    args = (*weights_etc, bias, None, heads, 1e-6, 1e-6)
    plain, plain_norm = fused_block(*args)
    if padded:
        args = (*weights_etc, None, cu, heads, 1e-6, 1e-6)
    calls = []
    kernel = f5_attention.attention
    f5_attention.attention = lambda *a, **kw: calls.append(a[0].shape) or kernel(*a, **kw)  # the op looks it up
    try:
        tri, tri_norm = fused_block(*args, triton_attention=True, padded_triton=padded)
    finally:
        f5_attention.attention = kernel
    return {"rel": float((tri - plain).norm() / plain.norm()),
            "next_norm_rel": float((tri_norm - plain_norm).norm() / plain_norm.norm()),
            "kernel_calls": [list(shape) for shape in calls]}


if __name__ == "__main__":
    print(json.dumps({"kernel_max_abs": kernel_vs_sdpa(), "block": block_with_and_without(),
                      "padded_kernel": padded_kernel_vs_each_alone(),
                      "padded_block": block_with_and_without(padded=True)}))
