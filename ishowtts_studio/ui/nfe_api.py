"""The NFE compare endpoints (/nfe_scores, /ab_next_trial, /ab_vote, /ab_skip,
/ab_results, /nfe_export) and the
export files they and the tab hand out."""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
import csv
import io
import json
import time
from typing import Any

import gradio as gr

from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.ab_panel import ab_clips
from ishowtts_studio.ui.common import GPU, user_errors

EXPORT_FIELDS = {
    "votes": ["id", "created_at", "trial_id", "reviewer", "nfe_a", "nfe_b", "reference_nfe", "choice", "seconds",
              "voice_slug", "text", "seed"],
    "renders": ["id", "created_at", "voice_slug", "text", "seed", "nfe", "reference_nfe", "pesq_wb", "stoi",
                "estoi", "rtf", "error", "audio_seconds", "smoke"],
    "verdicts": ["reference_nfe", "nfe", "verdict", "reason", "votes", "reference_preferred", "ties",
                 "prefer_reference", "ci_low", "ci_high", "objective_ok", "recommended"],
}


def register_nfe_api(studio: Studio, *, gpu_limit: int = 1) -> None:
    """/nfe_scores, /ab_next_trial, /ab_vote, /ab_skip, /ab_results, /nfe_export."""

    @user_errors
    def nfe_scores(text: str, voice: str, nfes: list[int] | None = None, reference_nfe: int | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
        """Render `text` at each NFE and the reference NFE (same seed and duration); rows of nfe, pesq_wb,
        stoi, estoi, rtf (and error, a message when a row could not be scored)."""
        rows = studio.nfe.scores(text, voice, nfes, reference_nfe, seed)
        return [{k: r[k] for k in ("nfe", "pesq_wb", "stoi", "estoi", "rtf", "error", "is_reference")} for r in rows]

    @user_errors
    def ab_vote(trial_id: str, reviewer: str, choice: str) -> dict[str, Any]:
        """Vote on a trial: choice A, B or tie. Returns the revealed labels (which NFE was A and B)."""
        revealed = studio.ab.vote(trial_id, reviewer, choice)
        studio.served.withdraw_tag(str(trial_id))  # the trial is over: its clips are no longer served
        return revealed

    @user_errors
    def ab_results(reference_nfe: int | None = None) -> dict[str, Any]:
        """Statistics: pairs (Wilson CI, binomial p, ties), Bradley–Terry, position bias, votes per reviewer,
        verdicts, recommended_nfe, scores per NFE. reference_nfe None = the configured one (else the latest)."""
        return studio.ab.results(reference_nfe)

    gr.api(nfe_scores, api_name="nfe_scores", concurrency_id=GPU, concurrency_limit=gpu_limit,
           api_description=nfe_scores.__doc__)
    @user_errors
    def ab_skip(trial_id: str, reviewer: str) -> dict[str, Any]:
        """Skip a trial: no vote is stored and its pair is not offered to this reviewer again; a later vote on
        it is refused. Reveals nothing about the sides."""
        skipped = studio.ab.skip(trial_id, reviewer)
        studio.served.withdraw_tag(str(trial_id))  # the trial is over: its clips are no longer served
        return skipped

    gr.api(ab_vote, api_name="ab_vote", api_description=ab_vote.__doc__)
    gr.api(ab_skip, api_name="ab_skip", api_description=ab_skip.__doc__)
    gr.api(ab_results, api_name="ab_results", api_description=ab_results.__doc__)

    @user_errors
    def ab_next_trial(reviewer: str) -> tuple[str, str, str]:
        trial_id, a, b = studio.ab.next_trial(reviewer)
        # fresh random names for this hand-out: the URL says nothing about the clip or an earlier trial
        return trial_id, *ab_clips(studio, trial_id, a, b)

    with gr.Column(visible=False):
        reviewer = gr.Textbox(label="reviewer")
        trial = gr.Textbox(label="trial_id")
        clip_a = gr.File(label="clip_a")
        clip_b = gr.File(label="clip_b")
        trigger = gr.Button("ab_next_trial")
    trigger.click(ab_next_trial, inputs=[reviewer], outputs=[trial, clip_a, clip_b], api_name="ab_next_trial",
                  api_description="reviewer -> (trial id, clip A file, clip B file); nothing else",
                  show_progress="hidden")

    with gr.Column(visible=False):
        export_out = gr.File(label="export", file_count="multiple")
        export_trigger = gr.Button("nfe_export")
    export_trigger.click(user_errors(lambda: export_files(studio)), outputs=[export_out], api_name="nfe_export",
                         api_description="-> files: votes CSV, renders CSV, and both as one JSON",
                         show_progress="hidden")


def _csv_cell(value: Any) -> Any:
    # a cell starting with = + - @ (or a tab / carriage return) is a formula to a spreadsheet: quote it
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_files(studio: Studio) -> list[str]:
    """Votes, renders and verdicts as CSV (spreadsheet-safe) and everything as one JSON file."""
    data = studio.ab.export()
    folder = studio.served.folder()  # served as it is, withdrawn with the other hand-outs (no temp folder left)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = []
    for name in ("votes", "renders", "verdicts"):
        rows = data[name]
        path = folder / f"nfe-{name}-{stamp}.csv"
        buf = io.StringIO()
        fields = list(rows[0]) if rows else EXPORT_FIELDS[name]
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows({k: _csv_cell(v) for k, v in r.items()} for r in rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        out.append(str(path))
    path = folder / f"nfe-export-{stamp}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    out.append(str(path))
    return out
