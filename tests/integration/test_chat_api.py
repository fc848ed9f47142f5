"""The live chat's named endpoints (/chat_post, /chat_status, /chat_control, /chat_history) through
gradio_client against the real smoke-mode studio server: answers, clear errors, order under concurrent posts."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from gradio_client import Client

from tests.helpers import Server

ON_BOTH_DATABASES = True  # server tests run on a studio with SQLite and one with PostgreSQL (conftest.py)

def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _error(client: Client, api: str, *args: object) -> str:
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name=api)
    return str(info.value)


def wait_final(client: Client, message_id: int, timeout: float = 120.0) -> dict:
    """The history row of `message_id` once it reached spoken, dropped or failed."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        rows = {r["id"]: r for r in client.predict(200, api_name="/chat_history")}
        row = rows.get(message_id)
        if row and row["state"] in ("spoken", "dropped", "failed"):
            return row
        time.sleep(0.5)
    raise AssertionError(f"message {message_id} did not finish within {timeout:.0f} s (last row: {row})")


def test_post_is_spoken_and_recorded(client: Client) -> None:
    author = _unique("alice")
    answer = client.predict(author, "hello chat 666666", "chat", 0, "api", api_name="/chat_post")
    assert answer["state"] in ("queued", "held") and answer["id"] > 0
    # the policy collapsed the repeat and applied the read-out template
    assert answer["spoken_text"] == f"{author} says: hello chat 666"
    row = wait_final(client, answer["id"])
    assert row["state"] == "spoken", row
    assert row["author"] == author and row["platform"] == "api" and row["kind"] == "chat"
    assert row["first_audio_s"] is not None and row["first_audio_s"] >= 0
    figures = client.predict(api_name="/chat_status")["figures"]
    assert figures["first_audio_p50_s"] is not None and figures["first_audio_p95_s"] >= figures["first_audio_p50_s"]


def test_paid_message_reads_its_amount(client: Client) -> None:
    author = _unique("bigfan")
    answer = client.predict(author, "great stream", "superchat", 5, "youtube", api_name="/chat_post")
    assert answer["spoken_text"].startswith(f"{author} sent 5")
    assert answer["state"] in ("queued", "held")


def test_filtered_message_is_dropped_with_its_reason(client: Client) -> None:
    answer = client.predict(_unique("bot"), "!points", "chat", 0, "api", api_name="/chat_post")
    assert answer["state"] == "dropped" and answer["reason"] == "filtered"
    row = next(r for r in client.predict(50, api_name="/chat_history") if r["id"] == answer["id"])
    assert row["state"] == "dropped" and row["reason"] == "filtered"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("", "hello", "chat", 0, "api"), "author"),
        (("dan", "   ", "chat", 0, "api"), "the message is empty"),
        (("dan", "hello", "shout", 0, "api"), "unknown message kind 'shout': use one of chat, gift, superchat"),
        (("dan", "hello", "gift", -3, "api"), "amount must be a number from 0"),
    ],
)
def test_post_bad_input_says_what_to_fix(client: Client, args: tuple, expected: str) -> None:
    message = _error(client, "/chat_post", *args)
    assert expected.lower() in message.lower(), message
    # bad input leaves no row behind
    assert all(r["author"] != "dan" for r in client.predict(1000, api_name="/chat_history"))


def test_status_has_the_documented_fields(client: Client) -> None:
    status = client.predict(api_name="/chat_status")
    for key in ("paused", "hold", "volume", "default_voice", "voice_warning", "nfe", "current", "queue", "figures",
                "sources"):
        assert key in status, key
    for key in ("per_minute", "depth", "first_audio_p50_s", "first_audio_p95_s", "drops", "backlog_warning"):
        assert key in status["figures"], key
    assert status["default_voice"] in [v["name"] for v in client.predict(api_name="/list_voices")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("explode", None), "unknown action 'explode': use one of pause, resume, skip, clear, approve"),
        (("approve", None), "approve needs message_id"),
        (("approve", 0), "message_id must be a whole number from 1"),
        (("replay", 1.5), "message_id must be a whole number"),
        (("reject", 987654321), "not waiting for approval"),
        (("replay", 987654321), "no message 987654321"),
    ],
)
def test_control_bad_input_says_what_to_fix(client: Client, args: tuple, expected: str) -> None:
    message = _error(client, "/chat_control", *args)
    assert expected.lower() in message.lower(), message


