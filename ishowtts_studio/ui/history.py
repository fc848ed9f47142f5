"""The Live tab's History panel: search, favourites, play, load settings back, delete, download (WAV, MP3 or a
ZIP of the takes shown), and regenerate one sentence of a take.

Every file the panel gives the page is a hand-out (served_files.py); the takes' own folder is never served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.takes import export_takes
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import GPU, excerpt, hand_out, md_escape, short_time, user_errors, voice_picker

HISTORY_LIMIT = 50
HISTORY_HEADERS = ["#", "★", "Time", "Voice", "Text", "Engine / NFE", "Seed", "Audio (s)", "RTF"]
HISTORY_TYPES = ["number", "str", "str", "str", "str", "str", "number", "number", "number"]
STAR_ON, STAR_OFF = "★ Remove from favourites", "☆ Add to favourites"


@dataclass
class LiveControls:
    """The Live tab's inputs that "Use these settings" fills in."""

    engine: Any
    voice: Any
    text: Any
    nfe: Any
    seed: Any
    speed: Any
    cfg: Any
    stats: Any


@dataclass
class HistoryPanel:
    table: gr.Dataframe
    search: gr.Textbox
    favourites_only: gr.Checkbox


def engine_label(row: dict[str, Any]) -> str:
    """'F5 · NFE 16' (engine and NFE) or 'IndexTTS' (no ODE steps) for a history row."""
    return "IndexTTS" if row.get("engine") == "indextts" else f"F5 · NFE {row.get('nfe')}"


def shown_takes(studio: Studio, query: str | None = None, favourites_only: bool = False) -> list[dict[str, Any]]:
    return studio.synthesis.search_history(query, HISTORY_LIMIT, favourites_only=bool(favourites_only))


def history_rows(studio: Studio, query: str | None = None, favourites_only: bool = False) -> list[list[Any]]:
    return [[r["id"], "★" if r.get("favourite") else "", short_time(r.get("created_at")), r.get("voice_name") or "",
             excerpt(r.get("text")), engine_label(r), r.get("seed"), round(float(r.get("audio_seconds") or 0.0), 2),
             round(float(r.get("rtf") or 0.0), 3)]
            for r in shown_takes(studio, query, favourites_only)]


def take_details(info: dict[str, Any]) -> str:
    star = " ★" if info.get("favourite") else ""
    out = (f"**Take #{info['id']}**{star} — {md_escape(info.get('voice_name'))}, {engine_label(info)}, "
           f"seed {info.get('seed')}, speed {info.get('speed')}, CFG {info.get('cfg_strength')}")
    note = info.get("regenerated")
    if note:
        out += (f"\n\n🔁 Sentence {note['sentence']} of {note['sentences']} regenerated from take "
                f"#{note['from_take']} with seed {note['seed']}.")
    return out + f"\n\n> {md_escape(info.get('text') or '')}"


