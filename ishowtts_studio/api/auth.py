"""API keys for the studio's plain HTTP routes (Gradio's login does not cover routes added to its app).

The key comes from $ISHOWTTS_API_KEY, else `api.key` in config.toml. It is required whenever the server
listens beyond this machine or the page has a login: without a configured key the API then refuses every
request and says how to set one. Keys are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from ishowtts_studio.settings import API_KEY_ENV_VAR, Settings

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class AuthError(Exception):
    """The request carries no valid key; the message says what to send (never the key itself)."""


@dataclass(frozen=True)
class ApiAuth:
    key: str | None = field(default=None, repr=False)
    required: bool = False  # the server is reachable from other machines, or the page has a login

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ApiAuth:
        env = os.environ if environ is None else environ
        key = (env.get(API_KEY_ENV_VAR) or "").strip() or settings.api.key.strip() or None
        server = settings.server
        return cls(key=key, required=server.host not in LOCAL_HOSTS or server.auth_enabled)

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
            raise AuthError("Incorrect API key: use the key set in the studio's api.key or ISHOWTTS_API_KEY.")
