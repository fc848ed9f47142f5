"""Every engine class states what the runtime uses (engines/base.py's Engine protocol), with the same signatures."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from ishowtts_studio.engines.base import Engine
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.indextts import IndexTTSEngine
from tests.helpers import FakeEngine

# attributes the protocol declares with a type (not methods or properties)
ATTRIBUTES = [name for name in Engine.__annotations__ if not name.startswith("_")]
METHODS = [name for name, value in vars(Engine).items()
           if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))]


def problems(cls: type) -> list[str]:
    """What `cls` lacks or states differently from the protocol."""
    out = []
    for name in ATTRIBUTES:
        if not hasattr(cls, name):
            out.append(f"attribute {name} missing")
    for name in METHODS:
        want = vars(Engine)[name]
        have = inspect.getattr_static(cls, name, None)
        if have is None:
            out.append(f"{name} missing")
        elif isinstance(want, property) != isinstance(have, property):
            out.append(f"{name}: property on one side only")
        elif inspect.isfunction(want):
            if not callable(have):
                out.append(f"{name} is not a method")
                continue
            want_params = list(inspect.signature(want).parameters)
            have_params = list(inspect.signature(have).parameters)
            if want_params != have_params:
                out.append(f"{name}{tuple(have_params)} != {tuple(want_params)}")
    return out


def test_the_protocol_states_what_the_runtime_uses() -> None:
    assert {"name", "label", "sample_rate", "max_batch", "hop_length"} <= set(ATTRIBUTES)
    assert {"loaded", "check", "load", "unload", "info", "estimate_frames", "prepare_voice", "forget_voice",
            "synthesize", "warmup", "memory_stats", "cache_stats"} <= set(METHODS)
    assert list(inspect.signature(Engine.warmup).parameters) == ["self", "voices", "nfe", "progress"]


@pytest.mark.parametrize("cls", [F5Engine, IndexTTSEngine, FakeEngine], ids=lambda c: c.__name__)
def test_every_engine_class_satisfies_the_protocol(cls: type) -> None:
    assert problems(cls) == []


def test_a_class_that_differs_is_caught() -> None:
    class Stale:
        name, label, sample_rate, hop_length = "stale", "Stale", 24000, 256  # no max_batch

        def warmup(self, progress: Any = None) -> None:  # the old signature
            pass

    found = problems(Stale)
    assert "attribute max_batch missing" in found
    assert any(p.startswith("warmup(") for p in found)
    assert "synthesize missing" in found and "loaded missing" in found
