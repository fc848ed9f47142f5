"""Twitch IRC source against a real IRC server on 127.0.0.1 (miniircd): join, messages, reconnect after the
server restarts; IRCv3 tag parsing on recorded Twitch lines replayed over a real socket (miniircd carries no tags);
OAuth token from the environment, never logged."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ishowtts_studio.services.chat.sources.base import ChatSource
from ishowtts_studio.services.chat.sources.factory import sources_from_settings
from ishowtts_studio.services.chat.sources.twitch import TwitchSource, parse_message, strip_emotes, tag_dict
from ishowtts_studio.settings import ChatSettings
from tests.helpers import free_port

MINIIRCD = shutil.which("miniircd", path=str(Path(sys.executable).parent)) or shutil.which("miniircd")


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or cond}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class IrcServer:
    """miniircd as a subprocess on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MINIIRCD, "miniircd is not installed (requirements-dev.txt)"
        # miniircd refuses to run as root unless told to stay root (CI runs as root)
        as_root = ["--setuid", "root"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen([MINIIRCD, "--listen", "127.0.0.1", "--ports", str(self.port), *as_root],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), what="miniircd to listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Viewer:
    """A plain IRC client on a raw socket (the other side of the chat, not the code under test)."""

    def __init__(self, port: int, nick: str, channel: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.wait_for_line(" 001 ")
        self.send(f"JOIN {channel}")
        self.wait_for_line(" 366 ")  # end of NAMES: joined
        self.channel = channel

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def wait_for_line(self, fragment: str) -> str:
        while True:
            line = self.file.readline().decode(errors="replace")
            assert line, "the IRC server closed the connection"
            if line.startswith("PING"):
                self.send("PONG" + line[4:].rstrip())
            if fragment in line:
                return line

    def say(self, text: str) -> None:
        self.send(f"PRIVMSG {self.channel} :{text}")

    def close(self) -> None:
        try:
            self.send("QUIT :bye")
        finally:
            self.sock.close()


class Collector:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, **msg: Any) -> dict[str, Any]:
        with self.lock:
            self.got.append(msg)
        return {"id": len(self.got), "state": "queued"}

    def texts(self) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.got]


@pytest.fixture()
def ircd() -> Iterator[IrcServer]:
    server = IrcServer(free_port())
    server.start()
    yield server
    server.stop()


def joined(source: TwitchSource) -> bool:
    return source.state()["state"] == "connected"


def test_join_read_and_reconnect_after_server_restart(ircd: IrcServer) -> None:
    sink = Collector()
    src = TwitchSource("Stream", host="127.0.0.1", port=ircd.port, tls=False, reconnect_max_s=2)
    assert isinstance(src, ChatSource)
    assert src.nick.startswith("justinfan") and src.channel == "#stream"
    src.start(sink)
    try:
        wait_for(lambda: joined(src), what="the source to connect")
        assert "#stream" in src.state()["detail"]
        viewer = Viewer(ircd.port, "viewer1", "#stream")
        # the source joins right after the welcome; say hello until it is heard (its JOIN may still be in flight)
        wait_for(lambda: viewer.say("hello there") or "hello there" in sink.texts(), what="the first message")
        viewer.say("hey @stream nice")
        wait_for(lambda: "hey @stream nice" in sink.texts(), what="the mention")
        viewer.close()
        by_text = {m["text"]: m for m in sink.got}
        assert by_text["hello there"]["author"] == "viewer1" and by_text["hello there"]["kind"] == "chat"
        assert by_text["hello there"]["platform"] == "twitch"
        assert by_text["hey @stream nice"]["kind"] == "mention"

        ircd.stop()  # the server goes away ...
        wait_for(lambda: src.state()["state"] == "reconnecting", what="the source to notice")
        assert "back-off" in src.state()["detail"]
        ircd.start()  # ... and comes back on the same port
        wait_for(lambda: joined(src), timeout=30, what="the source to reconnect")
        viewer = Viewer(ircd.port, "viewer2", "#stream")
        wait_for(lambda: viewer.say("back again") or "back again" in sink.texts(), what="a message after restart")
        viewer.close()
    finally:
        src.stop()
    assert src.state()["state"] == "stopped"


