"""Hostile inputs against the real smoke server (gradio_client), from the one list in tests/hostile_inputs.py:
each gets a clear message (never the generic one), short whatever the input's size, with no server paths,
and nothing is written. The same list renders the table in docs/reliability.md; a test keeps it current."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import httpx
import pytest

from ishowtts_studio.ui.common import GENERIC_ERROR
from tests.helpers import EN_CLIP
from tests.hostile_inputs import AUDIO, CASES, DOC, PACK_BIDI, PACK_LONG, Case, doc_table, render_table

ON_BOTH_DATABASES = True  # server tests run on a studio with SQLite and one with PostgreSQL (conftest.py)

MAX_ANSWER_CHARS = 700


def _pack(folder: Path, name: str, transcript: str) -> Path:
    path = folder / f"{abs(hash((name, transcript)))}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("voice.json", json.dumps({"name": name, "transcript": transcript, "language": "en"}))
        zf.writestr("reference.wav", EN_CLIP.read_bytes())
    return path


def _upload(base: str, path: Path) -> dict:
    with open(path, "rb") as fh:
        r = httpx.post(f"{base}gradio_api/upload", files={"files": (path.name, fh)}, timeout=60)
    r.raise_for_status()
    return {"path": r.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def raw_call(base: str, api: str, args: list) -> tuple[str, str]:
    """POST the arguments as raw JSON (NaN and Infinity included, as a hand-written client may send them) and
    read the answer's event stream: ('complete' or 'error', data)."""
    body = json.dumps({"data": args}, allow_nan=True)
    r = httpx.post(f"{base}gradio_api/call/{api}", content=body, headers={"Content-Type": "application/json"},
                   timeout=60)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    kind, data = "", ""
    with httpx.stream("GET", f"{base}gradio_api/call/{api}/{event_id}", timeout=300) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif line.startswith("data: ") and kind in ("complete", "error"):
                return kind, line[6:]
    return kind, data


def _library(server) -> dict[str, str]:
    """Every voice folder with its voice.json, so a rename or an edit shows too."""
    root = server.folder / "voices"
    return {p.name: (p / "voice.json").read_text(encoding="utf-8") for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.endpoint}-{c.field}-{c.tried}"[:60])
def test_hostile_input_gets_a_clear_short_answer(studio_server, tmp_path: Path, case: Case) -> None:
    base = studio_server.url
    files = {AUDIO: lambda: _upload(base, EN_CLIP),
             PACK_LONG: lambda: _upload(base, _pack(tmp_path, "Longpack", "word " * 20_000)),
             PACK_BIDI: lambda: _upload(base, _pack(tmp_path, "Bidi\u202epack", "Some call me nature."))}
    args = [files[a]() if isinstance(a, str) and a in files else a for a in case.args]
    before = _library(studio_server)
    kind, message = raw_call(base, case.endpoint, args)
    assert kind == "error", f"accepted: {message[:300]}"
    assert GENERIC_ERROR not in message
    assert re.search(case.answer, message), message[:300]
    assert len(message) <= MAX_ANSWER_CHARS, f"{len(message)} characters: {message[:200]}"
    assert str(studio_server.folder) not in message and "/tmp/" not in message
    assert _library(studio_server) == before  # nothing added, renamed or removed


def test_reliability_doc_table_is_current() -> None:
    """docs/reliability.md shows exactly CASES; run `python tests/hostile_inputs.py --write` after a change."""
    assert doc_table(DOC.read_text(encoding="utf-8")) == render_table()
