"""The studio page: title, engine status banner, smoke-mode notice, tabs and the HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from ishowtts_studio.settings import Settings
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.api import register_api
from ishowtts_studio.ui.chat import CHAT_CSS, build_chat_figures_panel, build_chat_tab, register_chat_api
from ishowtts_studio.ui.common import banner_classes, status_markdown, user_errors
from ishowtts_studio.ui.history_api import register_history_api
from ishowtts_studio.ui.live import SHORTCUT_JS, build_live_tab, nfe_slider, synth_button, voice_choices
from ishowtts_studio.ui.nfe import AB_KEYS_JS, build_nfe_tab, register_nfe_api
from ishowtts_studio.ui.performance import bench_nfes_update, build_performance_tab
from ishowtts_studio.ui.server_guard import ServerGuard
from ishowtts_studio.ui.voices import build_voices_tab

TITLE = "iShowTTS Studio"
SMOKE_NOTICE = "Smoke mode: a tiny randomly initialised model — the audio is noise, for testing only"

# Local font stacks only: the studio must look right offline (no Google Fonts download).
THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="sky",
    neutral_hue="slate",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
#studio-title h1 { margin-bottom: 0.1rem; }
#studio-title p { margin-top: 0; opacity: 0.8; }
#status-banner { padding: 0.2rem 0.9rem; border-radius: 8px; border: 1px solid var(--border-color-primary); }
#status-banner.status-ready { background: rgba(34, 197, 94, 0.10); border-color: rgba(34, 197, 94, 0.45); }
#status-banner.status-ready strong { color: rgb(21, 128, 61); }
#status-banner.status-loading { background: rgba(234, 179, 8, 0.12); border-color: rgba(234, 179, 8, 0.5); }
#status-banner.status-loading strong { color: rgb(161, 98, 7); }
#status-banner.status-unavailable { background: rgba(239, 68, 68, 0.10); border-color: rgba(239, 68, 68, 0.55); }
#status-banner.status-unavailable strong { color: rgb(185, 28, 28); }
#smoke-notice { padding: 0.2rem 0.9rem; border-radius: 8px; background: rgba(249, 115, 22, 0.14);
  border: 1px dashed rgba(249, 115, 22, 0.7); }
#stats-line { min-height: 2.2rem; font-size: 0.92rem; }
#live-char-count { font-size: 0.8rem; opacity: 0.75; text-align: right; margin-top: -0.4rem; }
#live-char-count.over-limit { color: rgb(185, 28, 28); opacity: 1; font-weight: 600; }
#voices-refresh { align-self: end; margin-bottom: 0.6rem; }
/* Blind A/B: the three answers always sit side by side with equal widths, at any screen width (a layout
   that puts one answer on a row of its own can bias the vote). */
#ab-votes { flex-wrap: nowrap !important; gap: 0.4rem !important; }
#ab-votes > * { flex: 1 1 0 !important; min-width: 0 !important; width: auto !important; }
#ab-votes button { white-space: normal; padding-left: 0.3rem; padding-right: 0.3rem; }
/* Phone width: tables scroll sideways instead of breaking words into single letters; plots take the full
   width, one under the other. */
@media (max-width: 640px) {
  #history-table table, #voices-table table, #nfe-table table, #nfe-details table { min-width: 600px; }
  #history-table [role=gridcell], #history-table [role=columnheader], #voices-table [role=gridcell],
  #voices-table [role=columnheader], #nfe-table [role=gridcell], #nfe-table [role=columnheader],
  #nfe-details [role=gridcell], #nfe-details [role=columnheader] { min-width: 5.5em; }
  #history-table td, #history-table th, #voices-table td, #voices-table th, #nfe-table td, #nfe-table th,
  #nfe-details td, #nfe-details th { word-break: normal !important; overflow-wrap: normal !important; }
  .plot-row { flex-direction: column !important; }
  .plot-row > * { width: 100% !important; min-width: 0 !important; }
}
""" + CHAT_CSS


