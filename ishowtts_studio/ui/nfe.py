"""NFE compare tab: renders and objective scores per NFE, the blind A/B panel, results and verdicts.

The A/B mapping never reaches the page: the trial id sits in a gr.State and the clips carry neutral
names (`<trial>-A.wav`); the labels come back only in the answer to the vote. The vote buttons unlock
after both clips were played to the end (the audio players' `stop` event fires on `ended`).
"""

# No `from __future__ import annotations` here: gr.api reads the real type hints for its API schema.
import csv
import io
import json
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import gradio as gr
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ishowtts_studio.nfe_texts import NFE_TEXTS  # noqa: E402
from ishowtts_studio.studio import Studio  # noqa: E402
from ishowtts_studio.ui.common import GPU, to_gr_error, user_errors  # noqa: E402

SMOKE_SCORES_NOTICE = (
    "Smoke mode: the engine runs on random weights, so these renders are noise and the scores and votes "
    "are meaningless; use them only to try the workflow."
)
SCORE_HEADERS = ["NFE", "PESQ-WB", "PESQ 95% CI", "STOI", "ESTOI", "RTF", "renders", "problems"]


# ---- API ---------------------------------------------------------------------------------------------
def register_nfe_api(studio: Studio, *, gpu_limit: int = 1) -> None:
    """/nfe_scores, /ab_next_trial, /ab_vote, /ab_results."""

    def nfe_scores(text: str, voice: str, nfes: list[int] | None = None, reference_nfe: int | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
        """Render `text` at each NFE and the reference NFE (same seed and duration); rows of nfe, pesq_wb,
        stoi, estoi, rtf (and error, a message when a row could not be scored)."""
        try:
            rows = studio.nfe_scores(text, voice, nfes, reference_nfe, seed)
        except Exception as exc:
            raise to_gr_error(exc) from exc
        return [{k: r[k] for k in ("nfe", "pesq_wb", "stoi", "estoi", "rtf", "error", "is_reference")} for r in rows]

    def ab_vote(trial_id: str, reviewer: str, choice: str) -> dict[str, Any]:
        """Vote on a trial: choice A, B or tie. Returns the revealed labels (which NFE was A and B)."""
        try:
            return studio.ab_vote(trial_id, reviewer, choice)
        except Exception as exc:
            raise to_gr_error(exc) from exc

    def ab_results(reference_nfe: int | None = None) -> dict[str, Any]:
        """Statistics: pairs (Wilson CI, binomial p, ties), Bradley–Terry, position bias, votes per reviewer,
        verdicts, recommended_nfe, scores per NFE. reference_nfe None = the configured one (else the latest)."""
        try:
            return studio.ab_results(reference_nfe)
        except Exception as exc:
            raise to_gr_error(exc) from exc

    gr.api(nfe_scores, api_name="nfe_scores", concurrency_id=GPU, concurrency_limit=gpu_limit,
           api_description=nfe_scores.__doc__)
    gr.api(ab_vote, api_name="ab_vote", api_description=ab_vote.__doc__)
    gr.api(ab_results, api_name="ab_results", api_description=ab_results.__doc__)

    def ab_next_trial(reviewer: str) -> tuple[str, str, str]:
        try:
            trial_id, a, b = studio.ab_next_trial(reviewer)
        except Exception as exc:
            raise to_gr_error(exc) from exc
        return trial_id, str(a), str(b)

    with gr.Column(visible=False):
        reviewer = gr.Textbox(label="reviewer")
        trial = gr.Textbox(label="trial_id")
        clip_a = gr.File(label="clip_a")
        clip_b = gr.File(label="clip_b")
        trigger = gr.Button("ab_next_trial")
    trigger.click(ab_next_trial, inputs=[reviewer], outputs=[trial, clip_a, clip_b], api_name="ab_next_trial",
                  api_description="reviewer -> (trial id, clip A file, clip B file); nothing else",
                  show_progress="hidden")


# ---- figures and tables ---------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def score_table(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for s in results.get("scores", []):
        lo, hi = s.get("pesq_wb_ci") or [None, None]
        ci = "—" if lo is None else f"{lo:.2f}–{hi:.2f}"
        rows.append([s["nfe"], _fmt(s["pesq_wb"], 2), ci, _fmt(s["stoi"]), _fmt(s["estoi"]), _fmt(s["rtf"]),
                     s["renders"], s["errors"]])
    return rows


def score_figure(results: dict[str, Any]) -> Any:
    scores = [s for s in results.get("scores", []) if s["renders"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    nfes = [s["nfe"] for s in scores]
    ref = results.get("reference_nfe")
    cand = [s for s in scores if s["nfe"] != ref]
    ax = axes[0]
    for key, label in (("pesq_wb", "PESQ-WB (÷4.64)"), ("stoi", "STOI"), ("estoi", "ESTOI")):
        pts = [(s["nfe"], s[key] / (4.64 if key == "pesq_wb" else 1)) for s in cand if s[key] is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xlabel("NFE")
    ax.set_title(f"Scores vs NFE (reference NFE {ref})")
    ax.legend(fontsize=8)
    ax = axes[1]
    pts = [(s["nfe"], s["rtf"]) for s in scores if s["rtf"] is not None]
    if pts:
        ax.plot(*zip(*pts), marker="o", color="tab:red")
    ax.set_xlabel("NFE")
    ax.set_ylabel("RTF (lower is faster)")
    ax.set_title("RTF vs NFE")
    ax = axes[2]
    pts = [(s["rtf"], s["pesq_wb"], s["nfe"]) for s in cand if s["rtf"] is not None and s["pesq_wb"] is not None]
    for x, y, n in pts:
        ax.scatter([x], [y], color="tab:blue")
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    frontier, best = [], -1.0
    for x, y, _ in sorted(pts):
        if y > best:
            frontier.append((x, y))
            best = y
    if len(frontier) > 1:
        ax.plot(*zip(*frontier), color="tab:green", label="frontier")
        ax.legend(fontsize=8)
    ax.set_xlabel("RTF")
    ax.set_ylabel("PESQ-WB")
    ax.set_title("Quality / speed frontier")
    if not nfes:
        for a in axes:
            a.text(0.5, 0.5, "no renders yet", ha="center", va="center", transform=a.transAxes)
    fig.tight_layout()
    plt.close(fig)
    return fig


def results_markdown(results: dict[str, Any]) -> str:
    lines = [f"**Votes:** {results['total_votes']} · **reference NFE:** {results['reference_nfe']} · "
             f"**margin:** {results['margin']:.0%}"]
    rec = results.get("recommended_nfe")
    lines.append(f"**Recommended NFE:** {rec}" if rec is not None else
                 "**Recommended NFE:** none yet (no candidate judged indistinguishable)")
    for v in results.get("verdicts", []):
        lines.append(f"- NFE {v['nfe']}: **{v['verdict']}** — {v['reason']}")
    pb = results.get("position_bias", {})
    if pb.get("decisive_votes"):
        lines.append(f"\nPosition bias: A chosen {pb['a_chosen']} of {pb['decisive_votes']} decisive votes "
                     f"(p = {pb['p_value']:.3f}){' — **biased**' if pb['biased'] else ''}")
    if results.get("pairs"):
        lines.append("\n| pair | votes | higher NFE preferred | Wilson 95% | p (exact) | ties |")
        lines.append("|---|---|---|---|---|---|")
        for p in results["pairs"]:
            lo, hi = p["prefer_higher_ci"]
            ci = "—" if lo is None else f"{lo:.2f}–{hi:.2f}"
            pv = "—" if p["p_value"] is None else f"{p['p_value']:.3f}"
            rate = "—" if p["prefer_higher"] is None else f"{p['prefer_higher']:.0%}"
            lines.append(f"| {p['pair']} | {p['votes']} | {rate} | {ci} | {pv} | {p['ties']} |")
    if results.get("bradley_terry"):
        lines.append("\nBradley–Terry log-strength (95% bootstrap): " + ", ".join(
            f"NFE {b['nfe']}: {_fmt(b['strength'], 2)}"
            + ("" if b["ci"][0] is None else f" [{b['ci'][0]:.2f}, {b['ci'][1]:.2f}]")
            for b in results["bradley_terry"]))
    if results.get("votes_per_reviewer"):
        per = results["votes_per_reviewer"]
        lines.append("\nVotes per reviewer: " + ", ".join(f"{k}: {v}" for k, v in per.items()))
    return "\n".join(lines)


def export_files(studio: Studio) -> list[str]:
    data = studio.nfe_export()
    folder = Path(tempfile.mkdtemp(prefix="nfe-export-"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = []
    for name, rows in data.items():
        path = folder / f"nfe-{name}-{stamp}.csv"
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        out.append(str(path))
    path = folder / f"nfe-export-{stamp}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    out.append(str(path))
    return out


# ---- the tab ---------------------------------------------------------------------------------------
ENDED_JS = """
const done = new WeakSet();
element.addEventListener('ended', (ev) => {
  done.add(ev.target);
  const clips = [...element.querySelectorAll('audio')];
  if (clips.length === 2 && clips.every((c) => done.has(c))) trigger('end');
}, true);
"""


def player_html(a: Any, b: Any) -> str:
    def one(side: str, path: Any) -> str:
        src = "gradio_api/file=" + urllib.parse.quote(str(path))
        return (f'<div class="ab-side"><strong>{side}</strong><br>'
                f'<audio controls preload="auto" src="{src}" id="ab-audio-{side.lower()}"></audio></div>')
    return f'<div style="display:flex;gap:2rem">{one("A", a)}{one("B", b)}</div>'


def build_nfe_tab(studio: Studio, *, gpu_limit: int = 1) -> None:
    if studio.is_smoke:
        gr.Markdown(f"⚠️ **{SMOKE_SCORES_NOTICE}**", elem_id="nfe-smoke-notice")
    gr.Markdown("### 1 · Render and score\nEach candidate is rendered with the same seed and duration as the "
                "reference, then scored against it (PESQ-WB at 16 kHz, STOI, ESTOI). Renders are reused.")
    with gr.Row():
        voice = gr.Dropdown(choices=studio.voice_names(), value=(studio.voice_names() or [None])[0],
                            label="Voice", elem_id="nfe-voice")
        builtin = gr.Dropdown(choices=list(NFE_TEXTS), value=NFE_TEXTS[1], label="Built-in sentence",
                              elem_id="nfe-builtin")
    text = gr.Textbox(label="Text (custom text overrides the built-in sentence)", lines=2, elem_id="nfe-text")
    with gr.Row():
        nfes = gr.CheckboxGroup(choices=[4, 5, 6, 7, 8, 10, 12, 16, 20, 24], value=studio.nfe_candidates_default(),
                                label="Candidate NFEs", elem_id="nfe-candidates")
        ref = gr.Number(value=studio.nfe_reference_default(), label="Reference NFE", precision=0, elem_id="nfe-ref")
        seed = gr.Number(value=0, label="Seed", precision=0, elem_id="nfe-seed")
        all_texts = gr.Checkbox(value=False, label="All built-in sentences", elem_id="nfe-all")
    render = gr.Button("Render and score", variant="primary", elem_id="nfe-render")
    table = gr.Dataframe(headers=SCORE_HEADERS, value=[], label="Per NFE: mean across sentences",
                         interactive=False, elem_id="nfe-table")
    plot = gr.Plot(label="Scores, RTF and frontier", elem_id="nfe-plot")

    def do_render(voice_v: Any, builtin_v: Any, text_v: Any, nfes_v: Any, ref_v: Any, seed_v: Any, all_v: bool,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, Any]:  # noqa: B008
        texts = list(NFE_TEXTS) if all_v else [text_v.strip() if text_v and text_v.strip() else builtin_v]
        for i, t in enumerate(texts):
            def prog(frac: float, desc: str = "", i: int = i) -> None:
                progress((i + frac) / len(texts), desc=f"sentence {i + 1}/{len(texts)}: {desc}")
            prog(0.0, "starting")
            studio.nfe_scores(t, voice_v, nfes_v, ref_v, seed_v, progress=prog)
        res = studio.ab_results(ref_v, boot=50)
        return score_table(res), score_figure(res)

    render.click(user_errors(do_render), inputs=[voice, builtin, text, nfes, ref, seed, all_texts],
                 outputs=[table, plot], concurrency_id=GPU, concurrency_limit=gpu_limit, api_visibility="private")

    gr.Markdown("### 2 · Blind A/B\nListen to both clips to the end, then vote. Which NFE is which is revealed "
                "after the vote.")
    with gr.Row():
        reviewer = gr.Textbox(label="Your name", elem_id="ab-reviewer")
        next_btn = gr.Button("Next trial", elem_id="ab-next")
    trial = gr.State(None)
    played = gr.State({"A": False, "B": False, "t0": 0.0})
    # plain <audio> elements for the studio's own WAV files (served as they are, never re-normalised); the
    # listener unlocks the vote through the `end` event once every clip of the current trial has ended
    player = gr.HTML("", elem_id="ab-player", js_on_load=ENDED_JS)
    with gr.Row():
        vote_a = gr.Button("A sounds better", interactive=False, elem_id="ab-vote-a")
        vote_tie = gr.Button("No difference", interactive=False, elem_id="ab-vote-tie")
        vote_b = gr.Button("B sounds better", interactive=False, elem_id="ab-vote-b")
    reveal = gr.Markdown("", elem_id="ab-reveal")

    def locked() -> Any:  # an update, built inside handlers: a Button made here would render on the page
        return gr.Button(interactive=False)

    def next_trial(name: Any) -> tuple[Any, ...]:
        trial_id, a, b = studio.ab_next_trial(name)
        return (trial_id, {"A": False, "B": False, "t0": time.time()}, player_html(a, b), locked(), locked(), locked(),
                "Play both clips to the end to unlock the vote.")

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
            r = studio.ab_vote(trial_id, name, choice, secs)
            msg = (f"You chose **{'no difference' if r['choice'] == 'tie' else r['choice']}**. "
                   f"A was **NFE {r['a_nfe']}**, B was **NFE {r['b_nfe']}** (reference NFE {r['reference_nfe']}).")
            return None, msg, locked(), locked(), locked()
        return fn

    for btn, ch in ((vote_a, "A"), (vote_tie, "tie"), (vote_b, "B")):
        btn.click(user_errors(vote(ch)), inputs=[trial, reviewer, played],
                  outputs=[trial, reveal, vote_a, vote_tie, vote_b], api_visibility="private")

    gr.Markdown("### 3 · Results and decision")
    with gr.Row():
        refresh = gr.Button("Refresh results", elem_id="nfe-refresh")
        adopt = gr.Button("Adopt recommended NFE as default", elem_id="nfe-adopt")
        export = gr.Button("Export votes and scores (CSV + JSON)", elem_id="nfe-export")
    results_md = gr.Markdown("", elem_id="nfe-results")
    files = gr.File(label="Export", file_count="multiple", elem_id="nfe-export-files")
    adopt_msg = gr.Markdown("", elem_id="nfe-adopt-msg")

    def show_results() -> tuple[Any, ...]:
        res = studio.ab_results()
        return results_markdown(res), score_table(res), score_figure(res)

    refresh.click(user_errors(show_results), outputs=[results_md, table, plot], api_visibility="private")

    def do_adopt() -> str:
        rec = studio.ab_results(boot=20).get("recommended_nfe")
        if rec is None:
            raise gr.Error("No candidate has been judged indistinguishable yet, so there is nothing to adopt.")
        studio.set_default_nfe(rec)
        return f"Default NFE is now **{rec}**; Live synthesis uses it (it persists across restarts)."

    adopt.click(user_errors(do_adopt), outputs=[adopt_msg], api_visibility="private")
    export.click(user_errors(lambda: export_files(studio)), outputs=[files], api_visibility="private")