def test_refused_connection_keeps_retrying_and_stop_ends_it() -> None:
    port = free_port()  # nothing listens here
    src = TwitchSource("stream", host="127.0.0.1", port=port, tls=False, reconnect_max_s=1)
    src.start(Collector())
    try:
        wait_for(lambda: src.state()["state"] == "reconnecting", what="the failed connect to be reported")
        server = IrcServer(port)
        server.start()
        try:
            wait_for(lambda: joined(src), timeout=30, what="a connect once the server is up")
        finally:
            server.stop()
    finally:
        src.stop()


def test_a_quiet_channel_on_a_live_server_stays_connected(ircd: IrcServer) -> None:
    """Nobody chats, but the server answers the source's PINGs: the watchdog must not drop a healthy connection."""
    src = TwitchSource("stream", host="127.0.0.1", port=ircd.port, tls=False, reconnect_max_s=1, stale_s=1.5)
    src.start(Collector())
    try:
        wait_for(lambda: joined(src), what="the source to connect")
        states = set()
        deadline = time.monotonic() + 5  # more than three times stale_s of silence from viewers
        while time.monotonic() < deadline:
            states.add(src.state()["state"])
            time.sleep(0.05)
    finally:
        src.stop()
    assert states == {"connected"}


# ---- recorded Twitch lines (IRCv3 tags) ------------------------------------------------------------------

RECORDED = [
    # bits: a cheer of 100 with a cheermote in the text
    "@badge-info=subscriber/8;badges=subscriber/6,premium/1;bits=100;color=#1E90FF;display-name=Ronni;emotes=;"
    "id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=1337;subscriber=1;tmi-sent-ts=1507246572675;turbo=0;"
    "user-id=1337;user-type= :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #stream :cheer100 Great stream!",
    # a moderator mentioning the channel, display name with capitals and an escaped space in another tag
    "@badge-info=;badges=moderator/1;color=;display-name=ModGuy;emotes=;flags=;id=1;mod=1;room-id=1;"
    "subscriber=0;tmi-sent-ts=1;turbo=0;user-id=2;user-type=mod :modguy!modguy@modguy.tmi.twitch.tv "
    "PRIVMSG #stream :hello @Stream how are you",
    # a Chinese display name, no badges
    "@badges=;display-name=木村;user-id=3 :kimura!kimura@kimura.tmi.twitch.tv PRIVMSG #stream :你好主播",
    # a resub with a message
    "@badge-info=subscriber/3;badges=subscriber/3;display-name=Subber;login=subber;msg-id=resub;"
    r"msg-param-cumulative-months=3;system-msg=Subber\ssubscribed\sfor\s3\smonths! :tmi.twitch.tv "
    "USERNOTICE #stream :Love this channel",
    # a raid: not a viewer's message, ignored
    r"@display-name=Raider;login=raider;msg-id=raid;msg-param-viewerCount=5;system-msg=5\sraiders :tmi.twitch.tv "
    "USERNOTICE #stream",
    # /me as a CTCP ACTION
    "@badges=;display-name=Waver :waver!waver@waver.tmi.twitch.tv PRIVMSG #stream :\x01ACTION waves\x01",
]


