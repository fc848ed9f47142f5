"""An ASGI middleware in front of Gradio's routes for what Gradio leaves open.

- Wrong passwords are throttled per client address: a few are free, then each one locks the address out for a
  doubling time (up to `LOCK_MAX_S`); while locked, `/login` (and `/metrics` with credentials) answer 429 at once
  without looking at the password. A right password clears the count.
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
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FREE_FAILURES = 5  # wrong passwords per address before any waiting
LOCK_MAX_S = 300.0
FORGET_AFTER_S = 3600.0
LOGIN_PATHS = ("/login", "/login/")
METRICS_PATHS = ("/metrics",)
QUEUE_JOIN_PATHS = ("/gradio_api/queue/join",)
UPLOAD_PATHS = ("/gradio_api/upload",)
API_INFO_MARK = b"window.gradio_api_info = "
BUSY_MESSAGE = ("The studio is busy: the queue is full. Try again in a few seconds (requests are refused at once "
                "rather than left waiting).")


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Counts wrong passwords per address and says how long an address must wait (a pure object, clock given)."""

    def __init__(self, free: int = FREE_FAILURES, lock_max_s: float = LOCK_MAX_S) -> None:
        self.free, self.lock_max_s = free, lock_max_s
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str, now: float) -> float:
        """Seconds `address` must still wait before it may try a password again (0 = it may)."""
        with self._lock:
            r = self._records.get(address)
            return max(0.0, r.locked_until - now) if r else 0.0

    def failed(self, address: str, now: float) -> None:
        with self._lock:
            self._forget_old(now)
            r = self._records.setdefault(address, _Record())
            r.failures += 1
            r.last = now
            over = r.failures - self.free
            if over > 0:
                r.locked_until = now + min(self.lock_max_s, 2.0 ** (over - 1))

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._records.pop(address, None)

    def _forget_old(self, now: float) -> None:
        if len(self._records) < 1000:
            return
        for key in [k for k, r in self._records.items() if now - r.last > FORGET_AFTER_S]:
            del self._records[key]


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
    `served_name` its sub-folder of hand-outs (not counted as uploads)."""

    def __init__(self, app: ASGIApp, *, auth_enabled: bool, upload_folder: str | os.PathLike[str],
                 upload_budget_bytes: int, served_name: str | None = None,
                 throttle: LoginThrottle | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.auth_enabled = auth_enabled
        self.upload_folder = Path(upload_folder)
        self.upload_budget_bytes = int(upload_budget_bytes)
        self.served_name = served_name
        self.throttle = throttle or LoginThrottle()
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if self.auth_enabled and method == "POST" and path in LOGIN_PATHS:
            await self._password_checked(scope, receive, send, ok_status=200, bad_status=400)
        elif self.auth_enabled and path in METRICS_PATHS and _has_header(scope, b"authorization"):
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

    # ---- passwords --------------------------------------------------------------------------------
    async def _password_checked(self, scope: Scope, receive: Receive, send: Send, *, ok_status: int,
                                bad_status: int) -> None:
        address = (scope.get("client") or ("?", 0))[0]
        wait = self.throttle.wait_s(address, self.clock())
        if wait > 0:
            seconds = int(wait) + 1
            log.warning("login attempt from %s refused: too many wrong passwords (locked %d s)", address, seconds)
            await _send(send, *_json_response(
                429, f"Too many wrong passwords. Wait {seconds} s before trying again.",
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


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(k.lower() == name for k, _ in scope.get("headers", []))


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
