"""Credentials on the studio's plain HTTP routes (Gradio's login does not cover routes added to its app).

API keys: the key comes from $ISHOWTTS_API_KEY, else `api.key` in config.toml. It is required whenever the
server listens beyond this machine or the page has a login: without a configured key the API then refuses every
request and says how to set one. Keys are compared in constant time and never logged or echoed.

Wrong credentials: `LoginThrottle` counts them per client address. One instance per process
(`LOGIN_THROTTLE`) is shared by every check of the server: the login form and /metrics (`ui/server_guard.py`),
the chat routes' basic auth (`api/chat.py`) and /v1 keys (`ApiAuth.check_from`), so a guess on any of them
counts against all, and a locked-out address is answered 429 everywhere, even with the right password.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ishowtts_studio.settings import API_KEY_ENV_VAR, Settings
from ishowtts_studio.startup import is_loopback

log = logging.getLogger(__name__)

FREE_FAILURES = 5  # wrong passwords per address before any waiting
LOCK_MAX_S = 300.0
FORGET_AFTER_S = 3600.0


class AuthError(Exception):
    """The request carries no valid key; the message says what to send (never the key itself). `guess`: a key
    was sent and it was wrong (what the throttle counts; a missing key or an API without one is no guess)."""

    def __init__(self, message: str, *, guess: bool = False) -> None:
        super().__init__(message)
        self.guess = guess


class Throttled(AuthError):
    """The address is locked out after too many wrong credentials; nothing was checked."""

    def __init__(self, seconds: int) -> None:
        super().__init__(throttled_message(seconds))
        self.seconds = seconds


def throttled_message(seconds: int) -> str:
    return f"Too many wrong passwords or keys from this address. Wait {seconds} s before trying again."


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Counts wrong passwords per address and says how long an address must wait (a pure object, clock given).

    A few are free, then each one locks the address out for a doubling time (up to `lock_max_s`)."""

    def __init__(self, free: int = FREE_FAILURES, lock_max_s: float = LOCK_MAX_S) -> None:
        self.free, self.lock_max_s = free, lock_max_s
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str, now: float) -> float:
        """Seconds `address` must still wait before it may try a password again (0 = it may)."""
        with self._lock:
            r = self._records.get(address)
            return max(0.0, r.locked_until - now) if r else 0.0

    def retry_after(self, address: str, now: float) -> int:
        """`wait_s` in whole seconds, rounded up, for a Retry-After header (0 = check the credential now)."""
        wait = self.wait_s(address, now)
        if wait <= 0:
            return 0
        seconds = int(wait) + 1
        log.warning("credentials from %s refused: too many wrong ones (locked %d s)", address, seconds)
        return seconds

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


LOGIN_THROTTLE = LoginThrottle()  # the server's one throttle: every credential check of this process counts here


@dataclass(frozen=True)
class ApiAuth:
    key: str | None = field(default=None, repr=False)
    required: bool = False  # the server is reachable from other machines, or the page has a login

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ApiAuth:
        env = os.environ if environ is None else environ
        key = (env.get(API_KEY_ENV_VAR) or "").strip() or settings.api.key.strip() or None
        server = settings.server
        # the same notion of "this machine only" as the start-up check and the Host check (startup.is_loopback)
        return cls(key=key, required=not is_loopback(server.host) or server.auth_enabled)

    @property
    def locked(self) -> bool:
        """A key is required but none is configured: nobody gets in."""
        return self.required and self.key is None

    def describe(self) -> str:
        """One log line about the API's protection (without the key)."""
        if self.locked:
            return (f"the /v1 API is locked: this server listens beyond localhost or has a login, so set "
                    f"{API_KEY_ENV_VAR} or api.key in config.toml")
        return "the /v1 API requires an API key" if self.key else "the /v1 API is open to this machine (no key)"

    def check(self, authorization: str | None) -> None:
        """Raise AuthError unless `authorization` is 'Bearer <the key>' (or no key is needed)."""
        if self.locked:
            raise AuthError(
                "This studio's API needs an API key because the server listens beyond this machine or has a "
                f"login, and none is set: set the {API_KEY_ENV_VAR} environment variable (or api.key in "
                "config.toml), restart the studio, and send 'Authorization: Bearer <key>'."
            )
        if self.key is None:
            return
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Missing API key: send it as 'Authorization: Bearer <key>' (the OpenAI client's api_key).")
        if not secrets.compare_digest(token.strip().encode("utf-8"), self.key.encode("utf-8")):
            raise AuthError("Incorrect API key: use the key set in the studio's api.key or ISHOWTTS_API_KEY.",
                            guess=True)

    def check_from(self, authorization: str | None, address: str, throttle: LoginThrottle = LOGIN_THROTTLE,
                   now: float | None = None) -> None:
        """`check` for a request from `address`, through the login throttle: raises Throttled while the address
        is locked out (the key is not looked at, so a lock-out is no oracle), and a wrong key counts as a wrong
        password. A right key does not clear the count: it is not the login's password, and clearing would let
        a holder of the key guess the login's password without end. An open API (no key) checks nothing."""
        if self.key is None and not self.required:
            return
        now = time.monotonic() if now is None else now
        seconds = throttle.retry_after(address, now)
        if seconds:
            raise Throttled(seconds)
        try:
            self.check(authorization)
        except AuthError as exc:
            if exc.guess:
                throttle.failed(address, now)
            raise
