"""The protocol every chat source satisfies (Twitch IRC today; another platform is one more file like it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

# What a source calls for each message: sink(author, text, kind, amount, platform, extra) -> the post answer,
# or None when the message was not usable. It never raises into the source. `extra` holds display details
# (badges, the raw user id); never tokens or other secrets.
Sink = Callable[..., dict[str, Any] | None]


@runtime_checkable
class ChatSource(Protocol):
    name: str

    def start(self, sink: Sink) -> None:
        """Connect in the background and hand every message to `sink`; returns at once."""

    def stop(self) -> None:
        """Disconnect and stop reconnecting."""

    def state(self) -> dict[str, Any]:
        """{"name", "state": "connecting" | "connected" | "reconnecting" | "stopped" | "error", "detail"}:
        shown in the tab; never contains a token."""
