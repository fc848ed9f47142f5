"""The NFE tab's text: the per-NFE score table, per-render rows, the run summary and the results' Markdown
(no gradio, so the export and tests can use them alone)."""

from typing import Any

from ishowtts_studio.services.nfe_plan import INDEXTTS_NFE
from ishowtts_studio.ui.common import md_escape

SCORE_HEADERS = ["NFE", "renders", "PESQ-WB [95% CI]", "STOI [95% CI]", "ESTOI [95% CI]", "RTF [95% CI]",
                 "problems"]
RENDER_HEADERS = ["voice", "text", "seed", "NFE", "PESQ-WB", "STOI", "ESTOI", "RTF", "render", "problem"]


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


def results_markdown(results: dict[str, Any]) -> str:
    lines = [f"**Votes:** {results['total_votes']} · **reference NFE:** {results['reference_nfe']} · "
             f"**margin:** {results['margin']:.0%} · thresholds PESQ-WB ≥ {results['thresholds']['pesq_wb']:g}, "
             f"STOI ≥ {results['thresholds']['stoi']:g}, ESTOI ≥ {results['thresholds']['estoi']:g}, "
             f"at least {results['thresholds']['min_votes']} votes per pair"]
    rec = results.get("recommended_nfe")
    note = results.get("recommendation_note") or "no candidate has been judged indistinguishable from the reference"
    lines.append(f"\n### Recommended NFE: {rec}" if rec is not None else
                 f"\n### Recommended NFE: none yet\n{note[0].upper() + note[1:]}.")
    if results.get("looks"):
        lines.append(f"Verdicts are read at {', '.join(str(n) for n in results['looks'])} votes per pair; the first "
                     "look that decides stands.")
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
