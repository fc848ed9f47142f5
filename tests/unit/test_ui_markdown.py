"""Names and texts shown in the UI's Markdown render as typed: a voice pack's name or a take's text cannot become
a link, an image (which would load from anywhere: tracking, the viewer's address) or HTML."""

from __future__ import annotations

from markdown_it import MarkdownIt

from ishowtts_studio.ui.common import md_escape
from ishowtts_studio.ui.history import take_details

HOSTILE = "x![t](https://evil.example/p.gif) [click](javascript:alert(1)) <img src=x> **bold**"


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark").render(markdown)


def test_escaped_text_renders_as_typed() -> None:
    out = _html(md_escape(HOSTILE))
    assert "<img" not in out and "<a " not in out and "<strong>" not in out
    assert "![t](https://evil.example/p.gif)" in out.replace("&lt;", "<").replace("&gt;", ">")
    assert md_escape("Nature  (English)\n") == "Nature \\(English\\)"


def test_take_details_escape_the_voice_name_and_the_text() -> None:
    info = {"id": 7, "voice_name": HOSTILE, "text": HOSTILE, "engine": "f5", "nfe": 8, "seed": 1, "speed": 1.0,
            "cfg_strength": 2.0}
    out = _html(take_details(info))
    assert "<img" not in out and "<a " not in out
    assert out.count("<strong>") == 1  # "Take #7" only
