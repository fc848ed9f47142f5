"""NFE compare tab: renders and objective scores per NFE, the blind A/B panel, results and verdicts.

The A/B mapping never reaches the page: the trial id sits in a gr.State and the clips carry neutral
names (`<trial>-A.wav`); the labels come back only in the answer to the vote. The vote buttons unlock
after both clips were played to the end (a listener on the player HTML triggers the `end` event once
both <audio> elements fired `ended`). One render run covers several voices, texts and seeds; the table
and plots show the mean and 95% interval across sentences of that run, the results panel covers every
render with the chosen reference NFE.
"""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
import csv
import io
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ishowtts_studio.nfe_texts import NFE_TEXTS
from ishowtts_studio.services.inputs import NFE_MAX, NFE_MIN
from ishowtts_studio.services.nfe import NFE_MAX_RENDERS
from ishowtts_studio.services.nfe_plan import INDEXTTS_NFE
from ishowtts_studio.studio import Studio
from ishowtts_studio.ui.common import GPU, user_errors
from ishowtts_studio.ui.plots import nfe_frontier_figure, nfe_rtf_figure, nfe_scores_figure

SMOKE_SCORES_NOTICE = (
    "Smoke mode: the engine runs on random weights, so these renders are noise and the scores and votes "
    "are meaningless; use them only to try the workflow."
)
SCORE_HEADERS = ["NFE", "renders", "PESQ-WB [95% CI]", "STOI [95% CI]", "ESTOI [95% CI]", "RTF [95% CI]",
                 "problems"]
RENDER_HEADERS = ["voice", "text", "seed", "NFE", "PESQ-WB", "STOI", "ESTOI", "RTF", "render", "problem"]
EXPORT_FIELDS = {
    "votes": ["id", "created_at", "trial_id", "reviewer", "nfe_a", "nfe_b", "reference_nfe", "choice", "seconds",
              "voice_slug", "text", "seed"],
    "renders": ["id", "created_at", "voice_slug", "text", "seed", "nfe", "reference_nfe", "pesq_wb", "stoi",
                "estoi", "rtf", "error", "audio_seconds", "smoke"],
    "verdicts": ["reference_nfe", "nfe", "verdict", "reason", "votes", "reference_preferred", "ties",
                 "prefer_reference", "ci_low", "ci_high", "objective_ok", "recommended"],
}
NFE_CHOICES = [2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32]


# ---- API ---------------------------------------------------------------------------------------------
def register_nfe_api(studio: Studio, *, gpu_limit: int = 1) -> None:
    """/nfe_scores, /ab_next_trial, /ab_vote, /ab_results, /nfe_export."""

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
    gr.api(ab_vote, api_name="ab_vote", api_description=ab_vote.__doc__)
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


def ab_clips(studio: Studio, trial_id: str, a: Any, b: Any) -> tuple[str, str]:
    """A trial's two clips as fresh hand-outs: new random addresses every time (never the content hash, so a clip
    heard in one trial is not recognisable by its URL in another), withdrawn when the trial is voted on."""
    return (str(studio.served.hand_out(a, f"{trial_id}-A.wav", tag=trial_id)),
            str(studio.served.hand_out(b, f"{trial_id}-B.wav", tag=trial_id)))


# ---- tables, text and files -------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _with_ci(entry: dict[str, Any], key: str, digits: int) -> str:
    m = entry.get(key)
    if m is None:
        return "—"
    lo, hi = entry.get(f"{key}_ci") or [None, None]
    if lo is None:  # too few values for an interval that means anything
        n = entry.get(f"{key}_n")
        return f"{m:.{digits}f} (n = {n}, no interval)" if n else f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def score_table(summary: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows of SCORE_HEADERS: per NFE, mean [95% interval] across sentences of each score and of RTF."""
    rows = []
    for e in summary:
        label = f"{e['nfe']} (reference)" if e.get("is_reference") else str(e["nfe"])
        rows.append([label, e["renders"],
                     "reference" if e.get("is_reference") else _with_ci(e, "pesq_wb", 2),
                     "reference" if e.get("is_reference") else _with_ci(e, "stoi", 3),
                     "reference" if e.get("is_reference") else _with_ci(e, "estoi", 3),
                     _with_ci(e, "rtf", 3), e["errors"] or ""])
    return rows


def render_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows of RENDER_HEADERS: one per render, with the reason where a row could not be scored."""
    out = []
    for r in rows:
        text = r["text"] if len(r["text"]) <= 60 else r["text"][:57] + "…"
        nfe = "IndexTTS" if r["nfe"] == INDEXTTS_NFE else f"{r['nfe']} (ref)" if r["is_reference"] else r["nfe"]
        out.append([r["voice"], text, r["seed"], nfe,
                    _fmt(r["pesq_wb"], 2), _fmt(r["stoi"]), _fmt(r["estoi"]), _fmt(r["rtf"]),
                    "reused" if r["reused"] else "new", r["error"] or ""])
    return out


def run_summary(rows: list[dict[str, Any]]) -> str:
    new = sum(1 for r in rows if not r["reused"] and r["render_id"] is not None)
    reused = sum(1 for r in rows if r["reused"])
    problems = sum(1 for r in rows if r["error"])
    groups = len({(r["voice"], r["text"], r["seed"]) for r in rows})
    line = (f"**{len(rows)} renders** ({groups} sentence × voice × seed combinations): {new} rendered now, "
            f"{reused} reused from earlier runs.")
    if problems:
        line += f" ⚠️ {problems} could not be scored or rendered — the reason is in *Per-render details*."
    return line


def md_escape(text: Any) -> str:
    """Text shown by Markdown as typed: every ASCII punctuation mark backslash-escaped (CommonMark allows
    that for all of them), so a name cannot start a link, an image, emphasis or an HTML tag."""
    import re

    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(str(text).split()))


