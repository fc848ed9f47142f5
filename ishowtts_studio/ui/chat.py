"""Live chat tab: post and moderate chat, the gapless player, voices per viewer, live queue and figures.

The chat service (`studio.chat`) does the work; this module only draws it. The tab's player is the shared
Web Audio player (`api/static/chat_player.js`) following /chat/events, the same stream the OBS overlay plays.
Tables and figures are refreshed by a `gr.Timer` that is not queued, so they never wait behind GPU work.

Also here: the named endpoints /chat_post, /chat_status, /chat_control, /chat_history (`register_chat_api`),
the chat panel of the Performance tab (`build_chat_figures_panel`) and the page-login check the plain HTTP
routes use (`gradio_session_user`).
"""

# No `from __future__ import annotations`: gr.api reads the real type hints for its API schema.
import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gradio as gr

from ishowtts_studio.api.chat import player_js
from ishowtts_studio.services.chat.service import ChatInputError
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import NFE_MAX, NFE_MIN
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import excerpt, short_time, to_gr_error

REFRESH_S = 1.0
HISTORY_LIMIT = 100
API_HISTORY_MAX = 1000
NEED_ID = ("approve", "reject", "replay")
QUEUE_HEADERS = ["#", "Author", "Will say", "Kind", "State", "Waiting"]
HISTORY_HEADERS = ["#", "Time", "Author", "Said", "Kind", "State", "Why", "First audio"]
VOICE_HEADERS = ["Viewer", "Voice"]

CHAT_CSS = """
#chat-player { padding: 0.6rem 0.9rem; border-radius: 10px; border: 1px solid var(--border-color-primary);
  background: var(--block-background-fill); }
#chat-player .cp-row { display: flex; align-items: center; gap: 0.6rem; flex-wrap: wrap; }
#chat-player .cp-dot { width: 0.7rem; height: 0.7rem; border-radius: 50%; background: #94a3b8; flex: none; }
#chat-player[data-connection=live] .cp-dot { background: #22c55e; }
#chat-player[data-connection=reconnecting] .cp-dot { background: #f59e0b; }
#chat-player .cp-now { flex: 1 1 240px; min-width: 0; overflow-wrap: anywhere; }
#chat-player .cp-author { font-weight: 600; margin-right: 0.4rem; }
#chat-player .cp-state { font-size: 0.8rem; opacity: 0.75; }
#chat-player button { padding: 0.25rem 0.7rem; border-radius: 8px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); cursor: pointer; }
#chat-player .cp-unlock { background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
#chat-controls button { min-width: 5.5rem; }
.chat-tiles { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.chat-tile { flex: 1 1 130px; min-width: 120px; padding: 0.45rem 0.7rem; border-radius: 10px;
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill); }
.chat-tile .lbl { font-size: 0.76rem; opacity: 0.75; }
.chat-tile .val { font-size: 1.2rem; font-weight: 600; line-height: 1.5; }
.chat-tile .sub { font-size: 0.72rem; opacity: 0.7; }
.chat-warning { margin-top: 0.4rem; padding: 0.3rem 0.7rem; border-radius: 8px; background: rgba(239, 68, 68, 0.1);
  border: 1px solid rgba(239, 68, 68, 0.5); }
.chat-sources { margin-top: 0.4rem; font-size: 0.85rem; }
@media (max-width: 640px) {
  #chat-controls button { min-width: 0; flex: 1 1 30%; }
  .chat-tile { flex: 1 1 45%; min-width: 0; }
}
"""

PLAYER_HTML = """
<div id="chat-player" data-connection="connecting">
  <div class="cp-row">
    <span class="cp-dot" title="connection to the studio"></span>
    <div class="cp-now"><span class="cp-author"></span><span class="cp-text">Nothing is being read.</span></div>
    <span class="cp-state"></span>
    <label class="cp-here-label"><input type="checkbox" class="cp-here" checked> Play in this tab</label>
    <button type="button" class="cp-unlock" hidden>Enable sound</button>
  </div>
</div>
"""

