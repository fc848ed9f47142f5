"""Live synthesis tab: text -> speech in a saved voice, streamed as it is generated; the History panel below it
is `history.py`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ishowtts_studio.engines.indextts import EMOTIONS, IndexTTSOptions
from ishowtts_studio.services.inputs import CFG_MAX, CFG_MIN, NFE_MAX, NFE_MIN, SPEED_MAX, SPEED_MIN
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import (
    ENGINE_CHOICES,
    GPU,
    format_stats,
    hand_out,
    md_escape,
    public_message,
    to_gr_error,
    user_errors,
    voice_options,
    voice_picker,
    wav_bytes,
)
from ishowtts_studio.ui.history import LiveControls, build_history_panel, history_rows

log = logging.getLogger(__name__)

STOPPED = "⏹ **Stopped.** The take was cancelled and not saved."

# Ctrl/Cmd+Enter in the text box clicks Synthesize (a multi-line box has no useful `submit`).
SHORTCUT_JS = """
() => {
  if (window.__ishowttsShortcut) return;
  window.__ishowttsShortcut = true;
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || e.isComposing) return;
    if (!e.target || !e.target.closest || !e.target.closest("#live-text")) return;
    e.preventDefault();
    const el = document.getElementById("synth-btn");
    const btn = el && (el.tagName === "BUTTON" ? el : el.querySelector("button"));
    if (btn && !btn.disabled) btn.click();
  }, true);
  // live character counter under the text box (also follows text loaded from the history)
  const count = () => {
    const box = document.querySelector("#live-text textarea");
    const out = document.getElementById("live-char-count");
    if (!box || !out) return;
    const max = Number(out.dataset.max || 0);
    const n = box.value.length;
    out.textContent = `${n} / ${max} characters`;
    out.classList.toggle("over-limit", max > 0 && n > max);
  };
  document.addEventListener("input", count, true);
  setInterval(count, 700);
}
"""


@dataclass
class LiveTab:
    """The components other parts of the page refresh on load."""

    voice: gr.Dropdown
    nfe: gr.Slider
    history: gr.Dataframe
    engine: gr.Radio
    synth: gr.Button

    def on_load(self, studio: Studio) -> tuple[Any, Any, Any]:
        return voice_choices(studio, None), nfe_slider(studio), history_rows(studio)


def synth_button(studio: Studio, engine: str | None) -> gr.Button:
    """Synthesize is greyed out while the chosen engine cannot synthesise (say, F5-TTS weights are missing); the
    status banner says why."""
    usable = True
    for e in studio.engines():
        if e["name"] == (engine or "f5"):
            usable = e["status"] != "unavailable"
    return gr.Button(interactive=usable)


def nfe_hint(studio: Studio) -> str:
    """The NFE slider's help line, naming the studio's current default (and where it came from)."""
    where = " (adopted in NFE compare)" if studio.preferences.default_nfe_adopted() else ""
    return f"Fewer steps = faster; more = cleaner. The studio default is {studio.default_nfe()}{where}."


def nfe_slider(studio: Studio) -> gr.Slider:
    """An update that moves the NFE slider to the studio's default and says so in its help line."""
    return gr.Slider(value=studio.default_nfe(), info=nfe_hint(studio))


def voice_choices(studio: Studio, current: str | None) -> gr.Dropdown:
    return voice_picker(studio, current)


INDEX_DEFAULTS = IndexTTSOptions()


def engine_note(studio: Studio, name: str) -> str:
    """One line under the engine picker: what the chosen engine needs, or that it is ready."""
    if name != "indextts":
        return ""
    for e in studio.engines():
        if e["name"] == name:
            if e["status"] == "unavailable":
                return f"⚠️ **IndexTTS is unavailable:** {md_escape(public_message(e['message']))}"
            version = studio.synthesis.indextts_version()
            state = "loaded" if e["loaded"] else "loads on first use (it may take a while)"
            return f"IndexTTS {version} — {state}. NFE does not apply; its options are under *IndexTTS options*."
    return ""


def _index_options(values: list[Any]) -> dict[str, Any]:
    """The IndexTTS controls' values as the options dict `SynthesisService.start` checks."""
    (temperature, top_p, top_k, beams, rep_pen, max_mel, max_seg, mode, emo_audio, emo_alpha, *vector) = values
    options = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "num_beams": beams,
               "repetition_penalty": rep_pen, "max_mel_tokens": max_mel, "max_text_tokens_per_segment": max_seg}
    if mode and mode != "same as voice":
        options.update(emotion_mode=mode, emotion_audio=emo_audio, emotion_alpha=emo_alpha,
                       emotion_vector=list(vector))
    return options


def _wait_for_engine(studio: Studio, progress: gr.Progress) -> None:
    """While the engine loads, show its progress instead of a silent wait (the request would queue anyway)."""
    while True:
        health = studio.health()
        if health["status"] != "loading":
            return
        progress(float(health.get("progress") or 0.0), desc=f"Engine loading: {health.get('message') or ''}")
        time.sleep(0.25)


