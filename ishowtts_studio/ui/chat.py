"""Live chat tab: post and moderate chat, the gapless player, voices per viewer, live queue and figures.

The chat service (`studio.chat`) does the work; this module only draws it. The tab's player is the shared
Web Audio player (`api/static/chat_player.js`) following /chat/events, the same stream the OBS overlay plays.
Tables and figures are refreshed by a `gr.Timer` that is not queued, so they never wait behind GPU work.

Also here: the chat panel of the Performance tab (`build_chat_figures_panel`). The named endpoints and the
page-login check of the plain routes are in `chat_api.py`; the tables' and tiles' text in `chat_format.py`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ishowtts_studio.api.chat import player_js
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import NFE_MAX, NFE_MIN
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.chat_api import (
    HISTORY_LIMIT,
    NEED_ID,
    chat_errors,
    gradio_session_user,
    register_chat_api,
    whole_number,
)
from ishowtts_studio.ui.chat_format import (
    figures_html,
    history_rows,
    post_summary,
    queue_rows,
    sources_text,
    voice_rows,
)
from ishowtts_studio.ui.common import md_escape

__all__ = ["CHAT_CSS", "build_chat_figures_panel", "build_chat_tab", "figures_html", "gradio_session_user",
           "history_rows", "post_summary", "queue_rows", "register_chat_api", "sources_text"]

REFRESH_S = 1.0
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
            # custom values allowed: the choices are those of page build, and a voice added since is checked by the
            # chat service (`set_default_voice` refuses a name that is not in the library) instead of by Gradio
            default_voice = gr.Dropdown(studio.voices.voice_names(), label="Default voice (viewers without their own)",
                                        elem_id="chat-default-voice", scale=2, min_width=220, allow_custom_value=True)
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
        gr.Markdown(f"Voices: {', '.join(md_escape(n) for n in studio.voices.voice_names()) or '(none yet)'} — "
                    "add more on the Voices tab.", elem_id="chat-voice-list")

    seen = gr.State("")  # signature of what this page last drew

    # ---- refresh ------------------------------------------------------------------------------------
    def snapshot() -> tuple[dict[str, Any], list[list[Any]], list[list[Any]]]:
        status = chat.status()
        return status, queue_rows(status), history_rows(chat.history(HISTORY_LIMIT))

    def refresh(last: str) -> tuple[Any, ...]:
        status, q, h = snapshot()
        sig = json.dumps([q, h, status.get("figures"), status.get("sources"), status.get("paused"),
                          status.get("hold"), status.get("voice_warning")], default=str)
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
                mid = whole_number(str(message_id).strip().lstrip("#"), "Message #", 1, 2**62)
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
        return f"Default chat voice: **{md_escape(voice)}**."

    default_voice.input(chat_errors(set_default), inputs=default_voice, outputs=voices_note,
                        api_name="chat_tab_default_voice", **quick)

    def set_nfe(own: bool, value: float) -> tuple[Any, str]:
        if own:
            n = whole_number(value, "Chat NFE", NFE_MIN, NFE_MAX)
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
