"""The sources the [chat] settings ask for (a new platform adds its one line here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ishowtts_studio.services.chat.sources.base import ChatSource


def sources_from_settings(chat: Any, environ: Mapping[str, str] | None = None) -> list[ChatSource]:
    out: list[ChatSource] = []
    if chat.twitch_channel.strip():
        from ishowtts_studio.services.chat.sources.twitch import TwitchSource

        out.append(TwitchSource.from_settings(chat, os.environ if environ is None else environ))
    return out