class ReplayServer:
    """Accepts IRC clients one after another, welcomes each and plays recorded Twitch lines after its JOIN."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.connections += 1
            self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            nick = "x"
            for raw in f:
                line = raw.decode().rstrip("\r\n")
                self.received.append(line)
                if line.startswith("NICK "):
                    nick = line.split()[1]
                    conn.sendall(f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n".encode())
                elif line.startswith("JOIN "):
                    conn.sendall(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #stream\r\n".encode())
                    for rec in self.lines:
                        conn.sendall(rec.encode() + b"\r\n")
                elif line.startswith("QUIT"):
                    return

    def close(self) -> None:
        self.sock.close()


def replay(lines: list[str], until: Callable[[Collector], Any], what: str,
           **options: Any) -> tuple[ReplayServer, Collector]:
    """Play `lines` to a TwitchSource over a real socket until `until(sink)` holds; the server and the sink."""
    server = ReplayServer(lines)
    sink = Collector()
    src = TwitchSource("stream", host="127.0.0.1", port=server.port, tls=False, **options)
    src.start(sink)
    try:
        wait_for(lambda: until(sink), timeout=30, what=what)
    finally:
        src.stop()
        server.close()
    return server, sink


def test_recorded_twitch_lines_through_the_library() -> None:
    server, sink = replay(RECORDED, lambda sink: len(sink.got) >= 5, "the recorded messages")
    assert any(line.startswith("CAP REQ") and "twitch.tv/tags" in line for line in server.received)
    got = sink.got
    assert [m["author"] for m in got] == ["Ronni", "ModGuy", "木村", "Subber", "Waver"]
    ronni, mod, kimura, sub, waver = got
    assert (ronni["kind"], ronni["amount"], ronni["text"]) == ("gift", 100.0, "Great stream!")
    assert ronni["extra"]["member"] is True and ronni["extra"]["moderator"] is False
    assert mod["kind"] == "mention" and mod["extra"]["moderator"] is True and mod["extra"]["member"] is False
    assert (kimura["kind"], kimura["text"], kimura["extra"]["badges"]) == ("chat", "你好主播", [])
    assert (sub["kind"], sub["text"], sub["extra"]["months"]) == ("member", "Love this channel", 3)
    assert (waver["kind"], waver["text"]) == ("chat", "waves")
    assert all(m["platform"] == "twitch" for m in got)


def test_twitch_reconnect_command_reconnects() -> None:
    server, sink = replay([RECORDED[2], ":tmi.twitch.tv RECONNECT"], lambda sink: len(sink.got) >= 2,
                          "the message again after the reconnect", reconnect_max_s=1)
    assert server.connections >= 2 and sink.texts()[:2] == ["你好主播", "你好主播"]


def test_a_silent_server_is_pinged_then_dropped_and_reconnected(caplog: pytest.LogCaptureFixture) -> None:
    """The replay server welcomes, plays one line and then says nothing, not even PONG: a connection gone dead
    without closing. The source asks (PING), gives up after stale_s and reconnects, hearing the line again."""
    caplog.set_level(logging.WARNING)
    server, _ = replay([RECORDED[2]], lambda sink: len(sink.got) >= 2, "the line again on a second connection",
                       reconnect_max_s=1, stale_s=1.5)
    assert server.connections >= 2
    assert any(line.startswith("PING") for line in server.received)  # it asked before giving up
    assert "nothing from the server" in caplog.text


GIFT_BOMB = [
    # a mystery gift of 3 subs: the announcement, then one subgift per sub, all with the same community-gift-id
    "@badges=;display-name=Gifter;login=gifter;msg-id=submysterygift;msg-param-mass-gift-count=3;"
    r"msg-param-community-gift-id=4242;system-msg=Gifter\sis\sgifting\s3\sTier\s1\sSubs :tmi.twitch.tv "
    "USERNOTICE #stream",
    *[f"@badges=;display-name=Gifter;login=gifter;msg-id=subgift;msg-param-community-gift-id=4242;"
      f"msg-param-recipient-display-name=Lucky{i} :tmi.twitch.tv USERNOTICE #stream" for i in range(3)],
    # a single gifted sub, not part of a mystery gift: read
    "@badges=;display-name=Kind;login=kind;msg-id=subgift;msg-param-recipient-display-name=Lucky9 "
    ":tmi.twitch.tv USERNOTICE #stream",
    # emotes only: not read; an emote in a line: taken out
    "@badges=;display-name=Emo;emotes=25:0-4,6-10 :emo!emo@emo.tmi.twitch.tv PRIVMSG #stream :Kappa Kappa",
    "@badges=;display-name=Emo;emotes=25:0-4 :emo!emo@emo.tmi.twitch.tv PRIVMSG #stream :Kappa what a play",
    "@badges=;display-name=Viewer :viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #stream :after the gifts",
]


def test_a_gift_bomb_is_read_once_and_emotes_are_not_read() -> None:
    _, sink = replay(GIFT_BOMB, lambda sink: "after the gifts" in sink.texts(), "the line after the gifts")
    got = [(m["author"], m["kind"], m["text"]) for m in sink.got]
    assert got == [("Gifter", "member", "gifted 3 subs"), ("Kind", "member", "thank you"),
                   ("Emo", "chat", "what a play"), ("Viewer", "chat", "after the gifts")]


def test_emotes_are_not_read() -> None:
    """Twitch's `emotes` tag places each emote in the text by character range: they are pictures, not words."""
    assert strip_emotes("Kappa what a play Kappa", "25:0-4,18-22") == ("what a play", 2)
    assert strip_emotes("Kappa Keepo Kappa", "25:0-4,12-16/1902:6-10") == ("", 3)
    assert strip_emotes("你好 LUL 主播", "425618:3-5") == ("你好 主播", 1)
    for bad in ("25:0-99", "25:4-0", "25:x-3", "25:0-4,2-6"):  # out of range, reversed, not a number, overlapping
        assert strip_emotes("Kappa hi", bad) == ("Kappa hi", 0)
    m = parse_message("ann", "LUL that was close", {"emotes": "425618:0-2"}, "#s")
    assert m is not None and m["text"] == "that was close" and m["extra"]["emotes"] == 1
    assert parse_message("ann", "Kappa Kappa", {"emotes": "25:0-4,6-10"}, "#s") is None  # emotes only
    cheer = parse_message("ann", "Cheer100 Kappa", {"bits": "100", "emotes": "25:9-13"}, "#s")
    assert cheer is not None and (cheer["kind"], cheer["text"]) == ("gift", "cheers")


