"""Named HTTP API endpoints (callable with gradio_client): thin wrappers over Studio.

    /health       -> dict (Studio.health())
    /list_voices  -> list of voice dicts
    /synthesize   (text, voice, nfe, seed, speed, engine, options) -> (WAV file, stats dict)
    /engines      -> list of engines with status and message (f5, indextts)
    /history      (limit) -> list of recent syntheses, newest first (/history_favourites: the starred ones)
    /add_voice    (name, audio file, transcript, language) -> the stored voice (dict, with `cleaning`)
    /rename_voice (voice, new_name) -> voice dict
    /update_voice (voice, transcript, language) -> voice dict (the engine's cached reference is dropped)
    /delete_voice (voice) -> the deleted voice's dict
    /export_voice (voice) -> voice pack (.zip: reference.wav + voice.json)
    /import_voice (zip file, name) -> voice dict (name empty = the pack's own name)
    /broken_voices -> voice folders that cannot be used: name, slug, problem, repairable
    /repair_voice (voice, audio file) -> the repaired voice (a broken voice gets a new clip)

Errors meant for users (services.errors.USER_ERRORS) reach the client as gr.Error with the exact message;
anything else is logged and answered with a short generic message.
"""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
import functools
from pathlib import Path
from typing import Any

import gradio as gr

from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import NFE_MAX, NFE_MIN, SPEED_MAX, SPEED_MIN
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import GPU, hand_out, user_errors
from ishowtts_studio.validation import redact_paths, to_number


def public_json(value: Any) -> Any:
    """`value` with absolute server paths cut from every string (engine messages name weight files)."""
    if isinstance(value, str):
        return redact_paths(value)
    if isinstance(value, dict):
        return {k: public_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_json(v) for v in value]
    return value


class StudioAPI:
    """The named endpoints over the studio's services; `user_errors` maps what they raise to gr.Error."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    @user_errors
    def health(self) -> dict[str, Any]:
        """Engine status: status (loading/ready/unavailable), message, progress, engine, device, smoke, ..."""
        return public_json(self.studio.health())

    @user_errors
    def list_voices(self) -> list[dict[str, Any]]:
        """The saved voices: name, slug, transcript, language, duration, times used, ..."""
        return [_public_voice(v) for v in self.studio.voices.list_voices()]

    @user_errors
    def history(self, limit: float | None = 20) -> list[dict[str, Any]]:
        """Recent syntheses, newest first: id, created_at, text, voice_name, nfe, seed, audio_seconds, rtf,
        favourite, ... (/history_favourites lists the starred ones)."""
        return self._history(limit, favourites_only=False)

    @user_errors
    def history_favourites(self, limit: float | None = 20) -> list[dict[str, Any]]:
        """The starred takes (see /history_favourite), newest first, shaped like /history."""
        return self._history(limit, favourites_only=True)

    def _history(self, limit: float | None, *, favourites_only: bool) -> list[dict[str, Any]]:
        count = 20 if limit is None else int(to_number(limit, "limit", whole=True))
        if not 1 <= count <= 1000:
            raise InputError(f"limit must be from 1 to 1000, not {count}.")
        # the server's absolute file paths are none of the client's business
        return [{k: v for k, v in row.items() if k != "audio_file"} for row in
                self.studio.synthesis.history(count, favourites_only=bool(favourites_only))]

    @user_errors
    def synthesize(
        self,
        text: str | None,
        voice: str | None,
        nfe: float | None = None,
        seed: float | None = None,
        speed: float | None = None,
        engine: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Speak `text` in `voice`; returns the WAV (16-bit, engine sample rate) and its stats.

        nfe None = the studio's default; seed None or negative = random; speed None = 1.0;
        engine None = "f5" (or "indextts"); options = IndexTTS generation options (temperature, top_p, top_k,
        num_beams, repetition_penalty, max_mel_tokens, max_text_tokens_per_segment; version 2: emotion_mode,
        emotion_audio, emotion_alpha, emotion_vector).
        """
        outcome = self.studio.synthesis.synthesize(text, voice, nfe=nfe, seed=seed, speed=speed, engine=engine,
                                                   indextts=options or None)
        return hand_out(self.studio, outcome.wav_path, f"take-{outcome.history_id}.wav"), outcome.stats

    @user_errors
    def engines(self) -> list[dict[str, Any]]:
        """Every engine (f5, indextts) with its status (ready/available/loading/unavailable) and message."""
        return public_json(self.studio.engines())

    @user_errors
    def metrics_snapshot(self) -> dict[str, Any]:
        """Live figures: counts, queue depth, latency/TTFA/RTF percentiles, GPU memory, cache hit rate."""
        return self.studio.bench.snapshot()

    @user_errors
    def run_benchmark(self, nfes: list[int], runs: int = 3, texts: list[str] | None = None) -> dict[str, Any]:
        """Run the standard benchmark (texts: short/medium/long) at the given NFEs through the engine."""
        return self.studio.bench.run(nfes, runs, texts or ["short"])


