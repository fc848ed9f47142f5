"""Twitch chat through IRC, with jaraco's `irc` library (its bot class reconnects with exponential back-off).

Read-only: an anonymous `justinfanNNNNN` login by default, or `twitch_nick` with an OAuth token read from the
environment variable named by `twitch_token_env` (never stored, never logged: PASS lines are redacted from the
library's debug log). IRCv3 tags, where the server sends them: display-name is the author, badges say member /
moderator (kept in `extra`), bits make the message a gift with that amount; USERNOTICE sub/resub/subgift are
memberships, and a gift bomb (a submysterygift followed by one subgift per sub) is read once. Emotes (placed by
the `emotes` tag) are taken out of the text, and a message of emotes only is not read. Mentions of the channel
are `mention`s.

A connection that goes silent without closing (a dropped route, a sleeping laptop's NAT entry gone) would otherwise
look connected until TCP gives up, many minutes later: the source PINGs a quiet server every third of `stale_s`
and drops the connection (the back-off reconnects) when nothing at all has come for `stale_s`.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import irc.bot
import irc.client
import irc.connection
import regex

from ishowtts_studio.services.chat.sources.base import Sink

log = logging.getLogger(__name__)

_CHEER = regex.compile(r"(?<!\S)[A-Za-z]+\d+(?!\S)")  # cheermotes like "Cheer100" carry the bits, not words
_MEMBER_NOTICES = {"sub", "resub", "subgift", "submysterygift", "giftpaidupgrade", "anonsubgift"}
_MEMBER_BADGES = {"subscriber", "founder"}
_MOD_BADGES = {"moderator", "broadcaster"}


class _RedactPass(logging.Filter):
    """The irc library logs every line it sends at debug level; never let a PASS line (the token) through."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "PASS " in text:
            record.msg, record.args = "TO SERVER: PASS (redacted)", ()
        return True


logging.getLogger("irc.client").addFilter(_RedactPass())


def tag_dict(tags: list[dict[str, Any]] | None) -> dict[str, str]:
    """The library's [{"key", "value"}] tag list as a dict (values unescaped by the library; None -> "")."""
    return {t["key"]: t.get("value") or "" for t in (tags or [])}


def badges(tags: Mapping[str, str]) -> list[str]:
    """"moderator/1,subscriber/12" -> ["moderator", "subscriber"]."""
    return [b.split("/", 1)[0] for b in tags.get("badges", "").split(",") if b]


def strip_emotes(text: str, spec: str) -> tuple[str, int]:
    """`text` without the Twitch emotes that the `emotes` tag places in it, and how many were removed. The tag is
    "25:0-4,12-16/1902:6-10": per emote its id, then inclusive character ranges. Emotes are pictures in the chat,
    so "Kappa" or "PogChamp" is not read out; a malformed or out-of-range tag leaves the text as it is."""
    spans = []
    for emote in filter(None, spec.split("/")):
        for bounds in emote.partition(":")[2].split(","):
            start, _, end = bounds.partition("-")
            if not (start.isdigit() and end.isdigit()) or int(start) > int(end) or int(end) >= len(text):
                return text, 0
            spans.append((int(start), int(end) + 1))
    kept, at = [], 0
    for start, end in sorted(spans):
        if start < at:  # overlapping ranges: not a tag Twitch sends
            return text, 0
        kept.append(text[at:start])
        at = end
    return (" ".join("".join(kept + [text[at:]]).split()), len(spans)) if spans else (text, 0)


