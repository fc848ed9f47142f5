"""NFE compare tab: renders and objective scores per NFE, the blind A/B panel, results and verdicts.

One render run covers several voices, texts and seeds; the table and plots show the mean and 95% interval
across sentences of that run, the results panel covers every render with the chosen reference NFE. The A/B
panel is `ab_panel.py`, the endpoints and export `nfe_api.py`, the tables' text `nfe_tables.py`.
"""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ishowtts_studio.nfe_texts import NFE_TEXTS
from ishowtts_studio.services.inputs import NFE_MAX, NFE_MIN
from ishowtts_studio.services.nfe import NFE_MAX_RENDERS
from ishowtts_studio.services.nfe_plan import INDEXTTS_NFE
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.ab_panel import AB_KEYS_JS, build_ab_panel
from ishowtts_studio.ui.common import GPU, user_errors
from ishowtts_studio.ui.nfe_api import export_files, register_nfe_api
from ishowtts_studio.ui.nfe_tables import (
    RENDER_HEADERS,
    SCORE_HEADERS,
    render_table,
    results_markdown,
    run_summary,
    score_table,
)
from ishowtts_studio.ui.plots import nfe_frontier_figure, nfe_rtf_figure, nfe_scores_figure

__all__ = ["AB_KEYS_JS", "build_nfe_tab", "register_nfe_api"]

SMOKE_SCORES_NOTICE = (
    "Smoke mode: the engine runs on random weights, so these renders are noise and the scores and votes "
    "are meaningless; use them only to try the workflow."
)
NFE_CHOICES = [2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32]


@dataclass
class NfeTab:
    """What the page wires across tabs: the adopt event, so an adopted NFE reaches Live and Performance."""

    adopted: Any  # the "Adopt recommended NFE" event (chain with .success)


