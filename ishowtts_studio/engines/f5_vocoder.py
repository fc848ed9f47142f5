"""Vocos for the F5 engine: generated mel frames -> waveforms on the host, equal lengths decoded as one batch.

Vocos is ~80 small kernels a call, launch-bound at ~2.7 ms whatever the length on an H200
(benchmarks/h200-2026-12-01/call2/probe_path.json); with `compile_backbone` its ConvNeXt backbone runs compiled,
with batch and length dynamic, so one compiled graph serves every length and far fewer kernels are launched.
The head (linear, magnitude and phase, inverse STFT) stays Vocos's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class VocosDecoder:
    def __init__(self, vocos: Any, compile_backbone: bool = False) -> None:
        self.vocos = vocos
        self.compiled = compile_backbone
        self._backbone = torch.compile(vocos.backbone, dynamic=None) if compile_backbone else vocos.backbone

    @torch.inference_mode()
    def decode(self, mels: list[torch.Tensor]) -> list[np.ndarray]:
        """Each mel, (frames, n_mels), to its waveform on the host. Mels of equal length are decoded as one batch
        (Vocos treats batch rows independently, so the result is the same), and all waveforms come to the host
        in one copy."""
        groups: dict[int, list[int]] = {}
        for i, mel in enumerate(mels):
            groups.setdefault(int(mel.shape[0]), []).append(i)
        waves: list[torch.Tensor | None] = [None] * len(mels)
        for idx in groups.values():
            batch = torch.stack([mels[i] for i in idx]).float().transpose(1, 2)  # (b, n_mels, frames)
            if self.compiled:
                torch._dynamo.mark_dynamic(batch, 0)
                torch._dynamo.mark_dynamic(batch, 2)
            decoded = self.vocos.head(self._backbone(batch))  # what Vocos.decode does
            for row, i in enumerate(idx):
                waves[i] = decoded[row]
        lengths = [int(w.shape[-1]) for w in waves]
        flat = torch.cat([w.reshape(-1) for w in waves]).float().cpu().numpy()
        return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) > 1 else [flat]