def build_live_tab(studio: Studio, *, gpu_limit: int = 1) -> LiveTab:
    options = voice_options(studio)
    max_chars = studio.settings.engine.max_text_chars

    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            with gr.Row():
                engine = gr.Radio(
                    ENGINE_CHOICES, value="f5", label="Engine", elem_id="live-engine",
                    info="F5-TTS (fast, flow matching) or IndexTTS (autoregressive; optional extra).",
                )
            engine_info = gr.Markdown("", elem_id="engine-note")
            with gr.Row():
                voice = gr.Dropdown(
                    choices=options, value=options[0][1] if options else None, label="Voice", scale=5,
                    info="A saved voice from the voice library.", elem_id="live-voice",
                )
                refresh_voices = gr.Button("↻", scale=0, min_width=48, size="sm", elem_id="voices-refresh")
            text = gr.Textbox(
                label="Text", lines=5, max_lines=14, elem_id="live-text",
                placeholder="Type what the voice should say…",
                info=f"Up to {max_chars} characters. Ctrl+Enter (⌘+Enter) synthesises.",
            )
            gr.HTML(f'<div id="live-char-count" data-max="{max_chars}">0 / {max_chars} characters</div>',
                    elem_id="live-char-count-box")
            with gr.Row():
                nfe = gr.Slider(
                    NFE_MIN, NFE_MAX, value=studio.default_nfe(), step=1, label="NFE (ODE steps)",
                    info=nfe_hint(studio), elem_id="live-nfe",
                )
                speed = gr.Slider(
                    SPEED_MIN, SPEED_MAX, value=studio.settings.engine.speed, step=0.05, label="Speed",
                    info="1.0 is the voice's natural pace.",
                )
            with gr.Row():
                seed = gr.Number(
                    value=-1, precision=0, label="Seed", minimum=-1, info="-1 = random; reuse a seed to repeat a take.",
                    elem_id="live-seed",
                )
                remove_silence = gr.Checkbox(
                    value=False, label="Remove long silences", info="Trim leading/trailing silence and long pauses.",
                )
            with gr.Accordion("Advanced", open=False):
                cfg = gr.Slider(
                    CFG_MIN, CFG_MAX, value=studio.settings.engine.cfg_strength, step=0.1, label="CFG strength",
                    info="Classifier-free guidance: higher follows the text and voice more strictly.",
                )
            index_controls, index_panel, emotion_panel = _index_options_panel()
            with gr.Row():
                synth = gr.Button("Synthesize", variant="primary", elem_id="synth-btn", scale=3)
                stop = gr.Button("Stop", variant="stop", scale=1, elem_id="stop-btn")
        with gr.Column(scale=2, min_width=320):
            stream_out = gr.Audio(
                label="Live (streaming)", streaming=True, autoplay=True, interactive=False, elem_id="live-stream",
                buttons=[],
            )
            stats = gr.Markdown("Nothing synthesised yet.", elem_id="stats-line", elem_classes=["stats-line"])
            full_out = gr.Audio(
                label="Full take (WAV)", type="filepath", interactive=False, buttons=["download"],
                elem_id="live-full",
            )
            last_seed = gr.State(None)
            reuse_seed = gr.Button("Reuse seed", size="sm", visible=False, elem_id="reuse-seed")

    history = build_history_panel(
        studio, LiveControls(engine=engine, voice=voice, text=text, nfe=nfe, seed=seed, speed=speed, cfg=cfg,
                             stats=stats), gpu_limit=gpu_limit).table

    # ---- handlers -----------------------------------------------------------------------------------
    def live_synthesize(
        text_v: str, voice_v: str, nfe_v: float, seed_v: float | None, speed_v: float, cfg_v: float,
        remove_v: bool, engine_v: str, *index_v: Any,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's idiom
    ) -> Iterator[tuple[Any, ...]]:
        live = None
        finished = False
        try:
            _wait_for_engine(studio, progress)
            index = engine_v == "indextts"
            if index:
                progress(0.0, desc="IndexTTS: loading the model if needed, then generating…")
            live = studio.synthesis.start(
                text_v, voice_v, nfe=None if index else nfe_v, seed=seed_v, speed=speed_v, cfg_strength=cfg_v,
                remove_silence=bool(remove_v), engine=engine_v,
                indextts=_index_options(list(index_v)) if index else None,
            )
            # the seed is offered for reuse only once the take is complete: a stopped take is not kept
            yield gr.skip(), None, f"Synthesising with seed **{live.seed}**…", gr.skip(), gr.skip(), gr.skip()
            for chunk in live:
                yield wav_bytes(chunk, live.sample_rate), *[gr.skip()] * 5
            outcome = live.finish()
            finished = True
            reuse = gr.Button(f"Reuse seed {live.seed} for the next take", visible=True)
            take = hand_out(studio, outcome.wav_path)  # the file's own descriptive name (voice, text, time)
            yield gr.skip(), take, format_stats(outcome.stats), reuse, live.seed, history_rows(
                studio
            )
        except Exception as exc:
            raise to_gr_error(exc) from exc
        finally:
            if live is not None and not finished:
                live.cancel()  # the page went away or Stop was pressed: do not keep the GPU busy

    synth_event = synth.click(
        live_synthesize,
        inputs=[text, voice, nfe, seed, speed, cfg, remove_silence, engine, *index_controls],
        outputs=[stream_out, full_out, stats, reuse_seed, last_seed, history],
        api_name="live_synthesize",
        concurrency_id=GPU,
        concurrency_limit=gpu_limit,
        show_progress="minimal",
        show_progress_on=[stats],
        api_visibility="private",
    )
    def stopped(done_seed: int | None) -> tuple[Any, ...]:
        # the cancelled take is not saved; "Reuse seed" goes back to the last finished take, if any
        reuse = (gr.Button(f"Reuse seed {done_seed} for the next take", visible=True) if done_seed is not None
                 else gr.Button(visible=False))
        return STOPPED, reuse

    stop.click(stopped, inputs=last_seed, outputs=[stats, reuse_seed], cancels=[synth_event], api_name="live_stop",
               api_visibility="private", queue=False, show_progress="hidden")

    def choose_engine(name: str) -> tuple[Any, ...]:
        index = name == "indextts"
        return (engine_note(studio, name), gr.Slider(visible=not index), gr.Accordion(visible=index),
                gr.Group(visible=index and studio.synthesis.indextts_version() == "2"))

    engine.change(
        user_errors(choose_engine), inputs=engine, outputs=[engine_info, nfe, index_panel, emotion_panel],
        api_name="live_choose_engine", queue=False, show_progress="hidden", api_visibility="private",
    )

    quick: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    refresh_voices.click(
        user_errors(lambda current: voice_choices(studio, current)), inputs=voice, outputs=voice,
        api_name="live_refresh_voices", **quick,
    )
    reuse_seed.click(
        lambda s: s if s is not None else -1, inputs=last_seed, outputs=seed, api_name="live_reuse_seed", **quick
    )

    return LiveTab(voice=voice, nfe=nfe, history=history, engine=engine, synth=synth)