def build_nfe_tab(studio: Studio, *, gpu_limit: int = 1) -> NfeTab:
    if studio.is_smoke:
        gr.Markdown(f"⚠️ **{SMOKE_SCORES_NOTICE}**", elem_id="nfe-smoke-notice")
    voices_now = studio.nfe.voice_names()
    candidates_default = studio.nfe.candidates_default()
    gr.Markdown(
        "### 1 · Render and score\n"
        "Every text is rendered at the reference NFE and at each candidate NFE, with the same seed and the same "
        "duration, so the signals line up; each candidate is scored against its reference (PESQ wide-band at "
        "16 kHz, STOI, ESTOI) and timed (RTF). Renders made before are reused. The table gives the mean and the "
        f"95% interval across sentences (at most {NFE_MAX_RENDERS} renders per run).")
    with gr.Row():
        voices = gr.Dropdown(choices=voices_now, value=voices_now[:1], multiselect=True, label="Voices",
                             info="one or more", elem_id="nfe-voices")
        seeds = gr.Textbox(value="0", label="Seeds", info="comma-separated whole numbers, e.g. 0, 1, 2",
                           elem_id="nfe-seeds")
        ref = gr.Number(value=studio.nfe.reference_default(), label="Reference NFE", precision=0, minimum=NFE_MIN,
                        maximum=NFE_MAX, elem_id="nfe-ref")
    nfes = gr.CheckboxGroup(choices=sorted(set(NFE_CHOICES) | set(candidates_default)), value=candidates_default,
                            label="Candidate NFEs", elem_id="nfe-candidates")
    with gr.Row(equal_height=True):
        builtin = gr.Dropdown(choices=list(NFE_TEXTS), value=[NFE_TEXTS[1]], multiselect=True,
                              label=f"Built-in sentences ({len(NFE_TEXTS)}: English and Chinese, short to long)",
                              elem_id="nfe-builtin", scale=4)
        with gr.Column(scale=1, min_width=160):
            all_btn = gr.Button("All built-in", size="sm", elem_id="nfe-all")
            none_btn = gr.Button("None", size="sm", elem_id="nfe-none")
    custom = gr.Textbox(label="Your own texts (one per line; added to the sentences picked above)", lines=2,
                        elem_id="nfe-text")
    with gr.Row(equal_height=True):
        cross = gr.Checkbox(value=False, label="Also render with IndexTTS (cross-engine blind A/B against the "
                            "reference)", info="needs the IndexTTS extra; its renders are not aligned, so they are "
                            "only listened to, not scored", elem_id="nfe-cross-engine", scale=3)
        render = gr.Button("Render and score", variant="primary", elem_id="nfe-render", scale=1)
    run_md = gr.Markdown("", elem_id="nfe-run-summary")
    table = gr.Dataframe(headers=SCORE_HEADERS, value=[], label="Per NFE: mean [95% interval] across sentences",
                         interactive=False, wrap=True, elem_id="nfe-table")
    with gr.Row(elem_id="nfe-plots", elem_classes=["plot-row"]):
        plot_scores = gr.Plot(nfe_scores_figure([]), label="Scores vs NFE", elem_id="nfe-plot", show_label=False)
        plot_rtf = gr.Plot(nfe_rtf_figure([]), label="RTF vs NFE", elem_id="nfe-plot-rtf", show_label=False)
        plot_front = gr.Plot(nfe_frontier_figure([]), label="Quality / speed frontier", elem_id="nfe-plot-frontier",
                             show_label=False)
    with gr.Accordion("Per-render details", open=False):
        details = gr.Dataframe(headers=RENDER_HEADERS, value=[], interactive=False, wrap=True,
                               elem_id="nfe-details")

    all_btn.click(lambda: gr.Dropdown(value=list(NFE_TEXTS)), outputs=[builtin], api_visibility="private",
                  queue=False)
    none_btn.click(lambda: gr.Dropdown(value=[]), outputs=[builtin], api_visibility="private", queue=False)

    def do_render(voices_v: Any, builtin_v: Any, custom_v: Any, nfes_v: Any, ref_v: Any, seeds_v: Any,
                  cross_v: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        texts = list(builtin_v or []) + [line for line in str(custom_v or "").splitlines() if line.strip()]
        if not nfes_v:
            raise gr.Error("Tick at least one candidate NFE.")
        rows = studio.nfe.render(texts, voices_v, nfes_v, ref_v, seeds_v, progress=progress,
                                 cross_engine=bool(cross_v))
        ref_nfe = rows[0]["reference_nfe"]
        from ishowtts_studio.quality import summarise

        # the IndexTTS renders are for the cross-engine A/B only: not aligned, so not in the per-NFE scores
        summary = summarise([r for r in rows if r["render_id"] is not None and r["nfe"] != INDEXTTS_NFE], ref_nfe)
        th = studio.nfe.thresholds()
        limits = {"pesq_wb": th.pesq_min, "stoi": th.stoi_min, "estoi": th.estoi_min}
        return (run_summary(rows), score_table(summary), nfe_scores_figure(summary, ref_nfe, limits),
                nfe_rtf_figure(summary), nfe_frontier_figure(summary), render_table(rows))

    def stored_view() -> tuple[Any, ...]:
        # a reloaded page shows what is stored instead of empty tables and plots
        rows = studio.nfe.stored_renders()
        if not rows:  # say so, rather than leave the space blank (and the page's tests get a sign the load is done)
            return ("No renders are stored yet: pick voices, texts and NFEs above, then *Render and score*.",
                    *(gr.skip(),) * 6)
        from ishowtts_studio.quality import summarise

        ref_nfe = rows[0]["reference_nfe"]
        summary = summarise([r for r in rows if r["nfe"] != INDEXTTS_NFE], ref_nfe)
        th = studio.nfe.thresholds()
        limits = {"pesq_wb": th.pesq_min, "stoi": th.stoi_min, "estoi": th.estoi_min}
        groups = len({(r["voice"], r["text"], r["seed"]) for r in rows})
        note = (f"Showing the **{len(rows)} stored renders** with reference NFE {ref_nfe} ({groups} sentence × voice × "
                "seed combinations) from earlier runs. *Render and score* adds to them.")
        # the box names the reference these renders were scored against, not the configured one, so a
        # "Refresh results" or a new run continues the study that is shown
        return (note, score_table(summary), nfe_scores_figure(summary, ref_nfe, limits), nfe_rtf_figure(summary),
                nfe_frontier_figure(summary), render_table(rows), gr.Number(value=ref_nfe))

    gr.on(triggers=None, fn=user_errors(stored_view), outputs=[run_md, table, plot_scores, plot_rtf, plot_front,
                                                               details, ref], show_progress="hidden",
          api_visibility="private")

    render.click(user_errors(do_render), inputs=[voices, builtin, custom, nfes, ref, seeds, cross],
                 outputs=[run_md, table, plot_scores, plot_rtf, plot_front, details], show_progress_on=[run_md],
                 concurrency_id=GPU, concurrency_limit=gpu_limit, api_visibility="private")

    build_ab_panel(studio)

    gr.Markdown("### 3 · Results and decision\nA candidate is *indistinguishable* only when listeners prefer the "
                "reference at most up to the margin (upper 95% bound) **and** its objective scores meet the "
                "thresholds; the recommended NFE is the lowest such candidate.")
    with gr.Row():
        refresh = gr.Button("Refresh results", elem_id="nfe-refresh")
        adopt = gr.Button("Adopt recommended NFE as default", elem_id="nfe-adopt")
        export = gr.Button("Export votes and scores (CSV + JSON)", elem_id="nfe-export")
    adopt_msg = gr.Markdown("", elem_id="nfe-adopt-msg")
    results_md = gr.Markdown("Press *Refresh results* to compute the statistics.", elem_id="nfe-results")
    files = gr.File(label="Export", file_count="multiple", visible=False, elem_id="nfe-export-files")

    def show_results(ref_v: Any) -> str:
        return results_markdown(studio.ab.results(ref_v))

    refresh.click(user_errors(show_results), inputs=[ref], outputs=[results_md], api_visibility="private")

    def do_adopt(ref_v: Any) -> str:
        rec = studio.ab.results(ref_v, boot=20).get("recommended_nfe")
        if rec is None:
            raise gr.Error("No candidate has been judged indistinguishable yet, so there is nothing to adopt.")
        studio.nfe.adopt_default_nfe(rec)
        return f"Default NFE is now **{rec}**; Live synthesis uses it (it persists across restarts)."

    adopted = adopt.click(user_errors(do_adopt), inputs=[ref], outputs=[adopt_msg], api_visibility="private")
    export.click(user_errors(lambda: gr.File(value=export_files(studio), visible=True)), outputs=[files],
                 api_visibility="private")
    return NfeTab(adopted=adopted)