# js_on_load: `element` is the gr.HTML's element. The player follows the server; the checkbox only decides
# whether this tab is audible (the overlay in OBS may be the one the stream hears); it is remembered.
PLAYER_INIT_JS = """
const root = element.querySelector('#chat-player');
const here = root.querySelector('.cp-here');
const unlockBtn = root.querySelector('.cp-unlock');
here.checked = localStorage.getItem('ishowtts-chat-play-here') !== 'off';
const player = window.IShowChatPlayer.create(root, {
  audible: here.checked,
  onRender: (s) => {
    root.querySelector('.cp-author').textContent = s.now ? (s.now.author || '') : '';
    root.querySelector('.cp-text').textContent = s.now ? (s.now.message || s.now.text || '')
      : (s.paused ? 'Paused.' : 'Nothing is being read.');
    root.querySelector('.cp-state').textContent = s.connection === 'live' ? '' : 'studio ' + s.connection + '…';
    unlockBtn.hidden = !(s.audible && s.audioState !== 'running');
  },
});
here.addEventListener('change', () => {
  localStorage.setItem('ishowtts-chat-play-here', here.checked ? 'on' : 'off');
  player.setAudible(here.checked);
});
unlockBtn.addEventListener('click', () => player.unlock());
window.__chatPlayer = player;
"""


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


def _whole(value: Any, what: str, lo: int, hi: int) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number from {lo} to {hi}, not {value!r}.") from None
    if not math.isfinite(f) or not f.is_integer() or not lo <= f <= hi:
        raise InputError(f"{what} must be a whole number from {lo} to {hi}, not {value!r}.")
    return int(f)


# ------------------------------------------------------------------------------------------ formatting


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


# ------------------------------------------------------------------------------------------------ tab


@dataclass
class ChatTab:
    timer: gr.Timer
    queue: gr.Dataframe
    history: gr.Dataframe
    default_voice: gr.Dropdown
    voices_table: gr.Dataframe


