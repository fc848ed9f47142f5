"""Live chat's named endpoints (/chat_post, /chat_status, /chat_control, /chat_history), the chat error
mapping shared with the tab, and the page-login check the plain /chat HTTP routes use."""

# No `from __future__ import annotations`: gr.api reads the real type hints for its API schema.
import math
from collections.abc import Callable
from typing import Any

import gradio as gr

from ishowtts_studio.services.chat.service import ChatInputError
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import to_gr_error

HISTORY_LIMIT = 100
API_HISTORY_MAX = 1000
NEED_ID = ("approve", "reject", "replay")

# ------------------------------------------------------------------------------------------ errors


def _chat_error(exc: BaseException) -> gr.Error:
    if isinstance(exc, ChatInputError):
        return gr.Error(str(exc), print_exception=False)
    return to_gr_error(exc)


def chat_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Like `user_errors`, and the chat service's own input errors reach the user with their message."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _chat_error(exc) from exc

    return wrapper


def whole_number(value: Any, what: str, lo: int, hi: int) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number from {lo} to {hi}, not {value!r}.") from None
    if not math.isfinite(f) or not f.is_integer() or not lo <= f <= hi:
        raise InputError(f"{what} must be a whole number from {lo} to {hi}, not {value!r}.")
    return int(f)


# -------------------------------------------------------------------------------------------- the API


def register_chat_api(studio: Studio) -> None:
    """/chat_post, /chat_status, /chat_control, /chat_history (call inside `with gr.Blocks()`).

    None of them touches the GPU (synthesis runs on the chat service's own loop), so they are not queued."""
    chat = studio.chat

    def chat_post(author: str, text: str, kind: str = "chat", amount: float = 0.0,
                  platform: str = "api") -> dict[str, Any]:
        """Offer one chat message. kind: chat, gift, superchat, member or mention; amount: what a paid message
        paid (0 for chat). Returns {id, state (queued, held or dropped), reason (why dropped), spoken_text}."""
        try:  # the service checks every field and says what to fix
            return chat.post(author, text, kind=kind or "chat", amount=amount, platform=platform or "api")
        except Exception as exc:
            raise _chat_error(exc) from exc

    def chat_status() -> dict[str, Any]:
        """Paused/hold/volume/default voice/NFE, the message being read, the queue (with waiting_s), figures
        (per_minute, depth, first_audio_p50_s/p95_s, drops by reason, backlog_warning) and sources."""
        try:
            return chat.status()
        except Exception as exc:
            raise _chat_error(exc) from exc

    def chat_control(action: str, message_id: float | None = None) -> dict[str, Any]:
        """action: pause, resume, skip, clear, approve, reject, replay, hold_on or hold_off; approve, reject and
        replay need message_id (from /chat_status or /chat_history)."""
        try:
            name = str(action or "").strip().lower()  # the service refuses an unknown one
            mid = None
            if name in NEED_ID:
                if message_id is None:
                    raise InputError(f"{name} needs message_id (the message's id from /chat_status or "
                                     "/chat_history).")
                mid = whole_number(message_id, "message_id", 1, 2**62)
            return chat.control(name, mid)
        except Exception as exc:
            raise _chat_error(exc) from exc

    def chat_history(limit: float | None = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The newest `limit` messages (1-1000, default 100), newest first, with state, reason and timings."""
        try:
            count = HISTORY_LIMIT if limit is None else whole_number(limit, "limit", 1, API_HISTORY_MAX)
            return chat.history(count)
        except Exception as exc:
            raise _chat_error(exc) from exc

    for fn, name in ((chat_post, "chat_post"), (chat_status, "chat_status"), (chat_control, "chat_control"),
                     (chat_history, "chat_history")):
        gr.api(fn, api_name=name, queue=False, api_description=fn.__doc__)


# ------------------------------------------------------------------------------------ login for routes


def gradio_session_user(app: Any) -> Callable[[Any], str | None]:
    """The page-login check for plain routes on Gradio's app: the user whose login cookie the request carries.

    Gradio keeps logins as random tokens in `app.tokens`, set as cookies named after `app.cookie_id`; the
    /chat routes accept the same session so the tab's player works without a second login."""
    def user(request: Any) -> str | None:
        cookie_id = getattr(app, "cookie_id", None)
        tokens = getattr(app, "tokens", None)
        if not cookie_id or not isinstance(tokens, dict):
            return None
        token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
            f"access-token-unsecure-{cookie_id}")
        return tokens.get(token) if token else None

    return user