def _index_options_panel() -> tuple[list[Any], gr.Accordion, gr.Group]:
    """IndexTTS's generation options (hidden until IndexTTS is chosen) and version 2's emotion controls."""
    d = INDEX_DEFAULTS
    lim = IndexTTSOptions.LIMITS
    with gr.Accordion("IndexTTS options", open=False, visible=False, elem_id="indextts-options") as panel:
        with gr.Row():
            temperature = gr.Slider(*lim["temperature"][:2], value=d.temperature, step=0.05, label="Temperature",
                                    info="Sampling temperature: lower is steadier, higher more varied.")
            top_p = gr.Slider(*lim["top_p"][:2], value=d.top_p, step=0.01, label="Top-p")
            top_k = gr.Slider(*lim["top_k"][:2], value=d.top_k, step=1, label="Top-k", info="0 = off")
        with gr.Row():
            beams = gr.Slider(*lim["num_beams"][:2], value=d.num_beams, step=1, label="Beams", elem_id="indextts-beams")
            rep_pen = gr.Slider(*lim["repetition_penalty"][:2], value=d.repetition_penalty, step=0.5,
                                label="Repetition penalty")
        with gr.Row():
            max_mel = gr.Slider(*lim["max_mel_tokens"][:2], value=d.max_mel_tokens, step=10, label="Max mel tokens",
                                elem_id="indextts-max-mel",
                                info="Upper bound of one segment's length (about 1/21 s per token).")
            max_seg = gr.Slider(*lim["max_text_tokens_per_segment"][:2], value=d.max_text_tokens_per_segment,
                                step=5, label="Max text tokens per segment")
        with gr.Group(visible=False, elem_id="indextts-emotion") as emotion:
            mode = gr.Radio(list(IndexTTSOptions.EMOTION_MODES), value=d.emotion_mode, label="Emotion (IndexTTS 2)")
            emo_audio = gr.Audio(label="Emotion reference audio", type="filepath", sources=["upload", "microphone"])
            emo_alpha = gr.Slider(0.0, 1.0, value=d.emotion_alpha, step=0.05, label="Emotion strength")
            with gr.Row():
                vector = [gr.Slider(0.0, 1.0, value=0.0, step=0.05, label=e.capitalize(), min_width=100)
                          for e in EMOTIONS]
    controls = [temperature, top_p, top_k, beams, rep_pen, max_mel, max_seg, mode, emo_audio, emo_alpha, *vector]
    return controls, panel, emotion
