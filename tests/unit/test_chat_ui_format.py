"""What the Live chat tab draws from the service's answers (pure functions of ui/chat.py; no server)."""

from __future__ import annotations

import time

import pytest

from ishowtts_studio.api.chat import overlay_html, resume_point
from ishowtts_studio.ui.chat import figures_html, history_rows, post_summary, queue_rows, sources_text


def status(**over: object) -> dict:
    base = {
        "paused": False, "hold": False, "volume": 1.0, "default_voice": "Nature (English)", "nfe": None,
        "current": None, "queue": [], "sources": [],
        "figures": {"per_minute": 12, "depth": 3, "first_audio_p50_s": 0.42, "first_audio_p95_s": 1.5,
                    "drops": {"stale": 2, "full": 0, "cooldown": 1}, "backlog_warning": None},
    }
    base.update(over)
    return base


def test_figures_show_rate_depth_percentiles_and_drops_by_reason() -> None:
    out = figures_html(status())
    assert "12.0" in out and ">3<" in out
    assert "420 ms" in out and "p95 1.5 s" in out
    assert ">3<" in out and "cooldown 1 · stale 2" in out and "full" not in out
    assert "chat-warning" not in out
    assert "no Twitch channel configured" in out


def test_backlog_warning_and_paused_state_are_shown() -> None:
    out = figures_html(status(paused=True, figures={"backlog_warning": "Backlog: about 90 s of chat"}))
    assert "chat-warning" in out and "Backlog: about 90 s of chat" in out
    assert "paused" in out
    assert "—" in out  # no percentile yet reads as a dash, not "None"


def test_sources_state_and_detail_are_escaped() -> None:
    line = sources_text(status(sources=[
        {"name": "twitch", "state": "reconnecting", "detail": "retry in 4 s <b>x</b>"},
        {"name": "<img src=x>", "state": "connected", "detail": ""},
    ]))
    assert "🟡 <b>twitch</b>: reconnecting — retry in 4 s &lt;b&gt;x&lt;/b&gt;" in line
    assert "&lt;img src=x&gt;" in line and "<img" not in line


def test_queue_lists_the_message_being_read_first_then_the_waiting_ones() -> None:
    current = {"id": 7, "author": "ann", "spoken_text": "ann says: hi", "kind": "chat", "state": "speaking"}
    waiting = [{"id": 9, "author": "bo", "spoken_text": "bo sent 5: gg", "kind": "gift", "state": "queued",
                "waiting_s": 2.5},
               {"id": 8, "author": "cy", "spoken_text": "", "text": "held one", "kind": "chat", "state": "held",
                "waiting_s": 0.25}]
    rows = queue_rows(status(current=current, queue=waiting))
    assert rows == [[7, "ann", "ann says: hi", "chat", "speaking", "now"],
                    [9, "bo", "bo sent 5: gg", "gift", "queued", "2.5 s"],
                    [8, "cy", "held one", "chat", "held", "250 ms"]]


def test_history_rows_say_why_and_first_audio() -> None:
    now = time.time()
    rows = history_rows([
        {"id": 3, "arrived_at": now, "author": "x", "spoken_text": "x says: hi", "kind": "chat", "state": "spoken",
         "reason": None, "first_audio_at": now + 0.3},
        {"id": 2, "arrived_at": now, "author": "y", "text": "!cmd", "kind": "chat", "state": "dropped",
         "reason": "filtered", "first_audio_at": None},
        {"id": 1, "arrived_at": now, "author": "z", "text": "boom", "kind": "chat", "state": "failed",
         "reason": None, "detail": "SynthesisError", "first_audio_at": None},
    ])
    assert rows[0][6] == "" and rows[0][7] == "300 ms"
    assert rows[1][6] == "filtered" and rows[1][3] == "!cmd"
    assert rows[2][6] == "SynthesisError"
    assert all(len(r[1]) == 8 for r in rows), "today's times read HH:MM:SS"


def test_post_summary_counts_and_reasons() -> None:
    assert "Nothing to post" in post_summary([])
    text = post_summary([{"state": "queued"}, {"state": "dropped", "reason": "cooldown"},
                         {"state": "dropped", "reason": "cooldown"}, {"state": "held"}])
    assert text.startswith("Posted **2** of 4 message(s).")
    assert "Dropped: 2 cooldown." in text and "Hold mode is on" in text


@pytest.mark.parametrize(("last", "expected"), [
    (None, 0), ("", 0), ("b00t.41", 41), ("other.41", 0), ("b00t.", 0), ("b00t.-3", 0), ("b00t.4x", 0),
    ("garbage", 0),
])
def test_resume_point_only_trusts_this_runs_ids(last: str | None, expected: int) -> None:
    assert resume_point(last, "b00t") == expected


def test_overlay_inlines_the_player_without_closing_its_script_early() -> None:
    page = overlay_html()
    assert "__PLAYER_JS__" not in page
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    assert "window.IShowChatPlayer = { create: create }" in script, "the whole player sits in the first script"
