"""Small helpers shared by the tabs: error mapping, formatting, WAV bytes for streaming."""

from __future__ import annotations

import functools
import html
import io
import logging
import os
import re
import wave
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import gradio as gr
import numpy as np

from ishowtts_studio.services.errors import USER_ERRORS
from ishowtts_studio.studio import Studio
from ishowtts_studio.validation import redact_paths

log = logging.getLogger(__name__)

GPU = "gpu"  # concurrency id shared by every event that uses the engine
ENGINE_CHOICES = [("F5-TTS", "f5"), ("IndexTTS", "indextts")]  # (label, engine name) for engine pickers
GENERIC_ERROR = "Something went wrong on the server. The details are in the studio log."

F = TypeVar("F", bound=Callable[..., Any])


def to_gr_error(exc: BaseException) -> gr.Error:
    """The gr.Error the user should see for `exc`: its own message when it is meant for users."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, USER_ERRORS):
        return gr.Error(public_message(str(exc)), print_exception=False)
    log.error("unexpected error in a UI handler", exc_info=exc)
    return gr.Error(GENERIC_ERROR, print_exception=False)


def hand_out(studio: Studio, path: str | os.PathLike[str] | None, name: str | None = None) -> str | None:
    """The served path of a file a handler gives the page (see served_files.py): Gradio serves nothing else."""
    if path is None:
        return None
    return str(studio.served.hand_out(path, name))
# long enough for the studio's own longest message (every missing weight file with its download line), far
# too short to echo a pasted input back
MAX_MESSAGE_CHARS = 2000


def public_message(text: str) -> str:
    """A message fit for a user's screen: no absolute server paths, and never a whole echoed input (the
    middle of an over-long message goes; its start says what is wrong, its end what to do)."""
    text = redact_paths(text)
    if len(text) > MAX_MESSAGE_CHARS:
        half = MAX_MESSAGE_CHARS // 2 - 2
        text = f"{text[:half]} … {text[-half:]}"
    return text


def user_errors(fn: F) -> F:
    """Decorator for plain (non-generator) handlers: map exceptions with `to_gr_error`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise to_gr_error(exc) from exc

    return wrapper  # type: ignore[return-value]


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono WAV bytes of float audio, without any normalisation (Gradio would peak-normalise arrays)."""
    pcm = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1)), -1.0, 1.0)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes((pcm * 32767.0).round().astype("<i2").tobytes())
    return buf.getvalue()


def _num(stats: dict[str, Any], key: str) -> float:
    try:
        return float(stats.get(key) or 0.0)
    except (TypeError, ValueError):
        return 0.0


def format_stats(stats: dict[str, Any]) -> str:
    """One line of Markdown: audio length, latency, time to first audio, RTF, NFE, seed, device."""
    device = stats.get("device") or "?"
    if stats.get("precision"):
        device = f"{device} ({stats['precision']})"
    parts = [
        f"**{_num(stats, 'audio_s'):.2f} s** of audio",
        f"latency **{_num(stats, 'latency_s'):.2f} s**",
        f"first audio **{_num(stats, 'ttfa_s'):.2f} s**",
        f"RTF **{_num(stats, 'rtf'):.3f}**",
        "**IndexTTS**" if stats.get("engine") == "indextts" else f"NFE **{stats.get('nfe', '?')}**",
        f"seed **{stats.get('seed', '?')}**",
        html.escape(str(device)),
    ]
    line = " · ".join(parts)
    if stats.get("smoke"):
        line += " · `smoke: random weights`"
    return line


def status_markdown(health: dict[str, Any]) -> str:
    """The status banner for `Studio.health()`."""
    status = health.get("status")
    message = html.escape(redact_paths(str(health.get("message") or "")))
    if status == "ready":
        device = health.get("device") or "?"
        precision = health.get("precision")
        where = f"{device}, {precision}" if precision else device
        depth = int(health.get("queue_depth") or 0)
        queue = f" · {depth} waiting" if depth else ""
        return f"● **Engine ready** — {html.escape(str(health.get('engine') or '?'))} on {html.escape(where)}{queue}"
    if status == "loading":
        pct = round(100 * float(health.get("progress") or 0.0))
        return f"◌ **Loading the engine… {pct}%** — {message}"
    return f"✕ **Engine unavailable** — {message}"


def banner_classes(health: dict[str, Any]) -> list[str]:
    return ["status-banner", f"status-{health.get('status') or 'unknown'}"]


def short_time(iso: str | None, now: datetime | None = None) -> str:
    """An ISO timestamp in local time: 'HH:MM:SS' today, 'YYYY-MM-DD HH:MM' before (as given if unparsable)."""
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    today = (now or datetime.now().astimezone()).date()
    return when.strftime("%H:%M:%S") if when.date() == today else when.strftime("%Y-%m-%d %H:%M")


def excerpt(text: str | None, limit: int = 60) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def voice_options(studio: Any) -> list[tuple[str, str]]:
    """(name, slug) pairs for a voice picker. The value is the slug: it survives a rename, so a picker keeps
    pointing at the same voice after its display name changes in another tab."""
    return [(v["name"], v["slug"]) for v in studio.voices.list_voices()]


def voice_picker(studio: Any, current: str | None) -> gr.Dropdown:
    """A voice dropdown update that keeps `current` (a slug, or a name from an older page) when it still exists,
    else picks the first voice."""
    options = voice_options(studio)
    return gr.Dropdown(choices=options, value=picked_voice(options, current))


def picked_voice(options: list[tuple[str, str]], current: str | None) -> str | None:
    """The slug a picker should hold: `current` when it is still a voice (by slug, or by name), else the first."""
    slugs = [slug for _, slug in options]
    value = current if current in slugs else None
    if value is None and current:
        by_name = {name.casefold(): slug for name, slug in options}
        value = by_name.get(str(current).casefold())
    if value is None:
        value = slugs[0] if slugs else None
    return value


def md_escape(text: Any) -> str:
    """Text shown by Markdown as typed: every ASCII punctuation mark backslash-escaped (CommonMark allows that for
    all of them), so a name or text cannot start a link, an image (a shared voice pack's name loading a remote
    image), emphasis or an HTML tag."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(str(text).split()))
