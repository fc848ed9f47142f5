"""Plain HTTP routes of the live chat, on the studio's own web server (no Gradio here):

    GET /overlay                  an OBS browser-source page: plays the chat and shows who is being read
    GET /chat/events              Server-Sent Events of the playout timeline (ChatService.subscribe)
    GET /chat/audio/<token>.wav   one segment's audio, by the random token its event carried

`mount_chat_routes(app, chat, basic_auth=..., session_user=...)` adds them to a Starlette/FastAPI app (Gradio's
included; call it after `launch()`, which builds the app anew). Login does not cover routes added this way, so
when the studio has a login they check it themselves: HTTP basic auth with the same user and password (for
OBS: http://user:password@host:port/overlay), or the page's own login session (`session_user`, supplied by the
UI layer, which knows how Gradio keeps it). A password sent here goes through the server's login throttle
(`api/auth.py: LOGIN_THROTTLE`, as /login does): wrong ones count, and a locked-out address gets 429 even with
the right one. Nothing else is served: the audio route answers only tokens the chat service issued and has not
expired.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

from ishowtts_studio.api.auth import LOGIN_THROTTLE, LoginThrottle, throttled_message

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
POLL_S = 2.0  # one long-poll of the service; also the heartbeat period (clock and volume for the players)
RETRY_MS = 2000  # EventSource reconnect delay told to the browser
MAX_STREAMS = 32  # concurrent event streams; each holds one worker thread while it waits
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,128}")
REALM = "ishowtts-chat"
NO_STORE = {"Cache-Control": "no-store"}

SessionUser = Callable[[Any], str | None]


@cache
def player_js() -> str:
    """The gapless Web Audio player shared by the overlay page and the studio's Live chat tab."""
    return (STATIC / "chat_player.js").read_text(encoding="utf-8")


@cache
def overlay_html() -> str:
    # "</" cannot appear inside the inlined script (it would end the <script> element early)
    script = player_js().replace("</", "<\\/")
    return (STATIC / "overlay.html").read_text(encoding="utf-8").replace("__PLAYER_JS__", script)


def _basic_ok(header: str, expected: tuple[str, str]) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # both compared every time, so the answer's timing does not tell which one was wrong
    return secrets.compare_digest(user.encode(), expected[0].encode()) & secrets.compare_digest(
        password.encode(), expected[1].encode())


def resume_point(last_event_id: str | None, boot: str) -> int:
    """The seq to continue after, from a "<boot>.<seq>" event id; 0 (everything the service still holds) when
    the id is missing, malformed or from an earlier run of the studio (its seqs mean nothing now)."""
    if not last_event_id:
        return 0
    who, _, seq = last_event_id.partition(".")
    if who != boot or not seq.isdigit():
        return 0
    return int(seq)