def parse_message(nick: str, text: str, tags: Mapping[str, str], channel: str,
                  command: str = "pubmsg") -> dict[str, Any] | None:
    """One Twitch IRC message as post() arguments {author, text, kind, amount, extra}, or None to ignore it."""
    author = tags.get("display-name") or nick
    marks = badges(tags)
    extra: dict[str, Any] = {"badges": marks, "member": bool(_MEMBER_BADGES & set(marks)),
                             "moderator": bool(_MOD_BADGES & set(marks))}
    text, emotes = strip_emotes(text, tags.get("emotes", ""))
    if emotes:
        extra["emotes"] = emotes
    if command == "usernotice":
        notice = tags.get("msg-id", "")
        if notice not in _MEMBER_NOTICES:
            return None  # raids, announcements, ...: not a viewer's message
        if notice in ("subgift", "anonsubgift") and tags.get("msg-param-community-gift-id"):
            return None  # one of a mystery gift's subs (a gift bomb sends one each): its submysterygift was read
        author = tags.get("display-name") or tags.get("login") or nick
        months = tags.get("msg-param-cumulative-months", "")
        extra.update(notice=notice, months=int(months) if months.isdigit() else None)
        default = "thank you"
        if notice == "submysterygift":
            count = tags.get("msg-param-mass-gift-count", "")
            default = f"gifted {count} subs" if count.isdigit() else "gifted subs"
        return {"author": author, "text": text.strip() or default, "kind": "member", "amount": 0.0,
                "extra": extra}
    bits = tags.get("bits", "")
    if bits.isdigit() and int(bits) > 0:
        words = _CHEER.sub(" ", text).strip()
        return {"author": author, "text": words or "cheers", "kind": "gift", "amount": float(bits), "extra": extra}
    if emotes and not text.strip():
        return None  # only emotes: nothing for a voice to say
    chan = channel.lstrip("#").casefold()
    kind = "mention" if chan and regex.search(rf"(?i)(?<!\w)@?{regex.escape(chan)}(?!\w)", text) else "chat"
    return {"author": author, "text": text, "kind": kind, "amount": 0.0, "extra": extra}


class _Bot(irc.bot.SingleServerIRCBot):
    def __init__(self, source: TwitchSource, password: str | None) -> None:
        factory = irc.connection.Factory()
        if source.tls:
            ctx = ssl.create_default_context()
            factory = irc.connection.Factory(wrapper=functools.partial(ctx.wrap_socket, server_hostname=source.host))
        super().__init__([irc.bot.ServerSpec(source.host, source.port, password)], source.nick, source.nick,
                         recon=source.backoff(), connect_factory=factory)
        self.source = source

    def on_welcome(self, connection: Any, event: Any) -> None:
        self.recon = self.source.backoff()  # a good connection starts the back-off from 1 s again
        connection.cap("REQ", ":twitch.tv/tags twitch.tv/commands")
        connection.join(self.source.channel)
        self.source.set_state("connected", f"reading {self.source.channel} as {self.source.nick} on "
                                      f"{self.source.host}:{self.source.port}")

    def on_pubmsg(self, connection: Any, event: Any) -> None:
        self._deliver(event, "pubmsg")

    def on_usernotice(self, connection: Any, event: Any) -> None:
        self._deliver(event, "usernotice")

    def on_action(self, connection: Any, event: Any) -> None:  # "/me waves" arrives as a CTCP ACTION
        if irc.client.is_channel(event.target or ""):
            self._deliver(event, "pubmsg")

    def _deliver(self, event: Any, command: str) -> None:
        # the library has taken the channel off the arguments: what is left is the message (a USERNOTICE may
        # have none, e.g. a gifted sub without a note)
        text = event.arguments[0] if event.arguments else ""
        parsed = parse_message(event.source.nick or "", text, tag_dict(event.tags), self.source.channel, command)
        if parsed is not None:
            self.source.received += 1
            self.source.sink(platform="twitch", **parsed)

    def on_disconnect(self, connection: Any, event: Any) -> None:
        if not self.source.stopping():
            why = event.arguments[0] if event.arguments and event.arguments[0] else "connection lost"
            self.source.set_state("reconnecting", f"{why}; trying again with back-off (at most "
                                             f"{self.source.reconnect_max_s:g} s)")

    def on_reconnect(self, connection: Any, event: Any) -> None:
        # Twitch's RECONNECT: the server is going away; drop the connection and let the back-off bring it back
        connection.disconnect("the server asked to reconnect")

    def on_nicknameinuse(self, connection: Any, event: Any) -> None:
        connection.nick(f"justinfan{random.randint(10000, 99999)}")


