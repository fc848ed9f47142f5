"""Optional auto-transcription of voice clips with a local Whisper model (transformers pipeline).

The model is named by `voices.whisper_model` (a local folder); it is loaded lazily on first use, on the
runtime's GPU worker (so it shares the GPU with the TTS engine instead of racing it), with
HF_HUB_OFFLINE-friendly `local_files_only`. When none is configured or it cannot load, the error says so
and asks for the transcript.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.audio import resample

log = logging.getLogger(__name__)

NO_TRANSCRIBER = "No transcriber configured — type the transcript: exactly the words spoken in the clip."
WHISPER_SR = 16_000


class TranscriberUnavailable(ValueError):
    """No usable transcriber; the message asks the user to type the transcript."""


class Transcriber:
    def __init__(self, model: str | Path | None) -> None:
        self.model = str(model or "").strip()
        self._pipe: Any = None
        self._error: str | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.model)

    def _load(self, device: Any) -> Any:
        with self._lock:
            if self._pipe is not None:
                return self._pipe
            if self._error is not None:
                raise TranscriberUnavailable(self._error)
            if not self.model:
                raise TranscriberUnavailable(NO_TRANSCRIBER)
            try:
                if not Path(self.model).expanduser().is_dir():
                    raise FileNotFoundError(f"{self.model} is not a folder")
                from transformers import pipeline

                self._pipe = pipeline(
                    "automatic-speech-recognition", model=str(Path(self.model).expanduser()), device=device,
                    model_kwargs={"local_files_only": True},
                )
            except Exception as exc:  # any failure means: no transcriber, type it
                self._error = (
                    f"The transcriber ({self.model}) could not be loaded offline: {exc}. Type the transcript: "
                    "exactly the words spoken in the clip."
                )
                log.warning("%s", self._error)
                raise TranscriberUnavailable(self._error) from None
            return self._pipe

    def transcribe(self, audio: np.ndarray, sample_rate: int, device: Any = None) -> str:
        """Text of a mono float clip (call on the GPU worker: `runtime.call(lambda e: t.transcribe(..., e.device))`)."""
        pipe = self._load(device)
        x = resample(np.asarray(audio, dtype=np.float32), sample_rate, WHISPER_SR)
        out = pipe({"raw": x, "sampling_rate": WHISPER_SR})
        text = " ".join(str(out.get("text", "") if isinstance(out, dict) else out).split())
        if not text:
            raise TranscriberUnavailable("The transcriber heard no words in the clip. Type the transcript.")
        return text
