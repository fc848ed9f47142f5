"""An ASGI middleware in front of Gradio's routes for what Gradio leaves open.

- Another site may not drive the studio through a visitor's browser. While the server listens on this machine
  only (startup.is_loopback), a request must name it by a loopback Host (127.0.0.0/8, localhost, [::1], any
  port), else 421: a DNS-rebinding page (http://evil.example:7860 resolved to 127.0.0.1) sends its own name.
  Beyond loopback the studio has a login (unless server.allow_no_login), whose cookie or password never
  follows a rebinding, and it is reached by names of its own, so Host is left alone. And a POST, PUT, PATCH or
  DELETE whose Origin (which browsers send on every cross-site one, form posts and text/plain fetches included,
  which need no CORS preflight) is not the Host's own is refused (403).
  gradio_client, curl and the OpenAI clients send no Origin.
- Wrong passwords are throttled per client address (`api/auth.py: LOGIN_THROTTLE`, shared with the chat routes
  and the /v1 key check): a few are free, then each one locks the address out for a doubling time; while
  locked, `/login` (and `/metrics` with credentials) answer 429 at once without looking at the password. A
  right password clears the count.
- The login page carries no API description: Gradio renders it with the full API schema embedded
  (`window.gradio_api_info`), also for a visitor who has not logged in; that script is emptied.
- A full queue answers "busy, try again" in words the page and a client can act on (Gradio says "Queue is full").
- Uploads stop when the upload folder already holds `upload_budget_bytes` (Gradio limits one file's size, not
  how many a visitor sends; its own clean-up removes old ones on a schedule).

It sits inside Gradio's compression middleware (it is passed to the app at creation), so bodies are plain.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ishowtts_studio.api.auth import LOGIN_THROTTLE, LoginThrottle, throttled_message
from ishowtts_studio.startup import is_loopback

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOGIN_PATHS = ("/login", "/login/")
METRICS_PATHS = ("/metrics",)
QUEUE_JOIN_PATHS = ("/gradio_api/queue/join",)
UPLOAD_PATHS = ("/gradio_api/upload",)
API_INFO_MARK = b"window.gradio_api_info = "
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BUSY_MESSAGE = ("The studio is busy: the queue is full. Try again in a few seconds (requests are refused at once "
                "rather than left waiting).")


def folder_bytes(folder: Path, skip: str | None = None) -> int:
    """Bytes of the files under `folder`, leaving out its top-level entry named `skip`."""
    total = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name == skip:
            continue
        if entry.is_dir(follow_symlinks=False):
            for root, _, files in os.walk(entry.path):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(root, f)).st_size
                    except FileNotFoundError:
                        pass
        else:
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                pass
    return total


def _json_response(status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None):
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, head + (headers or []), body


class ServerGuard:
    """See the module docstring. `auth_enabled`: Gradio's login is on; `upload_folder`: Gradio's upload folder,
    `served_name` its sub-folder of hand-outs (not counted as uploads); `host`: the address the server listens
    on (server.host; when not given, the one Gradio's launch() bound, read from the app)."""

    def __init__(self, app: ASGIApp, *, auth_enabled: bool, upload_folder: str | os.PathLike[str],
                 upload_budget_bytes: int, served_name: str | None = None, host: str | None = None,
                 throttle: LoginThrottle | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.auth_enabled = auth_enabled
        self.upload_folder = Path(upload_folder)
        self.upload_budget_bytes = int(upload_budget_bytes)
        self.served_name = served_name
        self.host = host
        self.throttle = throttle or LOGIN_THROTTLE
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        refusal = self._foreign(scope, path, method)
        if refusal is not None:
            await _send(send, *refusal)
        elif self.auth_enabled and method == "POST" and path in LOGIN_PATHS:
            await self._password_checked(scope, receive, send, ok_status=200, bad_status=400)
        elif self.auth_enabled and path in METRICS_PATHS and _header(scope, b"authorization") is not None:
            await self._password_checked(scope, receive, send, ok_status=200, bad_status=401)
        elif self.auth_enabled and method == "GET" and path in ("/", ""):  # HEAD has no body to clean
            await self._without_api_info(scope, receive, send)
        elif method == "POST" and path in QUEUE_JOIN_PATHS:
            await self._busy_in_words(scope, receive, send)
        elif method == "POST" and path in UPLOAD_PATHS and self._upload_space_full():
            await _send(send, *_json_response(
                507, "The studio's upload space is full. Try again later, or ask the operator to free space."))
        else:
            await self.app(scope, receive, send)

    # ---- other sites ------------------------------------------------------------------------------
    def _foreign(self, scope: Scope, path: str, method: str) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The answer to a request another site may have made the browser send (see the module docstring)."""
        host = _header(scope, b"host")
        if self._loopback_only(scope) and not _loopback_host(host):
            log.warning("request refused: Host %r names no loopback address (this server listens on this machine "
                        "only)", (host or "")[:100])
            return _json_response(421, "This studio listens on this machine only and answers only to a loopback "
                                       "address such as http://127.0.0.1:<port> or http://localhost:<port>; open it "
                                       "by that address.")
        origin = _header(scope, b"origin")
        if method in STATE_CHANGING and origin is not None and not _same_origin(origin, host):
            log.warning("%s %s refused: cross-site request from Origin %r", method, path, origin[:100])
            return _json_response(403, "Cross-site request refused: a page of another site may not send this to the "
                                       "studio. Use the studio's own page, or a client that sends no Origin header "
                                       "(gradio_client, curl, the OpenAI clients).")
        return None

    def _loopback_only(self, scope: Scope) -> bool:
        """Whether the server listens on this machine only: by `host` when given, else by the host Gradio's
        launch() bound (on the app in the scope), and until that is known by the address the request came in on."""
        bound = self.host or getattr(getattr(scope.get("app"), "blocks", None), "server_name", None)
        if isinstance(bound, str) and bound:
            return is_loopback(bound)
        return is_loopback(str((scope.get("server") or ("",))[0]))

    # ---- passwords --------------------------------------------------------------------------------
    async def _password_checked(self, scope: Scope, receive: Receive, send: Send, *, ok_status: int,
                                bad_status: int) -> None:
        address = (scope.get("client") or ("?", 0))[0]
        seconds = self.throttle.retry_after(address, self.clock())
        if seconds:
            await _send(send, *_json_response(429, throttled_message(seconds),
                                              [(b"retry-after", str(seconds).encode())]))
            return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] == bad_status:
            self.throttle.failed(address, self.clock())
        elif status and status[0] == ok_status:
            self.throttle.succeeded(address)

    # ---- the login page ---------------------------------------------------------------------------
    async def _without_api_info(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if b'"auth_required":true' in body.replace(b" ", b""):
                body = _drop_api_info(body)
            assert start is not None  # noqa: S101 - ASGI sends the start first
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send(dict(start, headers=headers))
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)

    # ---- back-pressure ----------------------------------------------------------------------------
    async def _busy_in_words(self, scope: Scope, receive: Receive, send: Send) -> None:
        busy = False

        async def reword(message: Message) -> None:
            nonlocal busy
            if message["type"] == "http.response.start" and int(message["status"]) == 503:
                busy = True
                return
            if busy and message["type"] == "http.response.body":
                if not message.get("more_body"):
                    await _send(send, *_json_response(503, BUSY_MESSAGE, [(b"retry-after", b"5")]))
                return
            await send(message)

        await self.app(scope, receive, reword)

    # ---- uploads ----------------------------------------------------------------------------------
    def _upload_space_full(self) -> bool:
        used = folder_bytes(self.upload_folder, skip=self.served_name)
        if used >= self.upload_budget_bytes:
            log.warning("upload refused: the upload folder holds %.0f MB (budget %.0f MB)", used / 2**20,
                        self.upload_budget_bytes / 2**20)
            return True
        return False


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case), or None when the request has none."""
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine: 127.0.0.0/8, localhost or [::1], with any port."""
    try:
        parts = urlsplit("//" + (host or ""))
        parts.port  # noqa: B018 - raises ValueError on a port that is no number
    except ValueError:
        return False
    return bool(parts.hostname) and is_loopback(parts.hostname)


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether an Origin header (scheme://host[:port]) names the same host and port as the Host header. A Host
    without a port has the default one of the origin's scheme (browsers leave 80 and 443 out of both)."""
    try:
        o, h = urlsplit(origin.strip()), urlsplit("//" + (host or ""))
        if o.scheme not in ("http", "https") or not o.hostname or not h.hostname:
            return False  # "null" (a sandboxed frame, a file: page) or garbage: never this server's own page
        default = 443 if o.scheme == "https" else 80
        return (o.hostname, o.port or default) == (h.hostname, h.port or default)
    except ValueError:
        return False


def _drop_api_info(body: bytes) -> bytes:
    """The page with `window.gradio_api_info = {...};` replaced by `null` (up to its closing </script>)."""
    start = body.find(API_INFO_MARK)
    if start < 0:
        return body
    value = start + len(API_INFO_MARK)
    end = body.find(b"</script>", value)
    if end < 0:
        return body
    return body[:value] + b"null;" + body[end:]


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
