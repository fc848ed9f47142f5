"""Live chat tab's text: figure tiles, sources line, queue/history/voice table rows, post summary (no gradio)."""

import html
import math
from datetime import UTC, datetime
from typing import Any

from ishowtts_studio.ui.common import excerpt, short_time


def fmt_s(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return "—"
    return f"{v * 1e3:.0f} ms" if v < 1.0 else f"{v:.1f} s"


def _tile(label: str, value: str, sub: str = "") -> str:
    return (f'<div class="chat-tile"><div class="lbl">{html.escape(label)}</div>'
            f'<div class="val">{html.escape(value)}</div><div class="sub">{html.escape(sub)}</div></div>')


def figures_html(status: dict[str, Any], *, sources: bool = True) -> str:
    """Tiles of the chat figures (rate, depth, arrival -> first audio, drops), the backlog warning, sources."""
    f = status.get("figures") or {}
    drops = {k: int(v) for k, v in (f.get("drops") or {}).items() if v}
    drop_sub = " · ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"
    state = "paused" if status.get("paused") else ("hold mode" if status.get("hold") else "running")
    tiles = [
        _tile("Messages / min", f"{float(f.get('per_minute') or 0):.1f}", state),
        _tile("Queue depth", str(int(f.get("depth") or 0)), "waiting to be read"),
        _tile("Arrival → first audio", f"{fmt_s(f.get('first_audio_p50_s'))}",
              f"p50 · p95 {fmt_s(f.get('first_audio_p95_s'))}"),
        _tile("Dropped", str(sum(drops.values())), drop_sub),
    ]
    out = '<div class="chat-tiles">' + "".join(tiles) + "</div>"
    if f.get("backlog_warning"):
        out += f'<div class="chat-warning">⚠️ {html.escape(str(f["backlog_warning"]))}</div>'
    if status.get("voice_warning"):
        out += f'<div class="chat-warning">⚠️ {html.escape(str(status["voice_warning"]))}</div>'
    if sources:
        out += '<div class="chat-sources">' + sources_text(status) + "</div>"
    return out


def sources_text(status: dict[str, Any]) -> str:
    icons = {"connected": "🟢", "connecting": "🟡", "reconnecting": "🟡", "disconnected": "🔴", "error": "🔴",
             "stopped": "⚪"}
    items = []
    for s in status.get("sources") or []:
        state = str(s.get("state") or "?")
        detail = f" — {s['detail']}" if s.get("detail") else ""
        items.append(f"{icons.get(state, '⚪')} <b>{html.escape(str(s.get('name')))}</b>: "
                     f"{html.escape(state)}{html.escape(detail)}")
    return "Sources: " + (" · ".join(items) if items else "tab and API only (no Twitch channel configured)")


def queue_rows(status: dict[str, Any]) -> list[list[Any]]:
    rows = []
    current = status.get("current")
    if current:
        rows.append([current.get("id"), current.get("author"), excerpt(current.get("spoken_text"), 90),
                     current.get("kind"), current.get("state"), "now"])
    for m in status.get("queue") or []:
        rows.append([m.get("id"), m.get("author"), excerpt(m.get("spoken_text") or m.get("text"), 90),
                     m.get("kind"), m.get("state"), fmt_s(m.get("waiting_s"))])
    return rows


def _first_audio(m: dict[str, Any]) -> str:
    if m.get("first_audio_at") and m.get("arrived_at"):
        return fmt_s(float(m["first_audio_at"]) - float(m["arrived_at"]))
    return ""


def _iso(epoch: Any) -> str | None:
    try:
        return datetime.fromtimestamp(float(epoch), tz=UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def history_rows(history: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for m in history:
        why = m.get("reason") or (excerpt(m.get("detail"), 40) if m.get("state") == "failed" else "")
        rows.append([m.get("id"), short_time(_iso(m.get("arrived_at"))), m.get("author"),
                     excerpt(m.get("spoken_text") or m.get("text"), 90), m.get("kind"), m.get("state"), why or "",
                     _first_audio(m)])
    return rows


def voice_rows(voices: dict[str, str]) -> list[list[str]]:
    return [[a, v] for a, v in sorted(voices.items())]


def post_summary(results: list[dict[str, Any]]) -> str:
    if not results:
        return "Nothing to post: write one message per line (optionally `name: message`)."
    kept = [r for r in results if r.get("state") not in ("dropped", "failed")]
    parts = [f"Posted **{len(kept)}** of {len(results)} message(s)."]
    dropped = [r for r in results if r.get("state") == "dropped"]
    if dropped:
        reasons: dict[str, int] = {}
        for r in dropped:
            reasons[str(r.get("reason"))] = reasons.get(str(r.get("reason")), 0) + 1
        parts.append("Dropped: " + ", ".join(f"{n} {html.escape(k)}" for k, n in sorted(reasons.items())) + ".")
    if any(r.get("state") == "held" for r in results):
        parts.append("Hold mode is on: approve them in the queue.")
    return " ".join(parts)
