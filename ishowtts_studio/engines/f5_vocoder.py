"""Vocos for the F5 engine: generated mel frames -> waveforms on the host, equal lengths decoded as one batch.

Vocos is ~80 small kernels a call, launch-bound at ~2.7 ms whatever the length on an H200
(benchmarks/h200-2026-12-01/call2/probe_path.json); with `compile_backbone` its ConvNeXt backbone runs compiled,
with batch and length dynamic, so one compiled graph serves every length and far fewer kernels are launched.
The head (linear, magnitude and phase, inverse STFT) is Vocos's, computed without torch.istft's host-side check
(vocos_head.py), so a decode never waits for the GPU.

`launch` queues the decode and the copy to the host without waiting (`PendingWaves`), so the engine can queue the
next length group's sampling before it waits for this group's audio; `hand_over` turns a group's waveforms into
the jobs' results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ishowtts_studio.engines.base import ChunkAudio, ReadyCallback
from ishowtts_studio.engines.f5_refs import TARGET_RMS, PreparedVoice
from ishowtts_studio.engines.vocos_head import sync_free_head


class VocosDecoder:
    def __init__(self, vocos: Any, compile_backbone: bool = False) -> None:
        self.vocos = vocos
        self.compiled = compile_backbone
        self._backbone = torch.compile(vocos.backbone, dynamic=None) if compile_backbone else vocos.backbone
        self._head = sync_free_head(vocos.head) or vocos.head

    def decode(self, mels: list[torch.Tensor]) -> list[np.ndarray]:
        """Each mel, (frames, n_mels), to its waveform on the host (waits for the GPU)."""
        return self.launch(mels).result()

    @torch.inference_mode()
    def launch(self, mels: list[torch.Tensor]) -> PendingWaves:
        """Start decoding each mel, (frames, n_mels), to its waveform, and its copy to the host, without waiting
        for the GPU: the caller may queue more GPU work before it asks for the `result()`. Mels of equal length
        are decoded as one batch (Vocos treats batch rows independently, so the result is the same), and all
        waveforms come to the host in one copy."""
        groups: dict[int, list[int]] = {}
        for i, mel in enumerate(mels):
            groups.setdefault(int(mel.shape[0]), []).append(i)
        waves: list[torch.Tensor | None] = [None] * len(mels)
        for idx in groups.values():
            batch = torch.stack([mels[i] for i in idx]).float().transpose(1, 2)  # (b, n_mels, frames)
            if self.compiled:
                torch._dynamo.mark_dynamic(batch, 0)
                torch._dynamo.mark_dynamic(batch, 2)
            decoded = self._head(self._backbone(batch))  # what Vocos.decode does
            for row, i in enumerate(idx):
                waves[i] = decoded[row]
        lengths = [int(w.shape[-1]) for w in waves]
        return PendingWaves(torch.cat([w.reshape(-1) for w in waves]).float(), lengths)


class PendingWaves:
    """Waveforms on their way to the host: on a GPU, a copy into page-locked memory queued behind the decode and
    an event after it, so waiting for them does not wait for GPU work queued later."""

    def __init__(self, flat: torch.Tensor, lengths: list[int]) -> None:
        self.lengths = lengths
        self._event: torch.cuda.Event | None = None
        self._source: torch.Tensor | None = None
        if flat.is_cuda:
            self._source = flat  # kept alive until the copy has run
            self._host = torch.empty(flat.shape, dtype=flat.dtype, pin_memory=True)
            self._host.copy_(flat, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:
            self._host = flat

    def result(self) -> list[np.ndarray]:
        if self._event is not None:
            self._event.synchronize()
        # copied out of the page-locked buffer, which goes back to PyTorch's pool as soon as this returns
        flat = self._host.numpy().copy()
        self._source = self._host = None
        return np.split(flat, np.cumsum(self.lengths)[:-1]) if len(self.lengths) > 1 else [flat]


def hand_over(idx: list[int], pending: PendingWaves, mels: list[torch.Tensor], refs: list[PreparedVoice],
              out: list[ChunkAudio | None], on_ready: ReadyCallback | None) -> None:
    """A launched group's audio: wait for its waveforms, scale a quiet reference's voice back to its loudness (as
    f5-tts does), store each job's result in `out` and announce it to `on_ready`."""
    for i, wave, mel in zip(idx, pending.result(), mels):
        prepared = refs[i]
        if 0 < prepared.rms < TARGET_RMS:
            wave = wave * (prepared.rms / TARGET_RMS)
        out[i] = ChunkAudio(audio=wave, duration_frames=mel.shape[0], ref_frames=prepared.ref_frames)
        if on_ready is not None:
            on_ready(i, out[i])