def results_markdown(results: dict[str, Any]) -> str:
    lines = [f"**Votes:** {results['total_votes']} · **reference NFE:** {results['reference_nfe']} · "
             f"**margin:** {results['margin']:.0%} · thresholds PESQ-WB ≥ {results['thresholds']['pesq_wb']:g}, "
             f"STOI ≥ {results['thresholds']['stoi']:g}, ESTOI ≥ {results['thresholds']['estoi']:g}, "
             f"at least {results['thresholds']['min_votes']} votes per pair"]
    rec = results.get("recommended_nfe")
    lines.append(f"\n### Recommended NFE: {rec}" if rec is not None else
                 "\n### Recommended NFE: none yet\nNo candidate has been judged indistinguishable from the reference.")
    if results.get("verdicts"):
        lines.append("\n**Verdicts** (candidate against the reference)")
        for v in results["verdicts"]:
            lines.append(f"- NFE {v['nfe']}: **{v['verdict']}** — {v['reason']}")
    else:
        lines.append("\nNo candidate renders yet for this reference NFE.")
    if results.get("scores"):
        lines.append("\n**Objective scores** (all renders against reference NFE "
                     f"{results['reference_nfe']}; mean [95% interval] across sentences)\n")
        lines.append("| " + " | ".join(SCORE_HEADERS) + " |")
        lines.append("|" + "---|" * len(SCORE_HEADERS))
        for row in score_table(results["scores"]):
            lines.append("| " + " | ".join(str(c) for c in row) + " |")
    if results.get("pairs"):
        lines.append("\n**Pairs** (preference for the higher NFE; ties reported separately)\n")
        lines.append("| pair | votes | higher NFE preferred | Wilson 95% | p (exact binomial) | ties |")
        lines.append("|---|---|---|---|---|---|")
        for p in results["pairs"]:
            lo, hi = p["prefer_higher_ci"]
            ci = "—" if lo is None else f"{lo:.2f}–{hi:.2f}"
            pv = "—" if p["p_value"] is None else f"{p['p_value']:.3f}"
            rate = "—" if p["prefer_higher"] is None else f"{p['prefer_higher']:.0%}"
            lines.append(f"| {p['pair']} | {p['votes']} | {rate} | {ci} | {pv} | {p['ties']} |")
    cross = results.get("cross_engine") or {}
    if cross.get("votes"):
        pv = "—" if cross["p_value"] is None else f"{cross['p_value']:.3f}"
        lines.append(f"\n**Cross-engine A/B** (IndexTTS against F5-TTS at NFE {cross['reference_nfe']}): "
                     f"{cross['summary']} IndexTTS won {cross['other_wins']}, F5-TTS {cross['reference_wins']}, "
                     f"ties {cross['ties']}; p (exact binomial, decisive votes) = {pv}.")
    bt = [b for b in results.get("bradley_terry", []) if b["strength"] is not None]
    if bt:
        lines.append("\n**Bradley–Terry log-strength** (95% bootstrap interval): " + ", ".join(
            f"NFE {b['nfe']}: {b['strength']:.2f} [{b['ci'][0]:.2f}, {b['ci'][1]:.2f}]" for b in bt))
    pb = results.get("position_bias", {})
    if pb.get("decisive_votes"):
        lo, hi = pb["a_rate_ci"]
        lines.append(f"\n**Position bias:** A chosen in {pb['a_chosen']} of {pb['decisive_votes']} decisive votes "
                     f"({pb['a_rate']:.0%}, 95% {lo:.0%}–{hi:.0%}, p = {pb['p_value']:.3f}) — "
                     + ("**reviewers favour one side**" if pb["biased"] else "no sign of a side preference"))
    if results.get("votes_per_reviewer"):
        per = results["votes_per_reviewer"]
        lines.append("\n**Votes per reviewer:** " + ", ".join(f"{md_escape(k)}: {v}" for k, v in per.items()))
    return "\n".join(lines)


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


