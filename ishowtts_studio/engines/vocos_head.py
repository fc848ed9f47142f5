"""Vocos's ISTFT head (linear, then magnitude and phase, then the inverse STFT) without a GPU value read on the host.

torch.istft checks that the window's overlap-add envelope is nowhere zero by comparing a GPU value on the host
(`aten.equal`), so every decode stopped the host until the GPU had caught up: nothing could be queued behind it
(the engine runs a batch's length groups one ahead) and the head could not be captured in a CUDA graph. The
envelope depends only on the window, the hop and the frame count, so `SyncFreeHead` makes that check once, on the
host, when it is built; the arithmetic is torch.istft's with `center=True`, and the audio equals Vocos's own head
to float rounding (tests/unit/test_vocos_head.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def _overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """(B, n_fft, T) windowed frames -> (B, n_fft + hop * (T - 1)) signal, each frame added at t * hop."""
    n_fft, count = frames.shape[1], frames.shape[2]
    size = n_fft + hop * (count - 1)
    return F.fold(frames, output_size=(1, size), kernel_size=(1, n_fft), stride=(1, hop))[:, 0, 0]


def istft_center(spec: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """torch.istft(spec, n_fft, hop, n_fft, window, center=True) for a (B, n_fft // 2 + 1, T) complex spectrogram,
    less its envelope check (see `envelope_is_nonzero`)."""
    frames = torch.fft.irfft(spec, n_fft, dim=1) * window[None, :, None]
    count = spec.shape[-1]
    signal = _overlap_add(frames, hop)
    envelope = _overlap_add(window.square()[None, :, None].expand(1, n_fft, count), hop)
    half = n_fft // 2
    end = signal.shape[-1] - half
    return signal[:, half:end] / envelope[:, half:end]


def envelope_is_nonzero(window: torch.Tensor, hop: int, max_frames: int = 64) -> bool:
    """torch.istft's condition (the overlap-added squared window above 1e-11 wherever samples are kept, center=True)
    for 2 to `max_frames` frames, on the host. More frames repeat the same pattern between the two edges."""
    window = window.detach().double().cpu()
    n_fft, half = window.numel(), window.numel() // 2
    for count in range(2, max_frames + 1):
        envelope = _overlap_add(window.square()[None, :, None].expand(1, n_fft, count), hop)[0]
        kept = envelope[half : envelope.numel() - half]
        if kept.numel() and float(kept.abs().min()) < 1e-11:
            return False
    return True


class SyncFreeHead:
    """A Vocos ISTFTHead (center padding) computed with `istft_center`; same weights, same audio."""

    def __init__(self, head: Any) -> None:
        istft = head.istft
        self.out = head.out
        self.n_fft, self.hop = int(istft.n_fft), int(istft.hop_length)
        self.window = istft.window

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, frames, dim) backbone output -> (B, samples) audio."""
        mag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)
        mag = torch.exp(mag).clip(max=1e2)  # Vocos's own guard against huge magnitudes
        spec = torch.polar(mag, phase)
        return istft_center(spec, self.n_fft, self.hop, self.window)


def sync_free_head(head: Any) -> SyncFreeHead | None:
    """`SyncFreeHead` for a Vocos ISTFTHead with center padding and a window whose envelope passes the check;
    None for any other head (the caller keeps Vocos's own)."""
    istft = getattr(head, "istft", None)
    if istft is None or not hasattr(head, "out") or getattr(istft, "padding", None) != "center":
        return None
    if int(istft.win_length) != int(istft.n_fft) or not envelope_is_nonzero(istft.window, int(istft.hop_length)):
        return None
    return SyncFreeHead(head)