def register_api(studio: Studio, *, gpu_limit: int = 1) -> StudioAPI:
    """Add the API endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    api = StudioAPI(studio)

    # plain functions with the methods' real signatures: gr.api reads them for the API schema
    health, list_voices, history = _unbound(api.health), _unbound(api.list_voices), _unbound(api.history)
    engines, metrics_snapshot = _unbound(api.engines), _unbound(api.metrics_snapshot)
    run_benchmark = _unbound(api.run_benchmark)

    gr.api(health, api_name="health", queue=False, api_description=StudioAPI.health.__doc__)
    gr.api(list_voices, api_name="list_voices", queue=False, api_description=StudioAPI.list_voices.__doc__)
    gr.api(history, api_name="history", queue=False, api_description=StudioAPI.history.__doc__)
    favourites = _unbound(api.history_favourites)
    gr.api(favourites, api_name="history_favourites", queue=False,
           api_description=StudioAPI.history_favourites.__doc__)
    gr.api(engines, api_name="engines", queue=False, api_description=StudioAPI.engines.__doc__)
    gr.api(metrics_snapshot, api_name="metrics_snapshot", queue=False,
           api_description=StudioAPI.metrics_snapshot.__doc__)
    gr.api(run_benchmark, api_name="run_benchmark", concurrency_id=GPU, concurrency_limit=1,
           api_description=StudioAPI.run_benchmark.__doc__)

    # /synthesize returns a file, which needs a File component to be served to the client, so it is
    # wired through hidden components rather than gr.api.
    with gr.Column(visible=False):
        text = gr.Textbox(label="text")
        voice = gr.Textbox(label="voice")
        # no initial values: a client that leaves them out sends None, which means the studio's defaults
        nfe = gr.Number(label="nfe", value=None, info=f"ODE steps {NFE_MIN}-{NFE_MAX}; None = the studio's default NFE")
        seed = gr.Number(label="seed", value=None, info="None or -1 = random")
        speed = gr.Number(label="speed", value=None, info=f"{SPEED_MIN}-{SPEED_MAX}; None = the configured speed (1.0)")
        engine = gr.Textbox(label="engine", value=None, info="f5 (default) or indextts")
        options = gr.JSON(label="options", value=None)
        wav = gr.File(label="wav")
        stats = gr.JSON(label="stats")
        trigger = gr.Button("synthesize")
    trigger.click(
        api.synthesize,
        inputs=[text, voice, nfe, seed, speed, engine, options],
        outputs=[wav, stats],
        api_name="synthesize",
        api_description=StudioAPI.synthesize.__doc__,
        concurrency_id=GPU,
        concurrency_limit=gpu_limit,
        show_progress="hidden",
    )
    register_voice_api(studio, gpu_limit=gpu_limit)
    return api


def _unbound(method: Any) -> Any:
    """A plain function with `method`'s signature minus `self`, for gr.api (which inspects what it is given)."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    return call


# ---- voice management ------------------------------------------------------------------------------
def _public_voice(voice: dict[str, Any]) -> dict[str, Any]:
    # the server's absolute file paths are none of the client's business
    return {k: v for k, v in voice.items() if k != "audio_path"}


