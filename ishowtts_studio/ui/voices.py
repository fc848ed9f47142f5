"""Voices tab: clone a voice from an upload or a recording (cleaned, previewed before saving) and manage
the library: play, preview synthesis, rename, edit transcript/language, delete (confirmed), export/import."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ishowtts_studio.audio import write_wav_atomic
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import (
    ENGINE_CHOICES,
    GPU,
    format_stats,
    hand_out,
    md_escape,
    picked_voice,
    short_time,
    to_gr_error,
    user_errors,
    voice_options,
)

LANG_CHOICES = [("English", "en"), ("Chinese", "zh"), ("Other", "other")]
TABLE_HEADERS = ["name", "language", "duration (s)", "created", "times used", "status"]


@dataclass
class VoicesTab:
    table: gr.Dataframe
    chosen: gr.Dropdown
    details: list[Any]  # reference player, transcript, language, new-name and preview-text boxes of the voice
    notice: gr.Markdown  # says when the chosen voice is broken, and how to fix it

    @property
    def outputs(self) -> list[Any]:
        return [self.table, self.chosen, self.notice, *self.details]

    def refresh(self, studio: Studio, current: str | None = None) -> tuple[Any, ...]:
        # the value is the slug: a rename keeps the selection
        options = library_options(studio)
        value = picked_voice(options, current)
        return (voice_table(studio), gr.Dropdown(choices=options, value=value), broken_notice(studio, value),
                *voice_details(studio, value))


def library_options(studio: Studio) -> list[tuple[str, str]]:
    """(label, slug) of every voice the tab can pick: usable ones, then broken ones (to repair or delete)."""
    return voice_options(studio) + [(f"{b['name']} (broken)", b["slug"]) for b in studio.voices.broken_voices()]


def broken_notice(studio: Studio, voice: str | None) -> str:
    """A warning when `voice` (slug or name) is a broken voice: what is wrong and how to fix it; "" otherwise."""
    for b in studio.voices.broken_voices():
        if voice in (b["slug"], b["name"]):
            fix = ("Upload a new clip under **Repair a broken voice**, or delete it." if b["repairable"]
                   else "Delete it and add it again.")
            return f"⚠️ **{md_escape(b['name'])}** is broken: {md_escape(b['problem'])}. {fix}"
    return ""


def voice_details(studio: Studio, name: str | None) -> tuple[Any, ...]:
    if not name or broken_notice(studio, name):
        return None, "", None, "", ""
    voice = studio.voices.get_voice(name)
    return (hand_out(studio, voice.audio_path, "reference.wav"), voice.transcript, voice.language, voice.name,
            voice.preview_text or "")


def voice_table(studio: Studio) -> list[list[Any]]:
    rows = [
        [v["name"], v["language"], round(float(v["duration_s"]), 2), short_time(v.get("created")), v["times_used"],
         "ok"]
        for v in studio.voices.list_voices()
    ]
    rows += [[b["name"], "", None, "", None, f"⚠️ broken: {b['problem']}"] for b in studio.voices.broken_voices()]
    return rows


def words_kept(transcript: str | None, kept_s: float, speech_s: float) -> str | None:
    """After a cut: roughly which words of the transcript remain, estimated from the share of speech kept (no
    word timings are known), so the creator knows where to shorten the transcript."""
    words = " ".join(str(transcript or "").split()).split(" ")
    if not words or not words[0] or speech_s <= 0:
        return None
    n = max(1, min(len(words), round(len(words) * min(1.0, kept_s / speech_s))))
    if n >= len(words):
        return None
    return (f"About the first {n} of {len(words)} words remain (estimated from the length kept): "
            f"“{html.escape(' '.join(words[:n]))} …”. Listen to *After* and shorten the transcript to the words "
            "you hear.")


def clean_preview(studio: Studio, audio_path: str | None,
                  transcript: str | None = None) -> tuple[str | None, str | None, str]:
    """(original, cleaned WAV path, Markdown report) for the before/after preview."""
    cleaned = studio.voices.clean_voice_clip(audio_path)
    # written straight into a served folder of its own: nothing to clean up under samples/
    out = write_wav_atomic(studio.served.folder() / "cleaned.wav", cleaned.audio, cleaned.sample_rate)
    lines = [
        f"**Before:** {cleaned.original_duration_s:.2f} s, {cleaned.original_sample_rate} Hz, "
        f"{cleaned.original_channels} channel(s) · **after:** {cleaned.duration_s:.2f} s, "
        f"{cleaned.sample_rate} Hz mono, {cleaned.loudness_lufs:.1f} LUFS"
    ]
    lines += [f"- {m}" for m in cleaned.messages]
    if cleaned.cut_at_s is not None:
        speech = cleaned.original_duration_s - cleaned.trimmed_start_s - cleaned.trimmed_end_s
        kept = words_kept(transcript, cleaned.duration_s, speech)
        if kept:
            lines.append(f"- {kept}")
    lines += [f"- ⚠️ {w}" for w in cleaned.warnings]
    return audio_path, str(out), "\n".join(lines)


def keep_panel_on_error(fn: Callable[..., tuple[Any, ...]], n_rest: int) -> Callable[..., tuple[Any, ...]]:
    """Wrap a handler whose first output is a status line: on an error, the status says what to fix and the
    other `n_rest` outputs are left as they are (raising would paint every output with an "Error" badge and
    blank the library panel)."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> tuple[Any, ...]:
        try:
            return fn(*args)
        except Exception as exc:
            message = to_gr_error(exc).message
            gr.Warning(message)
            return (f"⚠️ {html.escape(message)}", *[gr.skip()] * n_rest)

    return wrapper