def build_history_panel(studio: Studio, live: LiveControls, *, gpu_limit: int = 1) -> HistoryPanel:
    with gr.Accordion("History", open=True, elem_id="history-panel"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                with gr.Row(equal_height=True):
                    search = gr.Textbox(label="Search history", placeholder="words of the text or the voice name",
                                        elem_id="history-search", max_lines=1, scale=4)
                    favourites_only = gr.Checkbox(value=False, label="★ Favourites only", scale=1, min_width=140,
                                                  elem_id="history-favourites-only")
                table = gr.Dataframe(
                    value=history_rows(studio), headers=HISTORY_HEADERS, datatype=HISTORY_TYPES,
                    interactive=False, label="Recent syntheses (select a row to play it)", max_height=360,
                    column_widths=["5%", "4%", "10%", "16%", "26%", "12%", "11%", "8%", "8%"],
                    elem_id="history-table", wrap=True,
                )
                with gr.Row(equal_height=True):
                    refresh = gr.Button("Refresh history", size="sm", elem_id="history-refresh")
                    fmt = gr.Radio([("WAV", "wav"), ("MP3", "mp3")], value="wav", label="Download as",
                                   elem_id="history-format", min_width=160)
                    zip_btn = gr.Button("Download the takes shown (ZIP)", size="sm", elem_id="history-zip")
                download = gr.File(label="Download", interactive=False, visible=False, elem_id="history-download")
            with gr.Column(scale=2, min_width=260):
                audio = gr.Audio(label="Selected take", type="filepath", interactive=False, buttons=["download"],
                                 elem_id="history-audio")
                info = gr.Markdown("", elem_id="history-info")
                chosen = gr.State(None)
                star = gr.Button(STAR_OFF, size="sm", elem_id="history-star")
                with gr.Row():
                    load_take = gr.Button("Use these settings", size="sm", elem_id="history-load")
                    one_btn = gr.Button("Download this take", size="sm", elem_id="history-download-one")
                    delete_take = gr.Button("Delete take", size="sm", variant="stop", elem_id="history-delete")
                with gr.Accordion("Regenerate one sentence", open=False, elem_id="history-regen-panel"):
                    sentence = gr.Dropdown(choices=[], label="Sentence", elem_id="history-sentence",
                                           info="Re-rendered with a new seed in the same voice and NFE, then spliced "
                                                "back in; saved as a new take.")
                    regen = gr.Button("Regenerate this sentence", size="sm", elem_id="history-regen")

    quick: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    filters = [search, favourites_only]

    def rows(q: str | None, fav: bool) -> list[list[Any]]:
        return history_rows(studio, q, fav)

    refresh.click(user_errors(rows), inputs=filters, outputs=table, api_name="live_refresh_history", **quick)
    search.change(user_errors(rows), inputs=filters, outputs=table, api_name="live_search_history", **quick)
    favourites_only.change(user_errors(rows), inputs=filters, outputs=table, api_name="live_favourites_only",
                           **quick)

    def sentence_choices(history_id: int) -> gr.Dropdown:
        parts = studio.synthesis.take_sentences(history_id)
        choices = [(f"{i}. {excerpt(p, 60)}", i) for i, p in enumerate(parts, start=1)]  # numbered from 1
        return gr.Dropdown(choices=choices, value=1 if choices else None)

    @user_errors
    def select(evt: gr.SelectData) -> tuple[Any, ...]:
        row = evt.row_value or []
        if not row or row[0] in (None, ""):
            return None, "", None, gr.Button(value=STAR_OFF), gr.Dropdown(choices=[], value=None)
        history_id = int(float(row[0]))
        path = studio.synthesis.history_audio(history_id)
        entry = studio.synthesis.history_entry(history_id)
        return (hand_out(studio, path), take_details(entry), history_id,
                gr.Button(value=STAR_ON if entry.get("favourite") else STAR_OFF), sentence_choices(history_id))

    table.select(select, outputs=[audio, info, chosen, star, sentence], api_name="live_select_history", **quick)

    def toggle_star(take: Any, q: str | None, fav: bool) -> tuple[Any, ...]:
        if take is None:
            raise InputError("Select a take in the history first.")
        now = studio.synthesis.history_entry(take)
        entry = studio.synthesis.set_favourite(take, not now.get("favourite"))
        return (history_rows(studio, q, fav), take_details(entry),
                gr.Button(value=STAR_ON if entry["favourite"] else STAR_OFF))

    # queued (not queue=False): Gradio shows a handler's error (e.g. "select a take first") only for queued events
    star.click(user_errors(toggle_star), inputs=[chosen, *filters], outputs=[table, info, star],
               api_name="live_star_take", api_visibility="private")

    def use_settings(take: Any) -> tuple[Any, ...]:
        if take is None:
            raise InputError("Select a take in the history first.")
        r = studio.synthesis.history_entry(take)
        engine_v = r.get("engine") or "f5"
        return (engine_v, voice_picker(studio, r.get("voice_slug")), r.get("text") or "",
                gr.skip() if engine_v == "indextts" else r.get("nfe"), r.get("seed"), r.get("speed"),
                r.get("cfg_strength"), f"Loaded the settings of take #{take}: press Synthesize to make it again.")

    load_take.click(user_errors(use_settings), inputs=chosen,
                    outputs=[live.engine, live.voice, live.text, live.nfe, live.seed, live.speed, live.cfg,
                             live.stats], api_name="live_use_take", api_visibility="private")

    def delete_chosen(take: Any, q: str | None, fav: bool) -> tuple[Any, ...]:
        r = studio.synthesis.delete_history(take)
        return history_rows(studio, q, fav), None, f"Deleted take #{r['id']}.", None

    delete_take.click(user_errors(delete_chosen), inputs=[chosen, *filters],
                      outputs=[table, audio, info, chosen], api_name="live_delete_take", api_visibility="private")

    def download_one(take: Any, fmt_v: str) -> Any:
        if take is None:
            raise InputError("Select a take in the history first.")
        return gr.File(value=str(export_takes(studio.synthesis, [take], fmt_v, studio.served.folder())),
                       visible=True)

    def download_shown(q: str | None, fav: bool, fmt_v: str) -> Any:
        ids = [r["id"] for r in shown_takes(studio, q, fav)]
        if not ids:
            raise InputError("No takes are shown: clear the search or the favourites filter first.")
        archive = export_takes(studio.synthesis, ids, fmt_v, studio.served.folder(), as_zip=True)
        return gr.File(value=str(archive), visible=True)

    one_btn.click(user_errors(download_one), inputs=[chosen, fmt], outputs=download,
                  api_name="live_download_take", api_visibility="private")
    zip_btn.click(user_errors(download_shown), inputs=[*filters, fmt], outputs=download,
                  api_name="live_download_takes", api_visibility="private")

    def regenerate(take: Any, index: Any, q: str | None, fav: bool) -> tuple[Any, ...]:
        if take is None:
            raise InputError("Select a take in the history first.")
        outcome = studio.synthesis.regenerate_sentence(take, index)
        entry = studio.synthesis.history_entry(outcome.history_id)
        return (history_rows(studio, q, fav), hand_out(studio, outcome.wav_path), take_details(entry),
                outcome.history_id, gr.Button(value=STAR_OFF), sentence_choices(outcome.history_id))

    regen.click(user_errors(regenerate), inputs=[chosen, sentence, *filters],
                outputs=[table, audio, info, chosen, star, sentence], api_name="live_regenerate_sentence",
                api_visibility="private", concurrency_id=GPU, concurrency_limit=gpu_limit)
    return HistoryPanel(table=table, search=search, favourites_only=favourites_only)
