"""ChatService's intake on a real SQLite store, without an engine (the loop is not started): what post answers,
what is stored, templates, duplicates, cooldown, hold persisted, viewer voices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ishowtts_studio.services.chat.service import ChatInputError, ChatService
from ishowtts_studio.settings import ChatSettings
from ishowtts_studio.store import Store

VOICES = ["Nature (English)", "Taiyi (Chinese)"]


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def never(text: str, voice: str, nfe: int) -> Any:
    raise AssertionError("nothing is synthesised in these tests (the loop is not started)")


@pytest.fixture()
def make(tmp_path: Path) -> Iterator[Any]:
    stores: list[Store] = []

    def build(clock: Clock | None = None, **chat: Any) -> ChatService:
        store = Store(tmp_path / "studio.db")
        stores.append(store)
        return ChatService(ChatSettings(**chat), store, never, voices=lambda: VOICES, default_nfe=lambda: 8,
                           audio_dir=tmp_path / "chat", clock=clock or Clock())

    yield build
    for s in stores:
        s.close()


def test_empty_template_switches_a_kind_off(make: Any) -> None:
    svc = make(template_gift="")
    out = svc.post("ann", "take my money", kind="gift", amount=5)
    assert (out["state"], out["reason"]) == ("dropped", "filtered") and "template_gift" in out["detail"]
    assert svc.post("ann", "hello", kind="chat")["state"] == "queued"
    assert svc.history(5)[1]["id"] == out["id"]  # the refused one has its row


def test_author_named_once_in_a_run(make: Any) -> None:
    svc = make(cooldown_s=0.0)
    texts = [svc.post(a, t)["spoken_text"] for a, t in [("ann", "one"), ("ann", "two"), ("bob", "three"),
                                                         ("ann", "four")]]
    assert texts == ["ann says: one", "two", "bob says: three", "ann says: four"]
    assert svc.post("ann", "five", kind="superchat", amount=20)["spoken_text"] == "ann sent 20: five"


def test_duplicate_merged_and_cooldown_via_post(make: Any) -> None:
    clock = Clock()
    svc = make(clock, cooldown_s=5.0, dedupe_window_s=10.0)
    first = svc.post("ann", "GG")
    dup = svc.post("bob", "gg!")
    assert (dup["state"], dup["reason"]) == ("dropped", "duplicate")
    rows = {m["id"]: m for m in svc.history(10)}
    assert rows[first["id"]]["duplicates"] == 1  # stored on the original
    clock.t += 1
    cool = svc.post("ann", "another thing")
    assert (cool["state"], cool["reason"]) == ("dropped", "cooldown")
    assert svc.status()["figures"]["drops"] == {"duplicate": 1, "cooldown": 1}


def test_full_queue_eviction_recorded(make: Any) -> None:
    svc = make(max_queue=2, cooldown_s=0.0)
    a = svc.post("a", "first")["id"]
    svc.post("b", "second")
    g = svc.post("c", "a gift", kind="gift", amount=1)
    assert g["state"] == "queued"
    row = {m["id"]: m for m in svc.history(10)}[a]
    assert (row["state"], row["reason"]) == ("dropped", "full")
    assert [q["id"] for q in svc.status()["queue"]][0] == g["id"]


def test_hold_and_pause_survive_a_new_service(make: Any) -> None:
    svc = make()
    svc.control("hold_on")
    svc.control("pause")
    held = svc.post("ann", "wait for me")
    assert held["state"] == "held"
    again = make()  # a restart: same database
    st = again.status()
    assert st["hold"] is True and st["paused"] is True
    again.start()
    try:
        assert [q["id"] for q in again.status()["queue"]] == [held["id"]]
        assert again.status()["queue"][0]["state"] == "held"
        again.control("reject", held["id"])
    finally:
        again.close()
    assert again.history(1)[0]["reason"] == "rejected"


def test_post_lines_and_author_prefix(make: Any) -> None:
    svc = make(cooldown_s=0.0)
    out = svc.post_lines("Ann: hi\nno prefix here\nhttps://example.com/x\n  \nbig fan: not a name\n")
    rows = {m["id"]: m for m in svc.history(10)}
    assert [rows[o["id"]]["author"] for o in out] == ["Ann", "viewer", "viewer", "viewer"]
    assert [rows[o["id"]]["text"] for o in out] == ["hi", "no prefix here", "https://example.com/x",
                                                   "big fan: not a name"]


def test_replay_errors(make: Any) -> None:
    svc = make()
    bot = svc.post("nightbot", "follow")["id"]
    with pytest.raises(ChatInputError, match="never readable"):
        svc.control("replay", bot)
    with pytest.raises(ChatInputError, match="no message"):
        svc.control("replay", 999)


def test_voice_settings_and_history_limits(make: Any) -> None:
    svc = make(default_voice="Taiyi (Chinese)")
    assert svc.status()["default_voice"] == "Taiyi (Chinese)"
    with pytest.raises(ChatInputError, match="no voice named"):
        svc.set_viewer_voice("ann", "Nobody")
    with pytest.raises(ChatInputError, match="viewer's name"):
        svc.set_viewer_voice("  ", VOICES[0])
    for bad in (0, 1001, "ten"):
        with pytest.raises(ChatInputError, match="limit"):
            svc.history(bad)
    assert make(default_voice="Gone").status()["default_voice"] == VOICES[0]  # a missing voice falls back


def test_a_dead_source_does_not_stop_the_queue(make: Any, tmp_path: Path) -> None:
    """A Twitch source whose server is down keeps retrying on its own; posts still go through."""
    import time

    from ishowtts_studio.services.chat.sources.twitch import TwitchSource
    from tests.helpers import free_port

    svc = make()
    dead = TwitchSource("stream", host="127.0.0.1", port=free_port(), tls=False, reconnect_max_s=1)
    svc.sources.append(dead)
    svc.control("hold_on")  # keep the posts waiting (nothing is synthesised here)
    svc.start()
    try:
        deadline = time.monotonic() + 20
        while svc.status()["sources"][0]["state"] != "reconnecting":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert svc.post("ann", "still here")["state"] == "held"
        assert svc.status()["sources"][0]["name"] == "twitch:#stream"
    finally:
        svc.close()
    assert svc.status()["sources"][0]["state"] == "stopped"


def test_old_finished_history_is_deleted_waiting_messages_are_kept(make: Any) -> None:
    """chat.keep_days: the loop deletes finished messages older than that (at its first step, then hourly);
    a message still waiting stays however old it is, and 0 keeps everything."""
    clock = Clock()
    svc = make(clock, keep_days=1, template_gift="", cooldown_s=0, dedupe_window_s=0)
    old_dropped = svc.post("ann", "money", kind="gift", amount=5)["id"]  # refused: a finished row
    old_waiting = svc.post("bob", "still waiting")["id"]
    clock.t += 2 * 86400
    new_dropped = svc.post("cy", "more money", kind="gift", amount=1)["id"]
    svc.loop.prune_history(clock())
    ids = {m["id"] for m in svc.history(100)}
    assert old_dropped not in ids and {old_waiting, new_dropped} <= ids
    keep = make(clock, keep_days=0)  # the same database file: nothing more is deleted
    keep.loop.prune_history(clock() + 10 * 86400)
    assert {m["id"] for m in keep.history(100)} == ids