@pytest.mark.parametrize("limit", [0, 1001, 2.5, "many"])
def test_history_limit_is_checked(client: Client, limit: object) -> None:
    message = _error(client, "/chat_history", limit)
    assert "limit must be a whole number from 1 to 1000" in message


def test_history_default_and_order(client: Client) -> None:
    a = client.predict(_unique("h"), "first of two", "chat", 0, "api", api_name="/chat_post")
    b = client.predict(_unique("h"), "second of two", "chat", 0, "api", api_name="/chat_post")
    rows = client.predict(api_name="/chat_history")
    assert len(rows) <= 100
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True), "newest first"
    assert ids.index(b["id"]) < ids.index(a["id"])


def test_hold_approve_reject_and_replay(client: Client) -> None:
    client.predict("hold_on", None, api_name="/chat_control")
    try:
        assert client.predict(api_name="/chat_status")["hold"] is True
        keep = client.predict(_unique("mod"), "please read me", "chat", 0, "api", api_name="/chat_post")
        drop = client.predict(_unique("mod"), "please skip me", "chat", 0, "api", api_name="/chat_post")
        assert keep["state"] == drop["state"] == "held"
        held = [m["id"] for m in client.predict(api_name="/chat_status")["queue"] if m["state"] == "held"]
        assert keep["id"] in held and drop["id"] in held
        client.predict("reject", drop["id"], api_name="/chat_control")
        client.predict("approve", keep["id"], api_name="/chat_control")
    finally:
        client.predict("hold_off", None, api_name="/chat_control")
    assert wait_final(client, drop["id"])["reason"] == "rejected"
    assert wait_final(client, keep["id"])["state"] == "spoken"
    again = client.predict("replay", keep["id"], api_name="/chat_control")
    assert again["replay_of"] == keep["id"] and again["id"] > keep["id"]
    row = wait_final(client, again["id"])
    assert row["state"] == "spoken" and row["platform"] == "replay"


def test_concurrent_posts_from_several_clients_keep_each_clients_order(studio_server: Server) -> None:
    """Four clients post eight messages each at the same time (held, so nothing is read meanwhile): every
    message gets a row, each client's messages keep the order it sent them in, and the queue is FIFO."""
    clients = [Client(studio_server.url, verbose=False, analytics_enabled=False, download_files=False)
               for _ in range(4)]
    control = clients[0]
    control.predict("hold_on", None, api_name="/chat_control")
    tag = uuid.uuid4().hex[:6]
    sent: dict[int, list[int]] = {i: [] for i in range(len(clients))}
    errors: list[BaseException] = []
    start = threading.Barrier(len(clients))

    def run(i: int, c: Client) -> None:
        try:
            start.wait()
            for k in range(8):
                ans = c.predict(f"c{i}x{k}{tag}", f"client {i} line {k} {tag}", "chat", 0, "api",
                                api_name="/chat_post")
                assert ans["state"] == "held", ans
                sent[i].append(ans["id"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        for i, ids in sent.items():
            assert len(ids) == 8 and ids == sorted(ids), f"client {i} got ids out of its order: {ids}"
        every = sorted(x for ids in sent.values() for x in ids)
        assert len(set(every)) == 32
        queue = [m for m in control.predict(api_name="/chat_status")["queue"] if m["id"] in set(every)]
        queued_ids = [m["id"] for m in queue]
        assert sorted(queued_ids) == every, "every posted message waits in the queue"
        # the text each message will say matches what its client sent, in its order
        by_id = {m["id"]: m for m in queue}
        for i, ids in sent.items():
            assert [by_id[x]["text"] for x in ids] == [f"client {i} line {k} {tag}" for k in range(8)]
    finally:
        control.predict("clear", None, api_name="/chat_control")
        control.predict("hold_off", None, api_name="/chat_control")
    rows = {r["id"]: r for r in control.predict(200, api_name="/chat_history")}
    assert all(rows[x]["state"] == "dropped" and rows[x]["reason"] == "rejected" for x in every)


def test_pause_and_resume_are_reported(client: Client) -> None:
    client.predict("pause", None, api_name="/chat_control")
    try:
        assert client.predict(api_name="/chat_status")["paused"] is True
    finally:
        client.predict("resume", None, api_name="/chat_control")
    assert client.predict(api_name="/chat_status")["paused"] is False
