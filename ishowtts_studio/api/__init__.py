"""Plain HTTP routes on the studio's own FastAPI app (the one Gradio serves), next to /metrics.

`mount_api(app, studio)` adds every router listed in `ROUTERS` (today the OpenAI-compatible `/v1` one); each
builder gets the studio and the API's key policy (`ApiAuth`), so another API-key router joins with one line here.
Gradio's login does not cover these routes: each router checks `ApiAuth` itself. The live chat's routes
(`/overlay`, `/chat/events`, `/chat/audio/...`) are not among them: they use the page's login instead of the API
key and are mounted on their own by `api.chat.mount_chat_routes`, called from app.py. No gradio here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ishowtts_studio.api.auth import ApiAuth
from ishowtts_studio.studio import Studio

log = logging.getLogger(__name__)


def _openai_router(studio: Studio, auth: ApiAuth) -> Any:
    from ishowtts_studio.api.adapter import SpeechAdapter
    from ishowtts_studio.api.openai import build_router

    return build_router(SpeechAdapter(studio), auth) if studio.settings.api.enabled else None


# (name, builder): a builder returns a FastAPI APIRouter, or None when its feature is switched off
ROUTERS: list[tuple[str, Callable[[Studio, ApiAuth], Any]]] = [
    ("openai", _openai_router),
]


def mount_api(app: Any, studio: Studio, auth: ApiAuth | None = None) -> ApiAuth:
    """Add the API routers to a FastAPI app (Gradio's, after `launch()`); returns the key policy in force."""
    auth = auth or ApiAuth.from_settings(studio.settings)
    mounted = []
    for name, build in ROUTERS:
        router = build(studio, auth)
        if router is not None:
            app.include_router(router)
            mounted.append(name)
    if mounted:
        log.info("HTTP API mounted (%s): %s", ", ".join(mounted), auth.describe())
    return auth