def build_chat_tab(studio: Studio, *, refresh_s: float = REFRESH_S) -> ChatTab:
    """Build the tab's content; call inside `with gr.Tab("Live chat")` within the page's Blocks."""
    chat = studio.chat
    quick: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    gr.HTML(PLAYER_HTML, js_on_load=player_js() + "\n" + PLAYER_INIT_JS, elem_id="chat-player-box",
            padding=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            lines = gr.Textbox(
                label="Messages (one per line; optionally  name: message)", lines=4, max_lines=12,
                placeholder="alice: hello everyone\nbob: 666666\nwhat a play!", elem_id="chat-lines",
            )
            with gr.Row():
                post_btn = gr.Button("Post", variant="primary", elem_id="chat-post", scale=1, min_width=100)
                post_note = gr.Markdown("", elem_id="chat-post-note")
        with gr.Column(scale=2, min_width=300):
            with gr.Row(elem_id="chat-controls"):
                pause_btn = gr.Button("Pause", elem_id="chat-pause", size="sm", min_width=80)
                resume_btn = gr.Button("Resume", elem_id="chat-resume", size="sm", min_width=80)
                skip_btn = gr.Button("Skip", elem_id="chat-skip", size="sm", min_width=80)
                clear_btn = gr.Button("Clear queue", elem_id="chat-clear", size="sm", variant="stop", min_width=80)
            with gr.Row():
                hold = gr.Checkbox(label="Hold mode (approve each message)", elem_id="chat-hold")
                volume = gr.Slider(0, 100, value=100, step=1, label="Volume (%)", elem_id="chat-volume")
    figures = gr.HTML("", elem_id="chat-figures")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            queue = gr.Dataframe(headers=QUEUE_HEADERS, value=[], interactive=False, wrap=True, max_height=320,
                                 label="Queue (select a row to approve or reject it)", elem_id="chat-queue")
        with gr.Column(scale=1, min_width=240):
            selected = gr.Textbox(label="Selected message #", placeholder="select a row, or type an id",
                                  elem_id="chat-selected", max_lines=1)
            with gr.Row():
                approve_btn = gr.Button("✓ Approve", elem_id="chat-approve", size="sm", min_width=80)
                reject_btn = gr.Button("✕ Reject", elem_id="chat-reject", size="sm", min_width=80)
                replay_btn = gr.Button("↻ Replay", elem_id="chat-replay", size="sm", min_width=80)
            control_note = gr.Markdown("", elem_id="chat-control-note")
    history = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, wrap=True, max_height=420,
                           label=f"Last {HISTORY_LIMIT} messages (select one to replay it)", elem_id="chat-history")
    with gr.Accordion("Voices and synthesis", open=False, elem_id="chat-voices-box"):
        with gr.Row():
            default_voice = gr.Dropdown(studio.voices.voice_names(), label="Default voice (viewers without their own)",
                                        elem_id="chat-default-voice", scale=2, min_width=220)
            own_nfe = gr.Checkbox(label="Own NFE for chat", elem_id="chat-own-nfe", scale=1, min_width=140)
            nfe = gr.Slider(NFE_MIN, NFE_MAX, value=studio.default_nfe(), step=1, label="Chat NFE",
                            elem_id="chat-nfe", scale=2, min_width=220, interactive=False)
        voices_table = gr.Dataframe(
            headers=VOICE_HEADERS, datatype=["str", "str"], value=[], interactive=True, column_count=(2, "fixed"),
            row_count=(1, "dynamic"), label="Viewer voices (edit, add rows; an empty voice removes the viewer)",
            elem_id="chat-viewer-voices",
        )
        with gr.Row():
            save_voices = gr.Button("Save viewer voices", elem_id="chat-save-voices", min_width=160)
            voices_note = gr.Markdown("", elem_id="chat-voices-note")
        gr.Markdown(f"Voices: {', '.join(html.escape(n) for n in studio.voices.voice_names()) or '(none yet)'} — "
                    "add more on the Voices tab.", elem_id="chat-voice-list")

    seen = gr.State("")  # signature of what this page last drew

    # ---- refresh ------------------------------------------------------------------------------------
    def snapshot() -> tuple[dict[str, Any], list[list[Any]], list[list[Any]]]:
        status = chat.status()
        return status, queue_rows(status), history_rows(chat.history(HISTORY_LIMIT))

    def refresh(last: str) -> tuple[Any, ...]:
        status, q, h = snapshot()
        sig = json.dumps([q, h, status.get("figures"), status.get("sources"), status.get("paused"),
                          status.get("hold")], default=str)
        if sig == last:
            return (gr.skip(),) * 5
        return figures_html(status), q, h, gr.Checkbox(value=bool(status.get("hold"))), sig

    refresh_outputs = [figures, queue, history, hold, seen]
    timer = gr.Timer(refresh_s)
    timer.tick(chat_errors(refresh), inputs=seen, outputs=refresh_outputs, api_name="chat_tick", **quick)

    def first_paint() -> tuple[Any, ...]:
        status, q, h = snapshot()
        voices = studio.voices.voice_names()
        current_voice = status.get("default_voice") or (voices[0] if voices else None)
        nfe_value = status.get("nfe")
        return (figures_html(status), q, h, gr.Checkbox(value=bool(status.get("hold"))), "",
                gr.Dropdown(choices=voices, value=current_voice if current_voice in voices else None),
                gr.Checkbox(value=nfe_value is not None),
                gr.Slider(value=nfe_value or studio.default_nfe(), interactive=nfe_value is not None),
                voice_rows(chat.viewer_voices()) or [["", ""]],
                gr.Slider(value=round(100 * float(status.get("volume", 1.0)))))

    gr.on(triggers=None, fn=chat_errors(first_paint), outputs=[*refresh_outputs, default_voice, own_nfe, nfe,
                                                               voices_table, volume], **quick)

    # ---- messages in --------------------------------------------------------------------------------
    def post(block: str) -> tuple[Any, ...]:
        if not (block or "").strip():
            raise InputError("Write at least one message (one per line; optionally `name: message`).")
        results = chat.post_lines(block, platform="tab")
        return "", post_summary(results)

    post_btn.click(chat_errors(post), inputs=lines, outputs=[lines, post_note], api_name="chat_tab_post", **quick)

    # ---- controls -----------------------------------------------------------------------------------
    def act(action: str) -> Callable[..., str]:
        def run(message_id: str | None = None) -> str:
            mid = None
            if action in NEED_ID:
                if message_id is None or not str(message_id).strip().lstrip("#"):
                    raise InputError(f"Select a message in a table first, then {action} it.")
                mid = _whole(str(message_id).strip().lstrip("#"), "Message #", 1, 2**62)
            chat.control(action, mid)
            return {"pause": "Paused.", "resume": "Reading again.", "skip": "Skipped the current message.",
                    "clear": "Queue cleared.", "approve": f"Approved #{mid}.", "reject": f"Rejected #{mid}.",
                    "replay": f"#{mid} will be read again."}[action]
        return chat_errors(run)

    for btn, action in ((pause_btn, "pause"), (resume_btn, "resume"), (skip_btn, "skip"), (clear_btn, "clear")):
        btn.click(act(action), outputs=control_note, api_name=f"chat_tab_{action}", **quick)
    for btn, action in ((approve_btn, "approve"), (reject_btn, "reject"), (replay_btn, "replay")):
        btn.click(act(action), inputs=selected, outputs=control_note, api_name=f"chat_tab_{action}", **quick)

    def pick(evt: gr.SelectData) -> Any:
        row = evt.row_value or []
        return str(row[0]) if row and row[0] not in (None, "") else gr.skip()

    queue.select(pick, outputs=selected, api_name="chat_pick_queue", **quick)
    history.select(pick, outputs=selected, api_name="chat_pick_history", **quick)

    def set_hold(on: bool) -> str:
        chat.control("hold_on" if on else "hold_off")
        return "Hold mode on: new messages wait for approval." if on else "Hold mode off."

    hold.input(chat_errors(set_hold), inputs=hold, outputs=control_note, api_name="chat_tab_hold", **quick)
    volume.release(chat_errors(lambda v: chat.set_volume(float(v) / 100.0)), inputs=volume,
                   api_name="chat_tab_volume", **quick)

    # ---- voices -------------------------------------------------------------------------------------
    def set_default(voice: str | None) -> str:
        if not voice:
            raise InputError("Pick a voice.")
        chat.set_default_voice(voice)
        return f"Default chat voice: **{html.escape(voice)}**."

    default_voice.input(chat_errors(set_default), inputs=default_voice, outputs=voices_note,
                        api_name="chat_tab_default_voice", **quick)

    def set_nfe(own: bool, value: float) -> tuple[Any, str]:
        if own:
            n = _whole(value, "Chat NFE", NFE_MIN, NFE_MAX)
            chat.set_nfe(n)
            return gr.Slider(interactive=True), f"Chat lines use NFE **{n}**."
        chat.set_nfe(None)
        return (gr.Slider(value=studio.default_nfe(), interactive=False),
                f"Chat lines use the studio's default NFE ({studio.default_nfe()}).")

    own_nfe.input(chat_errors(set_nfe), inputs=[own_nfe, nfe], outputs=[nfe, voices_note],
                  api_name="chat_tab_own_nfe", **quick)
    nfe.release(chat_errors(set_nfe), inputs=[own_nfe, nfe], outputs=[nfe, voices_note], api_name="chat_tab_nfe",
                **quick)

    def save_viewer_voices(table: Any) -> tuple[Any, str]:
        rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
        wanted: dict[str, str] = {}
        known = set(studio.voices.voice_names())
        for row in rows:
            author = str(row[0] if len(row) > 0 and row[0] is not None else "").strip()
            voice = str(row[1] if len(row) > 1 and row[1] is not None else "").strip()
            if not author:
                if voice:
                    raise InputError(f"A row has the voice {voice!r} but no viewer name.")
                continue
            if voice and voice not in known:
                raise InputError(f"There is no voice named {voice!r}. Voices: {', '.join(sorted(known))}.")
            wanted[author.lower()] = voice
        current = chat.viewer_voices()
        for author in current:
            if author not in wanted:
                chat.set_viewer_voice(author, None)
        for author, voice in wanted.items():
            if current.get(author) != voice:
                chat.set_viewer_voice(author, voice or None)
        now = chat.viewer_voices()
        return voice_rows(now) or [["", ""]], f"Saved: {len(now)} viewer voice(s)."

    save_voices.click(chat_errors(save_viewer_voices), inputs=voices_table, outputs=[voices_table, voices_note],
                      api_name="chat_tab_save_voices", **quick)

    return ChatTab(timer=timer, queue=queue, history=history, default_voice=default_voice, voices_table=voices_table)


# ---------------------------------------------------------------------------------------- Performance


def build_chat_figures_panel(studio: Studio, *, refresh_s: float = 2.0) -> gr.HTML:
    """The chat figures on the Performance tab (a small panel; call inside that tab)."""
    with gr.Accordion("Live chat", open=True, elem_id="perf-chat"):
        panel = gr.HTML(figures_html(studio.chat.status()), elem_id="perf-chat-figures")
    timer = gr.Timer(refresh_s)
    timer.tick(chat_errors(lambda: figures_html(studio.chat.status())), outputs=panel, queue=False,
               show_progress="hidden", api_name="perf_chat_tick", api_visibility="private")
    return panel


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
                mid = _whole(message_id, "message_id", 1, 2**62)
            return chat.control(name, mid)
        except Exception as exc:
            raise _chat_error(exc) from exc

    def chat_history(limit: float | None = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The newest `limit` messages (1-1000, default 100), newest first, with state, reason and timings."""
        try:
            count = HISTORY_LIMIT if limit is None else _whole(limit, "limit", 1, API_HISTORY_MAX)
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
