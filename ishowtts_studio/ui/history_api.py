"""History endpoints: /history_favourite, /history_download (one take as WAV or MP3, several as a ZIP) and
/regenerate_sentence. Files reach the client only as hand-outs (served_files.py)."""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
from typing import Any

import gradio as gr

from ishowtts_studio.services.takes import export_takes
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import GPU, hand_out, user_errors


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "audio_file"}  # no server paths for clients


def register_history_api(studio: Studio, *, gpu_limit: int = 1) -> None:
    synthesis = studio.synthesis

    @user_errors
    def history_favourite(history_id: float, on: bool = True) -> dict[str, Any]:
        """Star (on=true) or unstar the take `history_id`; returns its history row (with favourite)."""
        return _public(synthesis.set_favourite(history_id, on))

    gr.api(history_favourite, api_name="history_favourite", queue=False,
           api_description=history_favourite.__doc__)

    @user_errors
    def history_download(ids: str | None, fmt: str | None) -> str:
        return str(export_takes(synthesis, ids, fmt, studio.served.folder()))

    @user_errors
    def regenerate_sentence(history_id: str | None, sentence: str | None) -> tuple[str | None, dict[str, Any]]:
        outcome = synthesis.regenerate_sentence(history_id, sentence)
        return hand_out(studio, outcome.wav_path), _public(synthesis.history_entry(outcome.history_id))

    # file outputs need File components: hidden ones, as for /synthesize
    with gr.Column(visible=False):
        ids_in = gr.Textbox(label="ids")
        fmt_in = gr.Textbox(label="format", value="wav")
        file_out = gr.File(label="file")
        take_in = gr.Textbox(label="history_id")
        sentence_in = gr.Textbox(label="sentence")
        take_out = gr.File(label="audio")
        row_out = gr.JSON(label="take")
        download_btn, regen_btn = gr.Button("download"), gr.Button("regenerate")
    download_btn.click(
        history_download, inputs=[ids_in, fmt_in], outputs=file_out, api_name="history_download",
        api_description="ids (take numbers, e.g. '3, 5, 8'), format (wav or mp3) -> one take's file, or a ZIP "
        "of several named take-<n>-<voice>-<text start>-<time>.", show_progress="hidden",
    )
    regen_btn.click(
        regenerate_sentence, inputs=[take_in, sentence_in], outputs=[take_out, row_out],
        api_name="regenerate_sentence", api_description="history_id, sentence (1-based) -> (the new take's audio, "
        "its history row: `regenerated` names the take, sentence and new seed). The sentence is made again with "
        "a new seed in the same voice and NFE and spliced in; the old take stays.",
        concurrency_id=GPU, concurrency_limit=gpu_limit, show_progress="hidden",
    )
