"""The Triton attention kernel (`engine.attention = "triton"`, engines/f5_attention.py), checked on the CPU through
Triton's interpreter: it equals PyTorch's attention on strided q, k, v of lengths with and without a partial last
tile and with padded rows, and a fused DiT block gives the same result through it. Its speed is measured on the GPU
(benchmarks/probe_kernels.py --triton-attention, docs/performance.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ishowtts_studio.engines.f5_sampler import F5Sampler
from tests.unit.test_varlen import _model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def measured() -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("triton_attention_check.py"))], env=env,
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_kernel_equals_pytorch_attention(measured: dict) -> None:
    diffs = measured["kernel_max_abs"]
    assert len(diffs) == 6  # fp32 and fp16, each at 70, 64 and 5 frames
    for key, diff in diffs.items():
        assert diff < (1e-5 if "float32" in key else 2e-3), (key, diff)


def test_fused_block_is_the_same_through_the_kernel(measured: dict) -> None:
    block = measured["block"]
    assert block["kernel_calls"] == [[2, 37, 4, 16]]  # the kernel served the block's attention, once
    assert block["rel"] < 1e-5
    assert block["next_norm_rel"] < 1e-5


def test_padded_rows_read_only_their_own_frames(measured: dict) -> None:
    padded = measured["padded_kernel"]
    for row in ("row0", "row1"):
        assert padded[row] < 1e-5, (row, padded[row])  # each row's frames: as if it were alone
        assert padded[f"{row}_padding"] == 0.0  # its padding rows: zeros, not 0 / 0


def test_fused_block_with_padding_is_the_same_through_the_kernel(measured: dict) -> None:
    """A padded batch: the kernel with the sampler's offsets gives what the dense attention with the padding bias
    gives (`engine.padded_attention = "triton"` against "bias")."""
    block = measured["padded_block"]
    assert block["kernel_calls"] == [[2, 37, 4, 16]]
    assert block["rel"] < 1e-5
    assert block["next_norm_rel"] < 1e-5


def test_sampler_keeps_library_attention_where_the_kernel_cannot_run() -> None:
    """On the CPU (and in fp32) the sampler does not use the kernel, so "triton" in the config is safe anywhere."""
    sampler = F5Sampler(_model(), attention="triton", padded_attention="triton")
    assert sampler.triton_attention is False
    assert sampler.padded_triton is False and sampler.varlen is False  # padding then masked by the bias
    assert sampler.attention == "triton"