def build_voices_tab(studio: Studio, *, gpu_limit: int = 1) -> VoicesTab:
    quick = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    gpu = {"concurrency_id": GPU, "concurrency_limit": gpu_limit, "api_visibility": "private"}

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            gr.Markdown("### Add a voice\nUpload or record 5-12 s of one person speaking clearly, then type "
                        "exactly what they say.")
            clip = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip", elem_id="voice-clip")
            name = gr.Textbox(label="Name", placeholder="e.g. Alice (calm)", elem_id="voice-name")
            transcript = gr.Textbox(label="Transcript", lines=2, elem_id="voice-transcript",
                                    placeholder="Exactly the words spoken in the clip")
            transcribe_btn = gr.Button("Transcribe automatically", size="sm", elem_id="voice-transcribe-btn",
                                        visible=studio.voices.can_transcribe)
            language = gr.Radio(LANG_CHOICES, value="en", label="Language", elem_id="voice-language")
            with gr.Row():
                preview_btn = gr.Button("Clean & preview", elem_id="voice-preview-btn")
                save_btn = gr.Button("Save voice", variant="primary", elem_id="voice-save-btn")
            report = gr.Markdown(elem_id="voice-clean-report")
            with gr.Row():
                before = gr.Audio(label="Before (original)", interactive=False, elem_id="voice-before")
                after = gr.Audio(label="After (cleaned)", interactive=False, elem_id="voice-after")
            saved = gr.Markdown(elem_id="voice-saved")
            saved_audio = gr.Audio(label="Preview line in the new voice", interactive=False,
                                   elem_id="voice-saved-audio")

        with gr.Column(scale=1):
            gr.Markdown("### Library")
            table = gr.Dataframe(
                headers=TABLE_HEADERS, value=voice_table(studio), interactive=False, elem_id="voices-table",
                wrap=True,
            )
            options = library_options(studio)
            chosen = gr.Dropdown(choices=options, label="Voice", elem_id="voices-chosen",
                                 value=options[0][1] if options else None)
            notice = gr.Markdown(elem_id="voices-broken-notice")
            reference = gr.Audio(label="Reference clip", interactive=False, elem_id="voices-reference")
            with gr.Row():
                preview_engine = gr.Radio(ENGINE_CHOICES, value="f5", label="Preview with", scale=2,
                                          elem_id="voices-preview-engine")
                synth_btn = gr.Button("Preview synthesis", elem_id="voices-synth-btn", scale=1)
            synth_audio = gr.Audio(label="Preview", interactive=False, elem_id="voices-synth-audio")
            synth_stats = gr.Markdown(elem_id="voices-synth-stats")
            with gr.Accordion("Rename / edit transcript", open=False):
                new_name = gr.Textbox(label="New name", elem_id="voices-new-name")
                rename_btn = gr.Button("Rename", elem_id="voices-rename-btn")
                edit_transcript = gr.Textbox(label="Transcript", lines=2, elem_id="voices-edit-transcript")
                edit_language = gr.Radio(LANG_CHOICES, label="Language", elem_id="voices-edit-language")
                edit_preview = gr.Textbox(label="Preview text", max_lines=2, elem_id="voices-edit-preview",
                                          placeholder="What Preview synthesis says (empty = the default line)")
                update_btn = gr.Button("Save transcript, language & preview text", elem_id="voices-update-btn")
            with gr.Accordion("Delete", open=False):
                delete_btn = gr.Button("Delete voice…", variant="stop", elem_id="voices-delete-btn")
                with gr.Row(visible=False) as confirm_row:
                    confirm_btn = gr.Button("Yes, delete it", variant="stop", elem_id="voices-confirm-delete")
                    cancel_btn = gr.Button("Cancel", elem_id="voices-cancel-delete")
            with gr.Accordion("Repair a broken voice", open=False):
                repair_clip = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                       label="New clip for the chosen voice (its name and transcript stay)",
                                       elem_id="voices-repair-clip")
                repair_btn = gr.Button("Repair with this clip", elem_id="voices-repair-btn")
            with gr.Accordion("Export / import a voice pack", open=False):
                export_btn = gr.Button("Export as .zip", elem_id="voices-export-btn")
                export_file = gr.File(label="Voice pack", interactive=False, elem_id="voices-export-file")
                import_file = gr.File(label="Voice pack to import (.zip)", file_types=[".zip"], type="filepath",
                                      elem_id="voices-import-file")
                import_name = gr.Textbox(label="Name for the imported voice (empty = the pack's name)",
                                         elem_id="voices-import-name")
                import_btn = gr.Button("Import", elem_id="voices-import-btn")
            status = gr.Markdown(elem_id="voices-status")

    tab = VoicesTab(table=table, chosen=chosen, notice=notice,
                    details=[reference, edit_transcript, edit_language, new_name, edit_preview])

    # ---- adding ---------------------------------------------------------------------------------
    preview_btn.click(user_errors(lambda a, t: clean_preview(studio, a, t)), inputs=[clip, transcript],
                      outputs=[before, after, report],
                      api_name="voices_clean_preview", show_progress="minimal", api_visibility="private")

    transcribe_btn.click(user_errors(studio.voices.transcribe_clip), inputs=clip, outputs=transcript,
                         api_name="voices_transcribe", **gpu)

    form = [clip, name, transcript, before, after, report]

    def save(a: str | None, n: str, t: str, lang: str) -> tuple[Any, ...]:
        v = studio.voices.add_voice(n, a, t, lang, original_name=Path(a).name if a else None)
        msgs = v["cleaning"]["messages"] + [f"⚠️ {w}" for w in v["cleaning"]["warnings"]]
        text = f"✅ **Saved {v['name']}** ({v['duration_s']:.2f} s). " + " ".join(msgs)
        preview = None
        try:
            outcome = studio.voices.preview_voice(v["slug"], nfe=min(16, studio.synthesis.default_nfe()))
            preview = hand_out(studio, outcome.wav_path, "preview.wav")
        except Exception as exc:  # the voice is saved; only the preview line failed
            text += f"\n\nThe preview line could not be synthesised: {to_gr_error(exc).message}"
        # a saved voice clears the form, so the next one starts empty
        return (text, preview, *tab.refresh(studio, v["slug"]), None, "", "", None, None, "")

    save_btn.click(keep_panel_on_error(save, 1 + len(tab.outputs) + len(form)), inputs=[clip, name, transcript,
                   language], outputs=[saved, saved_audio, *tab.outputs, *form], api_name="voices_save", **gpu)

    # ---- managing -------------------------------------------------------------------------------
    chosen.change(user_errors(lambda v: broken_notice(studio, v)), inputs=chosen, outputs=notice,
                  api_name="voices_broken_notice", **quick)
    # on change, not input: the dropdown fires input again when it loses focus (the user clicking into the name
    # box to type), and that second answer, late on a busy machine, wrote the old name back over the typing
    chosen.change(user_errors(lambda v: voice_details(studio, v)), inputs=chosen, outputs=tab.details,
                 api_name="voices_select", **quick)

    def repair(v: str | None, clip: str | None) -> tuple[Any, ...]:
        voice = studio.voices.repair_voice(v, clip)
        return (f"Repaired **{md_escape(voice['name'])}** with the new clip.", *tab.refresh(studio, voice["name"]))

    repair_btn.click(user_errors(repair), inputs=[chosen, repair_clip], outputs=[status, *tab.outputs],
                     api_name="voices_repair", **gpu)

    def synth(v: str | None, engine: str) -> tuple[str, str]:
        outcome = studio.voices.preview_voice(v, nfe=min(16, studio.synthesis.default_nfe()), engine=engine)
        return hand_out(studio, outcome.wav_path, "preview.wav"), format_stats(outcome.stats)

    synth_btn.click(user_errors(synth), inputs=[chosen, preview_engine], outputs=[synth_audio, synth_stats],
                    api_name="voices_preview_synthesis", **gpu)

    def rename(v: str | None, n: str) -> tuple[Any, ...]:
        voice = studio.voices.rename_voice(v, n)
        return (f"Renamed to **{md_escape(voice['name'])}**.", *tab.refresh(studio, voice["slug"]))

    rename_btn.click(keep_panel_on_error(rename, len(tab.outputs)), inputs=[chosen, new_name],
                     outputs=[status, *tab.outputs], api_name="voices_rename", api_visibility="private")

    def update(v: str | None, t: str, lang: str | None, preview: str | None) -> tuple[Any, ...]:
        voice = studio.voices.update_voice(v, t, lang, preview or "")
        return (f"Saved the transcript, language and preview text of **{md_escape(voice['name'])}**.",
                *tab.refresh(studio, voice["slug"]))

    update_btn.click(keep_panel_on_error(update, len(tab.outputs)),
                     inputs=[chosen, edit_transcript, edit_language, edit_preview],
                     outputs=[status, *tab.outputs], api_name="voices_update", **gpu)

    delete_btn.click(lambda: gr.Row(visible=True), outputs=confirm_row, **quick)
    cancel_btn.click(lambda: gr.Row(visible=False), outputs=confirm_row, **quick)

    def delete(v: str | None) -> tuple[Any, ...]:
        voice = studio.voices.delete_voice(v)
        return (f"Deleted **{md_escape(voice['name'])}**.", gr.Row(visible=False), *tab.refresh(studio, None))

    confirm_btn.click(keep_panel_on_error(delete, 1 + len(tab.outputs)), inputs=chosen,
                      outputs=[status, confirm_row, *tab.outputs], api_name="voices_delete", api_visibility="private")

    export_btn.click(user_errors(lambda v: hand_out(studio, studio.voices.export_voice(v))), inputs=chosen,
                     outputs=export_file, api_name="voices_export", api_visibility="private")

    def do_import(pack: str | None, n: str | None) -> tuple[Any, ...]:
        voice = studio.voices.import_voice(pack, n)
        return (f"Imported **{md_escape(voice['name'])}**.", *tab.refresh(studio, voice["slug"]))

    import_btn.click(keep_panel_on_error(do_import, len(tab.outputs)), inputs=[import_file, import_name],
                     outputs=[status, *tab.outputs], api_name="voices_import", **gpu)
    return tab