# ---- the tab ---------------------------------------------------------------------------------------
# A clip counts as heard only when it was played through: seconds of real playback (timeupdate steps while
# not seeking) must cover nearly all of it before `ended` fires, so seeking to the end does not count. The
# tally is kept per clip URL, and every trial's clips have their own URLs (`<trial>-A.wav`), so a player
# element that Gradio reuses for the next trial starts that trial from zero.
ENDED_JS = """
const heard = new Set();
const tally = new Map();
const key = (a) => a.currentSrc || a.src;
element.addEventListener('timeupdate', (ev) => {
  const a = ev.target;
  const t = tally.get(key(a)) || {secs: 0, last: null};
  if (t.last !== null && !a.seeking) {
    const step = a.currentTime - t.last;
    if (step > 0 && step < 1.5) t.secs += step;
  }
  t.last = a.currentTime;
  tally.set(key(a), t);
}, true);
element.addEventListener('seeking', (ev) => {
  const t = tally.get(key(ev.target));
  if (t) t.last = null;
}, true);
element.addEventListener('play', (ev) => {
  const t = tally.get(key(ev.target));
  if (t) t.last = ev.target.currentTime;
}, true);
element.addEventListener('ended', (ev) => {
  const a = ev.target;
  const t = tally.get(key(a));
  if (!t || !isFinite(a.duration) || t.secs < 0.9 * a.duration - 0.3) return;
  heard.add(key(a));
  const clips = [...element.querySelectorAll('audio')];
  if (clips.length === 2 && clips.every((c) => heard.has(key(c)))) trigger('end');
}, true);
"""


# Keyboard for the blind A/B (outside text boxes): 1 = A, 2 = no difference, 3 = B (only once the vote is
# unlocked), R = play the last clip again from the start.
AB_KEYS_JS = """
() => {
  if (window.__ishowttsAbKeys) return;
  window.__ishowttsAbKeys = true;
  let last = "a";
  document.addEventListener("play", (e) => {
    const id = e.target && e.target.id;
    if (id === "ab-audio-a" || id === "ab-audio-b") last = id.slice(-1);
  }, true);
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || e.repeat) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    const votes = {"1": "ab-vote-a", "2": "ab-vote-tie", "3": "ab-vote-b"};
    const el = document.getElementById(votes[e.key] || "");
    if (el && el.offsetParent !== null) {
      const btn = el.tagName === "BUTTON" ? el : el.querySelector("button");
      if (btn && !btn.disabled) { e.preventDefault(); btn.click(); }
      return;
    }
    if (e.key === "r" || e.key === "R") {
      const clip = document.getElementById("ab-audio-" + last);
      if (!clip || clip.offsetParent === null) return;
      e.preventDefault();
      document.querySelectorAll("#ab-player audio").forEach((a) => { if (a !== clip) a.pause(); });
      clip.currentTime = 0;
      clip.play();
    }
  }, true);
}
"""


