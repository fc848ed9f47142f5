"""FP8 GEMMs for the DiT blocks (`engine.fp8_gemms`, off by default): weights stored as float8 e4m3 with one
scale per output channel, activations quantised per row on the fly, products by `torch._scaled_mm` (Hopper's
FP8 tensor cores) with the bias added and the result in the model's precision.

Why per row / per channel: one scale per tensor lets a single loud row (or channel) push all others into
e4m3's few subnormal steps; row-wise scales keep each row's own range. The error this adds is measured
against the bf16 path by the benchmark (`fp8_mel_rel_err`), not assumed.

Devices without FP8 GEMMs (before compute capability 8.9, and the CPU, where `_scaled_mm` takes one scale per
tensor only) get the same arithmetic emulated: the quantised values are scaled back and multiplied in the
input's precision. That is what the CPU tests check; it is slower, not a fast path.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0  # largest finite e4m3 value
_TINY = 1e-12  # keeps an all-zero row's scale finite


class Fp8Weight(NamedTuple):
    """A linear layer's weight (out, in) in e4m3, transposed to the column-major layout `_scaled_mm` wants
    (`q_t`, (in, out)), with its per-output-channel scales (`scale`, (1, out), float32). A tuple, so the
    compiled block takes it like any other argument."""

    q_t: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def of(cls, weight: torch.Tensor) -> Fp8Weight:
        w = weight.detach().float()
        scale = (w.abs().amax(dim=1, keepdim=True) / E4M3_MAX).clamp_min(_TINY)
        return cls((w / scale).to(E4M3).t(), scale.t().contiguous())


def fp8_supported(device: torch.device) -> bool:
    """Whether this device multiplies e4m3 with row-wise scales natively (Ada and Hopper and later; the
    row-wise kernels write bf16, so the model runs in bf16 for the fast path)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


def quantise_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, in) -> e4m3 values and each row's float32 scale (rows, 1)."""
    scale = (x.abs().amax(dim=1, keepdim=True).float() / E4M3_MAX).clamp_min(_TINY)
    return (x.float() / scale).to(E4M3), scale


def fp8_linear(x: torch.Tensor, w: Fp8Weight, bias: torch.Tensor | None, native: bool) -> torch.Tensor:
    """`F.linear(x, weight, bias)` with both operands in e4m3: x (..., in) -> (..., out) in x's dtype.
    `native` (decided once, outside compiled code): `fp8_supported` and x in bf16."""
    lead = x.shape[:-1]
    xq, xs = quantise_rows(x.reshape(-1, x.shape[-1]))
    if native:
        out = torch._scaled_mm(xq, w.q_t, scale_a=xs, scale_b=w.scale, out_dtype=x.dtype)
        if bias is not None:  # added apart: not every build takes a bias with row-wise scales
            out = out + bias
    else:  # the same quantised operands, multiplied after scaling back (see the module's docstring)
        out = F.linear((xq.float() * xs).to(x.dtype), (w.q_t.t().float() * w.scale.t()).to(x.dtype), bias)
    return out.view(*lead, w.q_t.shape[1])


def linear(x: torch.Tensor, w: torch.Tensor | Fp8Weight, bias: torch.Tensor | None, native: bool) -> torch.Tensor:
    """`F.linear`, or `fp8_linear` when the weight was quantised (`Fp8Weight`)."""
    if isinstance(w, Fp8Weight):
        return fp8_linear(x, w, bias, native)
    return F.linear(x, w, bias)