class TwitchSource:
    """A ChatSource for one Twitch channel. `start` returns at once; a thread runs the IRC reactor."""

    def __init__(self, channel: str, *, host: str = "irc.chat.twitch.tv", port: int = 6697, tls: bool = True,
                 nick: str = "", token: str | None = None, reconnect_max_s: float = 60.0,
                 token_env: str = "TWITCH_OAUTH_TOKEN", stale_s: float = 180.0) -> None:
        self.channel = "#" + channel.strip().lstrip("#").lower()
        self.name = f"twitch:{self.channel}"
        self.host, self.port, self.tls = host, port, tls
        self.reconnect_max_s = reconnect_max_s
        self.stale_s = stale_s
        self._heard_at = self._pinged_at = time.monotonic()
        self._socket: Any = None  # the connection the two times above belong to
        self._token = token  # kept in memory only, for the connection's PASS
        self._token_env = token_env
        self.nick = nick.strip().lower() if nick.strip() else f"justinfan{random.randint(10000, 99999)}"
        self.received = 0
        self._state, self._detail = "stopped", ""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._bot: _Bot | None = None
        self.sink: Sink = lambda **_: None

    @classmethod
    def from_settings(cls, chat: Any, environ: Mapping[str, str]) -> TwitchSource:
        nick = chat.twitch_nick.strip()
        token = environ.get(chat.twitch_token_env, "").strip() if nick else None
        return cls(chat.twitch_channel, host=chat.twitch_server, port=chat.twitch_port, tls=chat.twitch_tls,
                   nick=nick, token=token, reconnect_max_s=chat.reconnect_max_s, token_env=chat.twitch_token_env)

    def backoff(self) -> irc.bot.ExponentialBackoff:
        return irc.bot.ExponentialBackoff(min_interval=1, max_interval=max(1, int(self.reconnect_max_s)))

    def set_state(self, state: str, detail: str) -> None:
        """Record the connection's state and why (shown in the chat status); called from the IRC thread too."""
        with self._lock:
            self._state, self._detail = state, detail
        log.info("%s: %s (%s)", self.name, state, detail)

    def stopping(self) -> bool:
        """Whether stop() was asked for (a disconnect is then expected, not a fault)."""
        return self._stopping.is_set()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "state": self._state, "detail": self._detail, "received": self.received}

    def start(self, sink: Sink) -> None:
        if self._thread is not None:
            return
        self.sink = sink
        password = None
        if self._token is not None:  # an OAuth login was asked for
            if not self._token:
                self.set_state("error", f"twitch_nick is set but the environment variable {self._token_env} is empty: "
                                   "set it to your OAuth token (or clear twitch_nick for an anonymous login)")
                return
            password = self._token if self._token.startswith("oauth:") else f"oauth:{self._token}"
        self._stopping.clear()
        self._bot = _Bot(self, password)
        self.set_state("connecting", f"{self.host}:{self.port} as {self.nick}")
        self._thread = threading.Thread(target=self._run, name=f"chat-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        bot = self._bot
        assert bot is not None
        bot.reactor.add_global_handler("all_raw_messages", self._heard, -50)
        bot.jump_server()  # the first connect; a refused one schedules a reconnect through the back-off
        while not self._stopping.is_set():
            try:
                bot.reactor.process_once(0.2)
                self._keep_alive(bot.connection)
            except Exception as exc:  # a bad line or socket error: drop the connection, the back-off reconnects
                log.warning("%s: %s", self.name, exc)
                try:
                    bot.connection.disconnect(str(exc))
                except Exception:
                    pass
        try:
            bot.connection.disconnect("bye")
        except Exception:
            pass
        self.set_state("stopped", "")

    def _heard(self, connection: Any, event: Any) -> None:
        self._heard_at = time.monotonic()  # any line at all, PONGs included (returns None: other handlers run)

    def _keep_alive(self, connection: Any) -> None:
        """PING a quiet server; drop a connection that has said nothing for `stale_s` (the back-off reconnects)."""
        if not connection.is_connected():
            return
        now = time.monotonic()
        if connection.socket is not self._socket:  # a new connection: its silence starts now
            self._socket, self._heard_at, self._pinged_at = connection.socket, now, now
            return
        quiet = now - self._heard_at
        if quiet > self.stale_s:
            log.warning("%s: nothing from the server for %.0f s, reconnecting", self.name, quiet)
            connection.disconnect(f"no data from the server for {quiet:.0f} s")
        elif quiet > self.stale_s / 3 and now - self._pinged_at > self.stale_s / 3:
            self._pinged_at = now
            connection.ping(self.host)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
