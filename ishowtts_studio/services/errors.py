"""The errors whose message is written for the person at the keyboard, in one place."""

from __future__ import annotations

from ishowtts_studio.audio import AudioError
from ishowtts_studio.engines.base import EngineUnavailable
from ishowtts_studio.runtime import BusyError, SynthesisError
from ishowtts_studio.transcribe import TranscriberUnavailable
from ishowtts_studio.voices import VoiceError


class InputError(ValueError):
    """Bad input from the user; the message says what to change."""


# errors whose message is meant for the user (an internal ValueError is not one); the UI maps these to gr.Error
USER_ERRORS = (InputError, VoiceError, AudioError, BusyError, EngineUnavailable, SynthesisError,
               TranscriberUnavailable)
