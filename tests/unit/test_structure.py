"""The size and reach rules of issue 11 (docs/architecture.md) hold for the package: scripts/structure.py finds
nothing, and it does find each kind of breach in a file made to break them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def _structure():
    spec = importlib.util.spec_from_file_location("structure", ROOT / "scripts" / "structure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_the_size_and_reach_rules() -> None:
    structure = _structure()
    found = [f for p in sorted((ROOT / "ishowtts_studio").rglob("*.py")) for f in structure.findings(p)]
    assert found == []


def test_each_breach_is_found(tmp_path: Path) -> None:
    structure = _structure()
    body = "\n".join(f"    x{i} = {i}" for i in range(structure.MAX_CLASS_LINES + 1))
    source = (f"class Big:\n{body}\n\n\ndef peek(other):\n    return other._secret\n\n\n"
              "class Heir:\n    def f(self):\n        return self._inherited\n")
    source += "\n" * (structure.MAX_FILE_LINES - source.count("\n") + 1)
    bad = tmp_path / "bad.py"
    bad.write_text(source, encoding="utf-8")
    found = "\n".join(structure.findings(bad))
    assert "lines (over 400)" in found
    assert "class Big has" in found
    assert "other._secret reaches another module's private member" in found
    assert "self._inherited is defined in another module" in found