def register_voice_api(studio: Studio, *, gpu_limit: int = 1) -> None:
    """/add_voice, /rename_voice, /update_voice, /delete_voice, /export_voice, /import_voice, /broken_voices,
    /repair_voice."""
    voices = studio.voices

    @user_errors
    def rename_voice(voice: str, new_name: str) -> dict[str, Any]:
        """Give `voice` a new display name; returns the voice."""
        return _public_voice(voices.rename_voice(voice, new_name))

    @user_errors
    def update_voice(voice: str, transcript: str | None = None, language: str | None = None) -> dict[str, Any]:
        """Change the transcript and/or language (en, zh, other) of `voice`; None or "" keeps a field."""
        text = transcript if transcript is not None and str(transcript) != "" else None
        return _public_voice(voices.update_voice(voice, text, language or None))

    @user_errors
    def set_preview_text(voice: str, text: str | None = None) -> dict[str, Any]:
        """Set the line the voice's previews say (one line, at most 300 characters); empty = the default line."""
        return _public_voice(voices.update_voice(voice, preview_text=text or ""))

    @user_errors
    def delete_voice(voice: str) -> dict[str, Any]:
        """Delete `voice`; history rows keep their own audio. Returns the deleted voice."""
        return _public_voice(voices.delete_voice(voice))

    gr.api(rename_voice, api_name="rename_voice", api_description=rename_voice.__doc__)
    gr.api(update_voice, api_name="update_voice", concurrency_id=GPU, concurrency_limit=gpu_limit,
           api_description=update_voice.__doc__)
    gr.api(delete_voice, api_name="delete_voice", api_description=delete_voice.__doc__)
    gr.api(set_preview_text, api_name="set_preview_text", api_description=set_preview_text.__doc__)

    @user_errors
    def broken_voices() -> list[dict[str, Any]]:
        """Voice folders that cannot be used (reference.wav missing or changed, voice.json unreadable), with
        what is wrong; repair them with /repair_voice or remove them with /delete_voice."""
        return voices.broken_voices()

    gr.api(broken_voices, api_name="broken_voices", queue=False, api_description=broken_voices.__doc__)

    @user_errors
    def repair_voice(voice: str | None, audio: str | None) -> dict:
        return _public_voice(voices.repair_voice(voice, audio))

    @user_errors
    def add_voice(name: str | None, audio: str | None, transcript: str | None, language: str | None) -> dict:
        original = Path(audio).name if audio else None
        return _public_voice(voices.add_voice(name, audio, transcript, language or "en", original_name=original))

    @user_errors
    def export_voice(voice: str | None) -> str:
        return hand_out(studio, voices.export_voice(voice))

    @user_errors
    def import_voice(pack: str | None, name: str | None) -> dict:
        return _public_voice(voices.import_voice(pack, name))

    # file inputs and outputs need File components: hidden ones, as for /synthesize
    with gr.Column(visible=False):
        v_name = gr.Textbox(label="name")
        v_audio = gr.File(label="audio", type="filepath")
        v_transcript = gr.Textbox(label="transcript")
        v_language = gr.Textbox(label="language", value="en")
        v_voice = gr.Textbox(label="voice")
        v_pack_in = gr.File(label="pack", type="filepath", file_types=[".zip"])
        v_pack_out = gr.File(label="pack")
        v_json = gr.JSON(label="voice")
        add_btn, export_btn, import_btn = gr.Button("add"), gr.Button("export"), gr.Button("import")
        repair_btn = gr.Button("repair")
    add_btn.click(
        add_voice, inputs=[v_name, v_audio, v_transcript, v_language], outputs=v_json, api_name="add_voice",
        api_description="Clone a voice: name, audio file (WAV/FLAC/OGG/MP3/M4A), transcript, language "
        "(en, zh, other). The clip is cleaned (mono, 24 kHz, trimmed, cut to a pause, loudness-normalised).",
        concurrency_id=GPU, concurrency_limit=gpu_limit, show_progress="hidden",
    )
    repair_btn.click(
        repair_voice, inputs=[v_voice, v_audio], outputs=v_json, api_name="repair_voice",
        api_description="Give a broken voice (see /broken_voices) a new clip, cleaned like an upload; its name, "
        "transcript and language stay.", concurrency_id=GPU, concurrency_limit=gpu_limit, show_progress="hidden",
    )
    export_btn.click(
        export_voice, inputs=v_voice, outputs=v_pack_out, api_name="export_voice",
        api_description="A voice pack (.zip with reference.wav and voice.json) of the voice.", show_progress="hidden",
    )
    import_btn.click(
        import_voice, inputs=[v_pack_in, v_name], outputs=v_json, api_name="import_voice",
        api_description="Add a voice from a pack made by /export_voice; name (optional) replaces the pack's name.",
        concurrency_id=GPU, concurrency_limit=gpu_limit, show_progress="hidden",
    )