def player_html(a: Any, b: Any) -> str:
    def one(side: str, path: Any) -> str:
        src = "gradio_api/file=" + urllib.parse.quote(str(path))
        return (f'<div class="ab-side"><strong>{side}</strong><br>'
                f'<audio controls preload="auto" src="{src}" id="ab-audio-{side.lower()}"></audio></div>')
    return f'<div style="display:flex;flex-wrap:wrap;gap:1rem 2rem">{one("A", a)}{one("B", b)}</div>'


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
        if not rows:
            return (gr.skip(),) * 6
        from ishowtts_studio.quality import summarise

        ref_nfe = rows[0]["reference_nfe"]
        summary = summarise([r for r in rows if r["nfe"] != INDEXTTS_NFE], ref_nfe)
        th = studio.nfe.thresholds()
        limits = {"pesq_wb": th.pesq_min, "stoi": th.stoi_min, "estoi": th.estoi_min}
        groups = len({(r["voice"], r["text"], r["seed"]) for r in rows})
        note = (f"Showing the **{len(rows)} stored renders** with reference NFE {ref_nfe} ({groups} sentence × voice × "
                "seed combinations) from earlier runs. *Render and score* adds to them.")
        return (note, score_table(summary), nfe_scores_figure(summary, ref_nfe, limits), nfe_rtf_figure(summary),
                nfe_frontier_figure(summary), render_table(rows))

    gr.on(triggers=None, fn=user_errors(stored_view), outputs=[run_md, table, plot_scores, plot_rtf, plot_front,
                                                               details], show_progress="hidden",
          api_visibility="private")

    render.click(user_errors(do_render), inputs=[voices, builtin, custom, nfes, ref, seeds, cross],
                 outputs=[run_md, table, plot_scores, plot_rtf, plot_front, details], show_progress_on=[run_md],
                 concurrency_id=GPU, concurrency_limit=gpu_limit, api_visibility="private")

    gr.Markdown("### 2 · Blind A/B\nEnter your name and ask for a trial: two clips of the same text, voice and "
                "seed at two NFEs (a candidate against the reference, or two neighbouring candidates), "
                "loudness-matched. Play both to the end, then vote. Which NFE was which is shown after the vote.")
    with gr.Row(equal_height=True):
        reviewer = gr.Textbox(label="Your name", max_length=100, elem_id="ab-reviewer", scale=3)
        next_btn = gr.Button("Next trial", variant="primary", elem_id="ab-next", scale=1)
    trial = gr.State(None)
    played = gr.State({"A": False, "B": False, "t0": 0.0})
    # plain <audio> elements for the studio's own WAV files (served as they are, never re-normalised); the
    # listener unlocks the vote through the `end` event once every clip of the current trial has ended
    player = gr.HTML("", elem_id="ab-player", js_on_load=ENDED_JS)
    with gr.Row(elem_id="ab-votes"):  # one row of equal buttons at every width (see the page CSS)
        vote_a = gr.Button("A sounds better [1]", interactive=False, elem_id="ab-vote-a")
        vote_tie = gr.Button("No difference [2]", interactive=False, elem_id="ab-vote-tie")
        vote_b = gr.Button("B sounds better [3]", interactive=False, elem_id="ab-vote-b")
    reveal = gr.Markdown("", elem_id="ab-reveal")

    def locked() -> Any:  # an update, built inside handlers: a Button made here would render on the page
        return gr.Button(interactive=False)

    def next_trial(name: Any) -> tuple[Any, ...]:
        trial_id, a, b = studio.ab.next_trial(name)
        a, b = ab_clips(studio, trial_id, a, b)
        return (trial_id, {"A": False, "B": False, "t0": time.time()}, player_html(a, b), locked(), locked(), locked(),
                "Play both clips to the end to unlock the vote. Keys: 1 = A, 2 = no difference, 3 = B, "
                "R = play the last clip again.")

    next_btn.click(user_errors(next_trial), inputs=[reviewer],
                   outputs=[trial, played, player, vote_a, vote_tie, vote_b, reveal],
                   api_visibility="private")

    def ended(state: dict[str, Any], trial_id: Any) -> tuple[Any, ...]:
        if not trial_id:
            return state, locked(), locked(), locked()
        state = dict(state or {}, A=True, B=True)
        on = gr.Button(interactive=True)
        return state, on, on, on

    player.end(ended, inputs=[played, trial], outputs=[played, vote_a, vote_tie, vote_b],
               api_visibility="private", queue=False)

    def vote(choice: str):
        def fn(trial_id: Any, name: Any, state: dict[str, Any]) -> tuple[Any, ...]:
            if not trial_id:
                raise gr.Error("Ask for a trial first.")
            if not (state and state.get("A") and state.get("B")):
                raise gr.Error("Play both clips to the end before voting.")
            secs = time.time() - float(state.get("t0") or time.time())
            r = studio.ab.vote(trial_id, name, choice, secs)
            studio.served.withdraw_tag(trial_id)  # the trial is over: its clips are no longer served
            said = "no difference" if r["choice"] == "tie" else r["choice"]
            msg = (f"You chose **{said}**. A was **{r['a_label']}**, B was **{r['b_label']}** "
                   f"(reference NFE {r['reference_nfe']}). Press *Next trial* for another.")
            return None, msg, locked(), locked(), locked()
        return fn

    for btn, ch in ((vote_a, "A"), (vote_tie, "tie"), (vote_b, "B")):
        btn.click(user_errors(vote(ch)), inputs=[trial, reviewer, played],
                  outputs=[trial, reveal, vote_a, vote_tie, vote_b], api_visibility="private")

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
