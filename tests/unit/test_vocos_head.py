"""Vocos's ISTFT head without torch.istft's host-side check (engines/vocos_head.py): the same audio as Vocos's own
head and torch.istft, and no GPU value read on the host (seen on the CPU as the ops dispatched)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ishowtts_studio.engines.vocos_head import SyncFreeHead, envelope_is_nonzero, istft_center, sync_free_head
from tests.helpers import smoke_f5

# the ops that hand a tensor's value to the host (on a GPU: wait for it)
HOST_READS = ("aten.equal", "aten._local_scalar_dense", "aten.item", "aten.is_nonzero")


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def _host_reads(fn, *args) -> tuple[torch.Tensor, list[str]]:  # type: ignore[no-untyped-def]
    with _Ops() as ops:
        out = fn(*args)
    return out, [n for n in ops.names if n.startswith(HOST_READS)]


@pytest.mark.parametrize(("batch", "frames"), [(1, 2), (1, 7), (3, 64), (2, 301)])
def test_istft_equals_torch_istft(batch: int, frames: int) -> None:
    gen = torch.Generator().manual_seed(frames)
    spec = torch.complex(torch.randn(batch, 513, frames, generator=gen), torch.randn(batch, 513, frames, generator=gen))
    window = torch.hann_window(1024)
    ours = istft_center(spec, 1024, 256, window)
    ref = torch.istft(spec, 1024, 256, 1024, window, center=True)
    assert ours.shape == ref.shape == (batch, 256 * (frames - 1))
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_envelope_check_refuses_a_window_with_holes() -> None:
    assert envelope_is_nonzero(torch.hann_window(1024), 256)
    # a hop as long as the window: each frame's edge samples (Hann is 0 there) have nothing overlapping them
    assert not envelope_is_nonzero(torch.hann_window(1024), 1024)


@pytest.fixture(scope="module")
def vocos(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    engine = smoke_f5(Path(tmp_path_factory.mktemp("cache")))
    engine.load()
    return engine.vocoder


def test_head_gives_vocos_audio_without_reading_the_gpu(vocos) -> None:  # type: ignore[no-untyped-def]
    head = sync_free_head(vocos.head)
    assert isinstance(head, SyncFreeHead)
    features = vocos.backbone(torch.randn(2, 100, 120, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():  # (under inference_mode the dispatcher hands over istft whole, not its ops)
        theirs, their_reads = _host_reads(vocos.head, features)
        ours, our_reads = _host_reads(head, features)
    assert their_reads, "Vocos's own head (torch.istft) reads a value on the host: the check below would see it"
    assert our_reads == []
    assert ours.shape == theirs.shape == (2, 119 * 256)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_decoder_uses_it_and_keeps_other_heads(vocos) -> None:  # type: ignore[no-untyped-def]
    from ishowtts_studio.engines.f5_vocoder import VocosDecoder

    decoder = VocosDecoder(vocos)
    assert isinstance(decoder._head, SyncFreeHead)
    mels = [torch.randn(90, 100), torch.randn(90, 100), torch.randn(40, 100)]
    with _Ops() as ops:
        pending = decoder.launch(mels)
    assert "aten.istft.default" not in ops.names and not [n for n in ops.names if n.startswith(HOST_READS)]
    waves = pending.result()
    assert [len(w) for w in waves] == [89 * 256, 89 * 256, 39 * 256]

    class SameHead:  # another padding: Vocos's own code must run
        out = vocos.head.out
        istft = type("I", (), {"padding": "same", "n_fft": 1024, "hop_length": 256, "win_length": 1024,
                               "window": torch.hann_window(1024)})()

    assert sync_free_head(SameHead()) is None
    assert sync_free_head(object()) is None
