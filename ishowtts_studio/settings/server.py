"""[server] and [api] sections: where the web server listens, its login, and the OpenAI-compatible API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ishowtts_studio.settings.checks import non_empty
from ishowtts_studio.settings.fields import Section, opt

API_KEY_ENV_VAR = "ISHOWTTS_API_KEY"


@dataclass(frozen=True)
class ServerSettings(Section):
    toml_section: ClassVar[str] = "server"

    host: str = opt(
        "127.0.0.1",
        "Interface the web server binds to. 127.0.0.1 is this machine only; "
        "use 0.0.0.0 to listen on the network, and only with auth_user and auth_password set.",
        check=non_empty,
    )
    port: int = opt(7860, "TCP port of the web server.", lo=1, hi=65535)
    auth_user: str = opt("", "Login name. Login is required only when both auth_user and auth_password are set.")
    auth_password: str = opt(
        "", "Login password. Login is required only when both auth_user and auth_password are set.", secret=True
    )
    allow_no_login: bool = opt(
        False,
        "Start even when host listens beyond this machine and login is off (anyone on the network can then use "
        "the studio). Without it such a start is refused; --allow-no-login sets it for one run.",
    )
    max_upload_mb: int = opt(50, "Largest accepted upload, in megabytes.", lo=1, hi=10000)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_user and self.auth_password)

    @property
    def auth(self) -> tuple[str, str] | None:
        """(user, password) for the web server, or None when login is off."""
        return (self.auth_user, self.auth_password) if self.auth_enabled else None


@dataclass(frozen=True)
class ApiSettings(Section):
    """The OpenAI-compatible speech API (/v1/audio/speech, /v1/models, /v1/audio/voices) on the studio's server."""

    toml_section: ClassVar[str] = "api"

    enabled: bool = opt(True, "Serve the OpenAI-compatible speech API (/v1/...) on the studio's own server.")
    key: str = opt(
        "", "API key clients send as 'Authorization: Bearer KEY' (the ISHOWTTS_API_KEY environment variable wins "
        "over it). Empty = no key, allowed only while the server listens on 127.0.0.1 without a login; otherwise "
        "the API refuses every request until a key is set.",
    )

    def __repr__(self) -> str:  # the key never reaches a log line or a traceback
        return f"ApiSettings(enabled={self.enabled}, key={'***' if self.key else ''!r})"
