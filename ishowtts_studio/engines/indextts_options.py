"""IndexTTS generation options (and version 2's emotion controls), checked with messages for the user."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")


@dataclass(frozen=True)
class IndexTTSOptions:
    """Generation options of IndexTTS's `infer` (its own defaults), validated by `check`."""

    temperature: float = 1.0
    top_p: float = 0.8
    top_k: int = 30
    num_beams: int = 3
    repetition_penalty: float = 10.0
    max_mel_tokens: int = 600
    max_text_tokens_per_segment: int = 120
    # version 2 only: emotion from the voice itself (default), from another clip, or from a vector
    emotion_mode: str = "same as voice"
    emotion_audio: str | None = None
    emotion_alpha: float = 1.0
    emotion_vector: tuple[float, ...] | None = None

    LIMITS = {  # noqa: RUF012 - read-only: (low, high, whole number)
        "temperature": (0.1, 2.0, False),
        "top_p": (0.01, 1.0, False),
        "top_k": (0, 200, True),
        "num_beams": (1, 10, True),
        "repetition_penalty": (1.0, 20.0, False),
        "max_mel_tokens": (10, 1815, True),
        "max_text_tokens_per_segment": (20, 300, True),
        "emotion_alpha": (0.0, 1.0, False),
    }
    EMOTION_MODES = ("same as voice", "emotion reference audio", "emotion vector")

    @classmethod
    def check(cls, raw: dict[str, Any] | None) -> IndexTTSOptions:
        """Options from user input; raises ValueError with a message that says what to change."""
        raw = {k: v for k, v in (raw or {}).items() if v is not None and v != ""}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"Unknown IndexTTS option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        out: dict[str, Any] = {}
        for name, (lo, hi, whole) in cls.LIMITS.items():
            if name not in raw:
                continue
            value = raw[name]
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"IndexTTS {name} must be a number, got {value!r}.") from None
            if not np.isfinite(number) or not lo <= number <= hi or (whole and number != int(number)):
                kind = "a whole number" if whole else "a number"
                raise ValueError(f"IndexTTS {name} must be {kind} from {lo:g} to {hi:g}, got {value!r}.")
            out[name] = int(number) if whole else number
        mode = str(raw.get("emotion_mode", cls.emotion_mode))
        if mode not in cls.EMOTION_MODES:
            raise ValueError(f"IndexTTS emotion_mode must be one of: {', '.join(cls.EMOTION_MODES)}.")
        out["emotion_mode"] = mode
        if mode == "emotion reference audio":
            if not raw.get("emotion_audio"):
                raise ValueError("Emotion from a reference clip: upload the emotion reference audio first.")
            out["emotion_audio"] = str(raw["emotion_audio"])
        if mode == "emotion vector":
            vec = raw.get("emotion_vector")
            try:
                values = tuple(float(v) for v in vec)  # type: ignore[union-attr]
            except (TypeError, ValueError):
                raise ValueError("IndexTTS emotion_vector must be eight numbers.") from None
            if len(values) != len(EMOTIONS) or not all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
                raise ValueError(
                    f"IndexTTS emotion_vector must be {len(EMOTIONS)} numbers from 0 to 1 "
                    f"({', '.join(EMOTIONS)}), got {vec!r}."
                )
            if not any(values):
                raise ValueError("IndexTTS emotion_vector is all zeros: raise at least one emotion, or pick "
                                 "'same as voice'.")
            out["emotion_vector"] = values
        return cls(**out)

    def infer_kwargs(self, version: str) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k, "num_beams": self.num_beams,
            "repetition_penalty": self.repetition_penalty, "max_mel_tokens": self.max_mel_tokens,
            "max_text_tokens_per_segment": self.max_text_tokens_per_segment,
        }
        if version == "2":
            if self.emotion_mode == "emotion reference audio":
                kw.update(emo_audio_prompt=self.emotion_audio, emo_alpha=self.emotion_alpha)
            elif self.emotion_mode == "emotion vector":
                kw.update(emo_vector=list(self.emotion_vector or ()), emo_alpha=self.emotion_alpha)
        return kw

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
