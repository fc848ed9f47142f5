"""F5's reference side: the transcript rules f5-tts applies to a voice's text, and the cache of reference mels
(in memory, LRU, and on disk under the studio's cache folder) so a voice's clip is read and analysed once."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ishowtts_studio.audio import read_audio
from ishowtts_studio.engines.base import VoiceRef

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
HOP = 256
TARGET_RMS = 0.1  # f5-tts normalises quiet references to this RMS and scales the output back
REF_CACHE_VERSION = 1


@dataclass
class PreparedVoice:
    mel: torch.Tensor  # (frames, n_mels) float32 on the engine's device
    ref_samples: int
    rms: float
    ref_text: str

    @property
    def ref_frames(self) -> int:
        return self.ref_samples // HOP


def preprocess_ref_text(text: str) -> str:
    """f5-tts's `preprocess_ref_audio_text` rule: the transcript ends with a sentence stop and a space."""
    text = text.strip()
    if not text.endswith((". ", "。")):
        text = text + " " if text.endswith(".") else text + ". "
    return text


def normalise_ref_text(text: str) -> str:
    """The reference text exactly as f5-tts's `infer_batch_process` uses it: after the preprocessing rule
    it appends one more space when the last character is single-byte. The duration rule counts these bytes,
    so both spaces matter for identical output lengths."""
    text = preprocess_ref_text(text)
    return text + " " if len(text[-1].encode("utf-8")) == 1 else text


class RefCache:
    """Prepared references by voice content: an in-memory LRU of `items`, backed by `.pt` files on disk.
    `mel_of(wave)` turns a 24 kHz float32 waveform into its (1, n_mels, frames) mel on the engine's device."""

    def __init__(self, cache_dir: Path, items: int, mel_of: Callable[[torch.Tensor], torch.Tensor],
                 device: torch.device) -> None:
        self.folder = Path(cache_dir) / "ref-mels"
        self.items, self.mel_of, self.device = items, mel_of, device
        self._refs: OrderedDict[str, PreparedVoice] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"ref_cache_hits": 0, "ref_cache_disk_hits": 0, "ref_cache_misses": 0}

    @staticmethod
    def key(voice: VoiceRef) -> str:
        raw = f"{REF_CACHE_VERSION}|{voice.content_hash}|{SAMPLE_RATE}|{HOP}|vocos-100|{TARGET_RMS}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def get(self, voice: VoiceRef) -> tuple[PreparedVoice, bool]:
        """The voice's prepared reference, and whether it was cached already (memory or disk)."""
        key = self.key(voice)
        ref_text = normalise_ref_text(voice.transcript)
        with self._lock:
            hit = self._refs.get(key)
            if hit is not None and hit.ref_text == ref_text:
                self._refs.move_to_end(key)
                self.stats["ref_cache_hits"] += 1
                return hit, True
        disk = self.folder / f"{key}.pt"
        from_disk = False
        if disk.exists():
            try:
                blob = torch.load(disk, map_location="cpu", weights_only=True)
                mel, samples, rms = blob["mel"], int(blob["samples"]), float(blob["rms"])
                from_disk = True
            except Exception:  # a corrupt cache file is rebuilt, never fatal
                log.warning("reference cache file %s unreadable; rebuilding", disk.name)
        if not from_disk:
            wav, _ = read_audio(voice.audio_path, target_sr=SAMPLE_RATE)
            rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
            if 0 < rms < TARGET_RMS:
                wav = wav * (TARGET_RMS / rms)
            with torch.inference_mode():
                mel = self.mel_of(torch.from_numpy(wav).float().to(self.device)[None])[0].T.float().cpu()
            samples = len(wav)
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = disk.with_suffix(f".tmp{threading.get_ident()}")
            torch.save({"mel": mel, "samples": samples, "rms": rms}, tmp)
            tmp.replace(disk)
        prepared = PreparedVoice(mel=mel.to(self.device), ref_samples=samples, rms=rms, ref_text=ref_text)
        with self._lock:
            self.stats["ref_cache_disk_hits" if from_disk else "ref_cache_misses"] += 1
            self._refs[key] = prepared
            while len(self._refs) > self.items:
                self._refs.popitem(last=False)
        return prepared, from_disk

    def forget(self, voice: VoiceRef) -> None:
        key = self.key(voice)
        with self._lock:
            self._refs.pop(key, None)
        (self.folder / f"{key}.pt").unlink(missing_ok=True)

    def clear(self) -> None:
        with self._lock:
            self._refs.clear()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.stats, ref_cache_items=len(self._refs))