def _sse(payload: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


class ChatRoutes:
    """The three routes over one ChatService; `close()` ends open event streams (before the server stops)."""

    def __init__(self, chat: Any, *, basic_auth: tuple[str, str] | None = None,
                 session_user: SessionUser | None = None, poll_s: float = POLL_S,
                 throttle: LoginThrottle = LOGIN_THROTTLE) -> None:
        self.chat = chat
        self.basic_auth = basic_auth
        self.session_user = session_user
        self.throttle = throttle
        self.poll_s = poll_s
        # a new id per run: players that reconnect to a restarted studio learn that its seqs started again
        self.boot = secrets.token_hex(4)
        self._stopping = threading.Event()
        from anyio import CapacityLimiter

        self._limiter = CapacityLimiter(MAX_STREAMS)
        self._streams = 0
        self._lock = threading.Lock()

    # ---- login --------------------------------------------------------------------------------------
    def refusal(self, request: Any) -> Any | None:
        """None when the request may have the route, else the answer: 401, or 429 while its address is locked out
        by wrong passwords or keys (here, on /login, /metrics or /v1), before the password is looked at (no oracle)."""
        if self.basic_auth is None:
            return None
        header = request.headers.get("authorization", "")
        if header.partition(" ")[0].lower() == "basic":
            from starlette.responses import PlainTextResponse

            address = request.client.host if request.client else "?"
            seconds = self.throttle.retry_after(address, time.monotonic())
            if seconds:
                return PlainTextResponse(throttled_message(seconds) + "\n", status_code=429,
                                         headers={"Retry-After": str(seconds), **NO_STORE})
            if _basic_ok(header, self.basic_auth):
                self.throttle.succeeded(address)  # the login's own password, as a right one on /login
                return None
            self.throttle.failed(address, time.monotonic())
        if self.session_user is not None:
            try:
                if self.session_user(request) is not None:
                    return None
            except Exception:  # a login check that breaks must refuse, never let through
                log.exception("chat routes: the page-login check failed")
        return self._refused()

    @staticmethod
    def _refused() -> Any:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("Log in to the studio first (or use HTTP basic auth with the studio's login).\n",
                                 status_code=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}"', **NO_STORE})

    # ---- routes -------------------------------------------------------------------------------------
    def overlay(self, request: Any) -> Any:
        from starlette.responses import HTMLResponse

        if (refused := self.refusal(request)) is not None:
            return refused
        return HTMLResponse(overlay_html(), headers=NO_STORE)

    def audio(self, request: Any) -> Any:
        from starlette.responses import FileResponse, PlainTextResponse

        if (refused := self.refusal(request)) is not None:
            return refused
        token = str(request.path_params.get("token", ""))
        gone = PlainTextResponse("No such chat audio (it may have expired).\n", status_code=404, headers=NO_STORE)
        if not TOKEN_RE.fullmatch(token):
            return gone
        try:
            path = Path(self.chat.audio_path(token))
        except KeyError:
            return gone
        if not path.is_file():
            return gone
        return FileResponse(path, media_type="audio/wav", headers=NO_STORE)

    async def events(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse, StreamingResponse

        if (refused := self.refusal(request)) is not None:
            return refused
        with self._lock:
            if self._streams >= MAX_STREAMS:
                return PlainTextResponse("Too many chat players are connected; close one.\n", status_code=503,
                                         headers={"Retry-After": "5", **NO_STORE})
            self._streams += 1
        after = resume_point(request.headers.get("last-event-id") or request.query_params.get("last"), self.boot)
        headers = {"X-Accel-Buffering": "no", **NO_STORE}
        return StreamingResponse(self._stream(request, after), media_type="text/event-stream", headers=headers)

    async def _stream(self, request: Any, after: int) -> AsyncIterator[str]:
        import anyio

        try:
            yield f"retry: {RETRY_MS}\n\n"
            yield _sse(await self._beat("hello"), f"{self.boot}.{after}")
            while not self._stopping.is_set():
                events = await anyio.to_thread.run_sync(self.chat.subscribe, after, self.poll_s,
                                                        limiter=self._limiter, abandon_on_cancel=True)
                for ev in events:
                    after = max(after, int(ev.get("seq") or 0))
                    yield _sse(ev, f"{self.boot}.{after}")
                yield _sse(await self._beat("clock"))
                if await request.is_disconnected():
                    break
        finally:
            with self._lock:
                self._streams -= 1

    async def _beat(self, kind: str) -> dict[str, Any]:
        """A heartbeat, built off the event loop: the volume is a database read, which may wait for a writer."""
        import anyio

        return await anyio.to_thread.run_sync(self._heartbeat, kind, limiter=self._limiter)

    def _heartbeat(self, kind: str) -> dict[str, Any]:
        # players map the server's timeline onto their own audio clock with server_time, and follow the volume
        out: dict[str, Any] = {"type": kind}
        if kind == "hello":
            out["boot"] = self.boot
        try:  # the two fields players use, not the whole status (which counts the history and scans the voices)
            out["volume"] = float(self.chat.volume())
            out["paused"] = bool(self.chat.paused)
        except Exception:
            log.exception("chat routes: volume or pause for the heartbeat failed")
        out["server_time"] = time.time()  # last: the players' clock estimate wants it as late as possible
        return out

    def close(self) -> None:
        self._stopping.set()


def mount_chat_routes(app: Any, chat: Any, *, basic_auth: tuple[str, str] | None = None,
                      session_user: SessionUser | None = None) -> ChatRoutes:
    """Add GET /overlay, /chat/events and /chat/audio/<token>.wav to `app`; returns the routes (close() it)."""
    routes = ChatRoutes(chat, basic_auth=basic_auth, session_user=session_user)
    app.add_route("/overlay", routes.overlay, methods=["GET"], name="chat_overlay", include_in_schema=False)
    app.add_route("/chat/events", routes.events, methods=["GET"], name="chat_events", include_in_schema=False)
    app.add_route("/chat/audio/{token}.wav", routes.audio, methods=["GET"], name="chat_audio",
                  include_in_schema=False)
    return routes
