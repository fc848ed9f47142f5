"""The Live tab's line under the engine picker never shows a server path: with IndexTTS not installed, the
engine's message names its environment's python by its full path (fine in the log), and the note showed it."""

from __future__ import annotations

from pathlib import Path

from ishowtts_studio.ui.live import engine_note
from tests.helpers import running_studio


def test_the_indextts_note_names_no_server_path(tmp_path: Path) -> None:
    missing = tmp_path / "secret-place" / "bin" / "python"
    with running_studio(tmp_path / "studio", **{"indextts.python": str(missing)}) as studio:
        message = next(e["message"] for e in studio.engines() if e["name"] == "indextts")
        assert str(missing) in message  # the engine's own message, for the log
        note = engine_note(studio, "indextts")
    assert "IndexTTS is unavailable" in note and "not installed" in note
    assert "secret-place" not in note and str(tmp_path) not in note