def launch_options() -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch()` that belong to the look of the page (Gradio 6: theme/css here)."""
    return {"theme": THEME, "css": CSS}


# uploads waiting in Gradio's folder may take this many times the largest single upload
UPLOAD_SPACE_FACTOR = 20


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch()` that decide what the web server serves and accepts.

    Nothing of the studio's own folders is served: no `allowed_paths`, and the data folders are blocked outright,
    so a handler that returned one of their files by mistake fails instead of serving it. Pages get hand-outs
    (served_files.py). FastAPI's own schema route is off; `ServerGuard` throttles wrong passwords, keeps the API
    schema out of the login page, words a full queue as "busy" and bounds the upload folder.
    """
    from starlette.middleware import Middleware

    server, paths = settings.server, settings.paths
    uploads = Path(get_upload_folder()).resolve()
    # a data folder that holds Gradio's own folder (GRADIO_TEMP_DIR set inside it) cannot be blocked without
    # blocking the hand-outs too; its files stay unserved all the same, as they lie outside Gradio's folder
    blocked = [p for p in (paths.voices, paths.samples, paths.cache) if not uploads.is_relative_to(Path(p).resolve())]
    if "://" not in paths.database:  # an SQLite file (a URL names a database server)
        blocked.append(paths.database)
    guard = Middleware(
        ServerGuard, auth_enabled=server.auth_enabled, upload_folder=get_upload_folder(),
        upload_budget_bytes=UPLOAD_SPACE_FACTOR * server.max_upload_mb * 2**20, served_name=SERVED_FOLDER,
        host=server.host,  # bound to loopback: only loopback Host names (DNS rebinding)
    )
    return {
        "allowed_paths": [],
        "blocked_paths": [str(p) for p in blocked],
        "max_file_size": f"{server.max_upload_mb}mb",
        "app_kwargs": {"openapi_url": None, "middleware": [guard]},
    }


# Gradio's own clean-up of its upload/output folder: every 10 minutes, files older than an hour (uploads waiting
# for their form, hand-outs). Hand-outs live as long (served_files.DEFAULT_TTL_S).
DELETE_CACHE = (600, 3600)
SERVED_FOLDER = "ishowtts-served"


def served_root() -> Path:
    """Where hand-outs go: inside Gradio's upload folder, the one folder it serves without copying; a file
    given to a component from anywhere else is copied there under a name derived from its content."""
    return Path(get_upload_folder()) / SERVED_FOLDER


def build_ui(studio: Studio) -> gr.Blocks:
    # Concurrent GPU events let the runtime batch requests; one concurrency id keeps them in one group.
    gpu_limit = max(1, studio.settings.engine.max_batch)
    health = studio.health()
    studio.served.root = served_root()
    studio.synthesis.upload_roots = (Path(get_upload_folder()).resolve(),)  # the only clips a request may name
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            f"# {TITLE}\nOn-device zero-shot voice cloning with F5-TTS (and IndexTTS, optional) — one shared GPU "
            "worker on this machine.",
            elem_id="studio-title",
        )
        banner = gr.Markdown(status_markdown(health), elem_id="status-banner", elem_classes=banner_classes(health))
        if studio.is_smoke:
            gr.Markdown(f"⚠️ **{SMOKE_NOTICE}.**", elem_id="smoke-notice")

        # Voices comes first in the tab order; Live synthesis stays the tab a page opens on.
        with gr.Tabs(selected="live"):
            with gr.Tab("Voices", id="voices") as voices_tab:
                voices = build_voices_tab(studio, gpu_limit=gpu_limit)
            with gr.Tab("Live synthesis", id="live") as live_tab:
                live = build_live_tab(studio, gpu_limit=gpu_limit)
            with gr.Tab("Live chat", id="chat"):
                build_chat_tab(studio)
            with gr.Tab("NFE compare", id="nfe"):
                nfe_tab = build_nfe_tab(studio, gpu_limit=gpu_limit)
            with gr.Tab("Performance", id="performance"):
                perf = build_performance_tab(studio, studio.metrics)
                build_chat_figures_panel(studio)

        register_api(studio, gpu_limit=gpu_limit)
        register_chat_api(studio)
        register_history_api(studio, gpu_limit=gpu_limit)

        # the voice library can change in another tab or browser session: refresh on tab select
        live_tab.select(
            user_errors(lambda current: voice_choices(studio, current)), inputs=live.voice, outputs=live.voice,
            api_name="live_tab_voices", queue=False, show_progress="hidden", api_visibility="private",
        )
        voices_tab.select(
            user_errors(lambda current: voices.refresh(studio, current)), inputs=voices.chosen,
            outputs=voices.outputs, api_name="voices_tab_refresh", queue=False,
            show_progress="hidden", api_visibility="private",
        )
        register_nfe_api(studio, gpu_limit=gpu_limit)
        # an adopted NFE reaches this page at once: the Live slider and hint, and the benchmark's choices
        nfe_tab.adopted.success(
            lambda: (nfe_slider(studio), bench_nfes_update(studio)), outputs=[live.nfe, perf.nfes],
            queue=False, show_progress="hidden", api_visibility="private",
        )

        def refresh_banner() -> gr.Markdown:
            h = studio.health()
            return gr.Markdown(value=status_markdown(h), elem_classes=banner_classes(h))

        def tick(engine: str | None) -> tuple[Any, ...]:
            return refresh_banner(), synth_button(studio, engine)

        # The status tick must never wait behind GPU work: no queue, no progress spinner.
        timer = gr.Timer(2.0)
        timer.tick(
            tick, inputs=live.engine, outputs=[banner, live.synth], api_name="status_tick", queue=False,
            show_progress="hidden", api_visibility="private",
        )
        live.engine.change(
            lambda e: synth_button(studio, e), inputs=live.engine, outputs=live.synth, queue=False,
            show_progress="hidden", api_visibility="private",
        )

        def on_load(engine: str | None) -> tuple[Any, ...]:
            return (*tick(engine), *live.on_load(studio))

        demo.load(
            user_errors(on_load), inputs=live.engine, outputs=[banner, live.synth, live.voice, live.nfe, live.history],
            api_name="page_load", queue=False, show_progress="hidden", api_visibility="private",
        )
        demo.load(None, js=SHORTCUT_JS, api_name="shortcuts", api_visibility="private")
        demo.load(None, js=AB_KEYS_JS, api_name="ab_keys", api_visibility="private")
    return demo
