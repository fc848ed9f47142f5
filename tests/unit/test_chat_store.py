"""Chat tables on a real SQLite file and a real PostgreSQL database: messages and their states, viewer voices,
across a reopen."""

from __future__ import annotations

import pytest

from ishowtts_studio.services.chat.model import ChatMessage, DropReason, MessageKind, MessageState
from ishowtts_studio.services.chat.store import ChatStore
from ishowtts_studio.store import Store


def test_messages_and_voices_survive_a_reopen(database_url: str) -> None:
    db = database_url
    store = Store(db)
    chat = ChatStore(store)
    a = ChatMessage(author="Ann", text="hi 😂", kind=MessageKind.GIFT, amount=5, platform="twitch", arrived_at=10.0,
                    extra={"badges": ["subscriber"]})
    b = ChatMessage(author="Bob", text="hello", arrived_at=11.0)
    c = ChatMessage(author="Cy", text="held one", arrived_at=12.0, state=MessageState.HELD)
    for m in (a, b, c):
        chat.add(m)
    assert (a.id, b.id, c.id) == (1, 2, 3)
    b.state, b.reason, b.detail, b.finished_at = MessageState.DROPPED, DropReason.COOLDOWN, "spoke 1 s ago", 12.5
    a.state, a.spoken_text, a.first_audio_at = MessageState.SPEAKING, "Ann sent 5: hi", 13.0
    chat.save(a, b)
    chat.set_viewer_voice("Ann", "Nature (English)")
    chat.set_viewer_voice("ANN", "Other")  # the same viewer, whatever the case
    chat.set_viewer_voice("Bob", "Nature (English)")
    chat.set_viewer_voice("bob", None)
    store.close()

    store2 = Store(db)  # a restart: a new engine on the same file
    chat2 = ChatStore(store2)
    waiting = chat2.unfinished()
    assert [(m.id, m.state) for m in waiting] == [(1, MessageState.SPEAKING), (3, MessageState.HELD)]
    got = waiting[0]
    assert (got.kind, got.amount, got.platform, got.text, got.spoken_text, got.first_audio_at) == (
        MessageKind.GIFT, 5.0, "twitch", "hi 😂", "Ann sent 5: hi", 13.0)
    assert got.extra == {"badges": ["subscriber"]}
    dropped = chat2.get(2)
    assert dropped is not None and dropped.reason is DropReason.COOLDOWN and dropped.detail == "spoke 1 s ago"
    assert [m.id for m in chat2.recent(2)] == [3, 2]
    assert chat2.count_by_state() == {"speaking": 1, "dropped": 1, "held": 1}
    assert chat2.viewer_voices() == {"ANN": "Other"}
    assert chat2.viewer_voice("ann") == "Other" and chat2.viewer_voice("bob") is None
    store2.close()


def test_saving_an_unknown_message_is_an_error(database_url: str) -> None:
    chat = ChatStore(Store(database_url))
    with pytest.raises(KeyError, match="not stored"):
        chat.save(ChatMessage(author="x", text="y", id=99))
    assert chat.get(99) is None


def test_prune_deletes_only_old_finished_messages(database_url: str) -> None:
    chat = ChatStore(Store(database_url))
    rows = [ChatMessage(author="a", text="spoken long ago", arrived_at=10.0, state=MessageState.SPOKEN),
            ChatMessage(author="b", text="failed long ago", arrived_at=11.0, state=MessageState.FAILED),
            ChatMessage(author="c", text="queued long ago", arrived_at=12.0, state=MessageState.QUEUED),
            ChatMessage(author="d", text="spoken lately", arrived_at=500.0, state=MessageState.SPOKEN)]
    for m in rows:
        chat.add(m)
    assert chat.prune(100.0) == 2
    assert [m.text for m in chat.recent(10)] == ["spoken lately", "queued long ago"]
    assert chat.prune(100.0) == 0
