"""The /v1 API's error messages carry no server paths: api/openai.py uses the studio's one path redactor
(validation.redact_paths), as the page's messages do (its own regex missed `error:/srv/x.pt`)."""

from __future__ import annotations

import pytest

from ishowtts_studio.api.openai import _user_error
from ishowtts_studio.engines.base import EngineUnavailable
from ishowtts_studio.request import SynthesisError


@pytest.mark.parametrize("raw, secret, kept", [
    ("error:/srv/models/x.pt", "/srv/models", "x.pt"),
    ("No such file or directory: '/srv/models/f5/model.safetensors'", "/srv/models", "model.safetensors"),
    ("weights at /home/alice/.cache/f5/model.pt are missing", "/home/alice", "model.pt"),
    ("(/opt/ishowtts/voices/secret-voice/reference.wav)", "secret-voice", "reference.wav"),
    ("C:\\Users\\alice\\models\\model.pt", "alice", "model.pt"),
])
def test_api_errors_carry_no_server_paths(raw, secret, kept):
    for exc in (SynthesisError(raw), EngineUnavailable(raw)):
        message = _user_error(exc).message
        assert secret not in message and kept in message, message


def test_urls_are_left_alone():
    assert "http://127.0.0.1:7860/x/y" in _user_error(SynthesisError("see http://127.0.0.1:7860/x/y")).message


# A file: URL is a path, not a web address; a quoted path is taken whole, spaces and all.
def test_file_urls_are_redacted():
    assert "/srv/models" not in _user_error(SynthesisError("cannot open file:///srv/models/x.pt")).message


def test_paths_with_spaces_are_redacted():
    message = _user_error(SynthesisError("No such file: '/srv/my models/f5 v1/model.pt'")).message
    assert "my models" not in message and "f5 v1" not in message