def test_parse_message_rules() -> None:
    tags = tag_dict([{"key": "display-name", "value": "Ann"}, {"key": "badges", "value": "broadcaster/1"},
                     {"key": "bits", "value": None}])
    assert tags == {"display-name": "Ann", "badges": "broadcaster/1", "bits": ""}
    m = parse_message("ann", "hi", tags, "#stream")
    assert m is not None and m["kind"] == "chat" and m["extra"]["moderator"] is True
    assert parse_message("ann", "streamer is great", {}, "#streamer")["kind"] == "mention"
    assert parse_message("ann", "mystreamer", {}, "#streamer")["kind"] == "chat"  # a word containing it is not
    only_cheer = parse_message("ann", "Cheer500", {"bits": "500"}, "#s")
    assert only_cheer is not None and only_cheer["text"] == "cheers" and only_cheer["amount"] == 500.0
    assert parse_message("n", "", {"msg-id": "subgift", "display-name": "Gifter"}, "#s", "usernotice")["text"] \
        == "thank you"
    assert parse_message("n", "", {"msg-id": "announcement"}, "#s", "usernotice") is None


def test_oauth_token_comes_from_the_environment_and_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret = "abcdef0123456789secret"
    chat = ChatSettings(twitch_channel="stream", twitch_nick="MyBot", twitch_server="127.0.0.1",
                        twitch_tls=False, twitch_token_env="MY_TWITCH_TOKEN")
    server = ReplayServer(RECORDED[:1])
    chat = ChatSettings(**{**chat.__dict__, "twitch_port": server.port})
    [src] = sources_from_settings(chat, environ={"MY_TWITCH_TOKEN": secret})
    assert isinstance(src, TwitchSource) and src.nick == "mybot"
    sink = Collector()
    caplog.set_level(logging.DEBUG)
    src.start(sink)
    try:
        wait_for(lambda: sink.got, what="a message over the OAuth login")
    finally:
        src.stop()
        server.close()
    assert f"PASS oauth:{secret}" in server.received  # the server got it ...
    assert secret not in caplog.text and secret not in str(src.state())  # ... nobody else
    assert "PASS (redacted)" in caplog.text


def test_oauth_without_token_says_what_to_set() -> None:
    chat = ChatSettings(twitch_channel="stream", twitch_nick="MyBot", twitch_token_env="MY_TWITCH_TOKEN")
    [src] = sources_from_settings(chat, environ={})
    src.start(Collector())
    st = src.state()
    assert st["state"] == "error" and "MY_TWITCH_TOKEN" in st["detail"] and "anonymous" in st["detail"]
    src.stop()


def test_no_channel_no_source() -> None:
    assert sources_from_settings(ChatSettings(), environ={}) == []
