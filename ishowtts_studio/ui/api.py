"""Named HTTP API endpoints (callable with gradio_client): thin wrappers over Studio.

    /health       -> dict (Studio.health())
    /list_voices  -> list of voice dicts
    /synthesize   (text, voice, nfe, seed, speed) -> (WAV file, stats dict)
    /history      (limit) -> list of recent syntheses, newest first

Errors meant for users (Studio.USER_ERRORS) reach the client as gr.Error with the exact message;
anything else is logged and answered with a short generic message.
"""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
from typing import Any

import gradio as gr

from ishowtts_studio.studio import InputError, Studio
from ishowtts_studio.ui.common import GPU, to_gr_error
from ishowtts_studio.ui.performance import metrics_snapshot_api, run_benchmark_api


class StudioAPI:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def health(self) -> dict[str, Any]:
        """Engine status: status (loading/ready/unavailable), message, progress, engine, device, smoke, ..."""
        try:
            return self.studio.health()
        except Exception as exc:
            raise to_gr_error(exc) from exc

    def list_voices(self) -> list[dict[str, Any]]:
        """The saved voices: name, slug, transcript, language, duration, times used, ..."""
        try:
            return self.studio.list_voices()
        except Exception as exc:
            raise to_gr_error(exc) from exc

    def history(self, limit: float | None = 20) -> list[dict[str, Any]]:
        """Recent syntheses, newest first: id, created_at, text, voice_name, nfe, seed, audio_seconds, rtf, ..."""
        try:
            count = 20 if limit is None else int(limit)
            if not 1 <= count <= 1000:
                raise InputError(f"limit must be from 1 to 1000, not {count}.")
            # the server's absolute file paths are none of the client's business
            return [{k: v for k, v in row.items() if k != "audio_file"} for row in self.studio.history(count)]
        except Exception as exc:
            raise to_gr_error(exc) from exc

    def synthesize(
        self,
        text: str | None,
        voice: str | None,
        nfe: float | None = None,
        seed: float | None = None,
        speed: float | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Speak `text` in `voice`; returns the WAV (16-bit, engine sample rate) and its stats.

        nfe None = the studio's default; seed None or negative = random; speed None = 1.0.
        """
        try:
            outcome = self.studio.synthesize(text, voice, nfe=nfe, seed=seed, speed=speed)
        except Exception as exc:
            raise to_gr_error(exc) from exc
        return str(outcome.wav_path), outcome.stats


def register_api(studio: Studio, *, gpu_limit: int = 1) -> StudioAPI:
    """Add the API endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    api = StudioAPI(studio)

    def health() -> dict[str, Any]:
        return api.health()

    def list_voices() -> list[dict[str, Any]]:
        return api.list_voices()

    def history(limit: float | None = 20) -> list[dict[str, Any]]:
        return api.history(limit)

    gr.api(health, api_name="health", queue=False, api_description=StudioAPI.health.__doc__)
    gr.api(list_voices, api_name="list_voices", queue=False, api_description=StudioAPI.list_voices.__doc__)
    gr.api(history, api_name="history", queue=False, api_description=StudioAPI.history.__doc__)

    def metrics_snapshot() -> dict[str, Any]:
        """Live figures: counts, queue depth, latency/TTFA/RTF percentiles, GPU memory, cache hit rate."""
        try:
            return metrics_snapshot_api(studio.metrics)
        except Exception as exc:
            raise to_gr_error(exc) from exc

    def run_benchmark(nfes: list[int], runs: int = 3, texts: list[str] | None = None) -> dict[str, Any]:
        """Run the standard benchmark (texts: short/medium/long) at the given NFEs through the engine."""
        try:
            return run_benchmark_api(studio, nfes, runs, texts or ["short"])
        except Exception as exc:
            raise to_gr_error(exc) from exc

    gr.api(metrics_snapshot, api_name="metrics_snapshot", queue=False, api_description=metrics_snapshot.__doc__)
    gr.api(run_benchmark, api_name="run_benchmark", concurrency_id=GPU, concurrency_limit=1,
           api_description=run_benchmark.__doc__)

    # /synthesize returns a file, which needs a File component to be served to the client, so it is
    # wired through hidden components rather than gr.api.
    with gr.Column(visible=False):
        text = gr.Textbox(label="text")
        voice = gr.Textbox(label="voice")
        # no initial values: a client that leaves them out sends None, which means the studio's defaults
        nfe = gr.Number(label="nfe", value=None, info="ODE steps 1-64; None = the studio's default NFE")
        seed = gr.Number(label="seed", value=None, info="None or -1 = random")
        speed = gr.Number(label="speed", value=None, info="0.3-3.0; None = the configured speed (1.0)")
        wav = gr.File(label="wav")
        stats = gr.JSON(label="stats")
        trigger = gr.Button("synthesize")
    trigger.click(
        api.synthesize,
        inputs=[text, voice, nfe, seed, speed],
        outputs=[wav, stats],
        api_name="synthesize",
        api_description=StudioAPI.synthesize.__doc__,
        concurrency_id=GPU,
        concurrency_limit=gpu_limit,
        show_progress="hidden",
    )
    return api
