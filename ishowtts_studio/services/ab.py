"""Blind A/B listening of NFE renders: pair choice, reviewer check, trials, votes, results, export.

Which render is on which side lives only in the database (`ab_trials`, never served) until the vote is in; the
page gets a trial id and two clips as fresh hand-outs with random addresses, withdrawn at the vote. The
statistics are `listening.py`'s.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ishowtts_studio import listening, quality
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import check_nfe
from ishowtts_studio.services.nfe import NfeService
from ishowtts_studio.services.nfe_plan import INDEXTTS_NFE, render_label
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import AbTrial, NfeRender, Store
from ishowtts_studio.validation import InvalidInput, clean_display_name

REVIEWER_MAX = 100
_CHOICES = {"a": "A", "b": "B", "tie": "tie", "no difference": "tie", "same": "tie"}


def check_reviewer(reviewer: Any) -> str:
    """A reviewer name as it is stored: NFC, trimmed, printable; refused with a message otherwise."""
    if reviewer is None or (isinstance(reviewer, str) and not reviewer.strip()):
        raise InputError("Enter your name first, so your votes can be told apart.")
    try:  # the same rules as voice names (one helper): no invisible, control or bidi-override characters
        return clean_display_name(reviewer, what="The reviewer name", max_chars=REVIEWER_MAX)
    except InvalidInput as exc:
        raise InputError(str(exc)) from None


def ab_pairs(renders: list[NfeRender]) -> list[tuple[int, int]]:
    """Render-id pairs a trial can use: each candidate against its reference and its neighbouring NFE."""
    groups: dict[str, list[NfeRender]] = {}
    for r in renders:
        groups.setdefault(r.group_key, []).append(r)
    pairs = set()
    for rows in groups.values():
        ref = [r for r in rows if r.nfe == r.reference_nfe]
        # an IndexTTS render (cross-engine A/B) meets the reference only, never a neighbouring NFE
        cands = sorted((r for r in rows if r.nfe not in (r.reference_nfe, INDEXTTS_NFE)), key=lambda r: r.nfe)
        for r in cands + [r for r in rows if r.nfe == INDEXTTS_NFE]:
            if ref:
                pairs.add((r.id, ref[0].id))
        for a, b in zip(cands, cands[1:]):
            pairs.add((a.id, b.id))
    return sorted((min(p), max(p)) for p in pairs)


def choose_pair(pairs: list[tuple[int, int]], seen: set[tuple[int, int]],
                counts: dict[tuple[int, int], dict[str, int]]) -> tuple[int, int]:
    """(render on side A, render on side B): an unseen pair with the fewest trials, sides counterbalanced."""
    fresh = [p for p in pairs if p not in seen] or pairs
    fewest = min(counts.get(p, {}).get("trials", 0) for p in fresh)
    low, high = random.choice([p for p in fresh if counts.get(p, {}).get("trials", 0) == fewest])
    c = counts.get((low, high), {"trials": 0, "low_on_a": 0})
    # the side that has had the lower render less often gets it; random on a tie
    diff = 2 * c["low_on_a"] - c["trials"]
    low_on_a = diff < 0 or (diff == 0 and random.random() < 0.5)
    return (low, high) if low_on_a else (high, low)


class AbService:
    def __init__(self, settings: Settings, store: Store, nfe: NfeService, *, smoke: bool) -> None:
        self.settings, self.store, self.nfe, self.smoke = settings, store, nfe, smoke

    def next_trial(self, reviewer: Any) -> tuple[str, Path, Path]:
        """The reviewer's next blind trial: (trial id, clip A, clip B). The clips are the renders' own files on
        the server; the UI hands out fresh blind copies of them (ui/ab_panel.ab_clips). Nothing else leaves the
        server."""
        name = check_reviewer(reviewer)
        samples = self.settings.paths.samples
        trial = self.store.open_ab_trial(name)
        if trial is None:
            pairs = ab_pairs(self.store.list_nfe_renders())
            if not pairs:
                raise InputError("No renders to compare yet: render a text at several NFEs first.")
            skipped = self.store.ab_pairs_skipped(name)
            pairs = [p for p in pairs if p not in skipped]  # a skipped pair is not offered to this reviewer again
            if not pairs:
                raise InputError("You have skipped every pair there is: render more texts or NFEs for new trials.")
            a_id, b_id = choose_pair(pairs, self.store.ab_pairs_seen(name), self.store.ab_pair_counts())
            ra, rb = self.store.get_nfe_render_by_id(a_id), self.store.get_nfe_render_by_id(b_id)
            assert ra is not None and rb is not None  # the pairs come from the stored renders
            trial_id = uuid.uuid4().hex
            # no copy kept: the clips reach a page only as fresh blind copies of the renders (ui/ab_panel.ab_clips)
            self.store.add_ab_trial(id=trial_id, reviewer=name, render_a_id=a_id, render_b_id=b_id,
                                    nfe_a=ra.nfe, nfe_b=rb.nfe, clip_a=ra.clip_path, clip_b=rb.clip_path)
            trial = self.store.get_ab_trial(trial_id)
            assert trial is not None
        return trial.id, samples / trial.clip_a, samples / trial.clip_b

    def _own_trial(self, trial_id: Any, reviewer: Any) -> tuple[str, AbTrial]:
        """The reviewer's checked name and their trial; a vote or a skip on someone else's trial is refused."""
        name = check_reviewer(reviewer)
        trial = self.store.get_ab_trial(str(trial_id or ""))
        if trial is None:
            raise InputError("Unknown trial: ask for a new one.")
        if trial.reviewer != name:
            raise InputError("This trial belongs to another reviewer.")
        return name, trial

    def vote(self, trial_id: Any, reviewer: Any, choice: Any, seconds: Any = None) -> dict[str, Any]:
        """Record a vote (A, B or tie) and reveal which NFE was on which side."""
        name, trial = self._own_trial(trial_id, reviewer)
        if trial.skipped_at is not None:
            raise InputError("You skipped this trial, so it takes no vote: press Next trial for another.")
        picked = _CHOICES.get(str(choice or "").strip().lower())
        if picked is None:
            raise InputError("Choose A, B or tie (no difference).")
        secs = listening_seconds(seconds)
        ra = self.store.get_nfe_render_by_id(trial.render_a_id)
        self._check_heard(trial, ra, self.store.get_nfe_render_by_id(trial.render_b_id))
        try:
            self.store.add_ab_vote(trial_id=trial.id, reviewer=name, nfe_a=trial.nfe_a, nfe_b=trial.nfe_b,
                                   reference_nfe=ra.reference_nfe if ra else max(trial.nfe_a, trial.nfe_b),
                                   choice=picked, seconds=secs)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        return {"trial_id": trial.id, "choice": picked, "a_nfe": trial.nfe_a, "b_nfe": trial.nfe_b,
                "reference_nfe": ra.reference_nfe if ra else None,
                "a_label": render_label(trial.nfe_a), "b_label": render_label(trial.nfe_b)}

    def skip(self, trial_id: Any, reviewer: Any) -> dict[str, Any]:
        """Skip a trial: no vote is stored, the results do not change, and its pair is not offered to this
        reviewer again. Which NFE was on which side stays hidden (a skip is not a way to peek)."""
        name, trial = self._own_trial(trial_id, reviewer)
        if not self.store.skip_ab_trial(trial.id):
            raise InputError("This trial has already been voted on, so it cannot be skipped.")
        return {"trial_id": trial.id, "skipped": True}

    def _check_heard(self, trial: AbTrial, ra: NfeRender | None, rb: NfeRender | None) -> None:
        """Refuse a vote that arrives before both clips could have been played once (the page also waits for
        both to play to the end; this holds for API clients and edited pages too)."""
        slack = float(self.settings.nfe.listen_slack_s)
        clips = sum(float(r.audio_seconds or 0.0) for r in (ra, rb) if r is not None)
        created = trial.created_at
        if created is None or clips <= slack:
            return
        if isinstance(created, str):
            created = datetime.fromisoformat(created)  # stored to the second: errs on the reviewer's side
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - created).total_seconds()
        if age < clips - slack:
            raise InputError(f"Listen to both clips first: together they last {clips:.1f} s, and this trial was "
                             f"handed out {max(age, 0.0):.1f} s ago. Play A and B to the end, then vote.")

    def results(self, reference_nfe: Any = None, boot: int = 200) -> dict[str, Any]:
        """Pair statistics, Bradley–Terry, position bias, votes per reviewer, verdicts, recommended NFE."""
        every = self.store.list_nfe_renders()
        if reference_nfe in (None, ""):
            # the configured reference, or else the one of the latest renders
            refs = {r.reference_nfe for r in every}
            default = self.nfe.reference_default()
            reference_nfe = default if default in refs or not every else every[-1].reference_nfe
        ref = check_nfe(reference_nfe)
        renders = [r.to_dict() for r in every if r.reference_nfe == ref and r.nfe != INDEXTTS_NFE]
        all_votes = [v.to_dict() for v in self.store.list_ab_votes() if v.reference_nfe == ref]
        # votes of the cross-engine A/B are their own question, kept out of the NFE statistics
        cross = [v for v in all_votes if INDEXTTS_NFE in (v["nfe_a"], v["nfe_b"])]
        votes = [v for v in all_votes if INDEXTTS_NFE not in (v["nfe_a"], v["nfe_b"])]
        candidates = sorted({r["nfe"] for r in renders if r["nfe"] != ref})
        summary = quality.summarise(renders, ref)
        per_nfe = {e["nfe"]: e for e in summary}
        scores = {n: {k: per_nfe[n][k] for k in ("pesq_wb", "stoi", "estoi")} for n in candidates}
        out = listening.analyse(votes, reference_nfe=ref, candidates=candidates, scores=scores,
                                thresholds=self.nfe.thresholds(), boot=boot)
        out["scores"] = summary
        out["smoke"] = self.smoke
        out["cross_engine"] = listening.engine_comparison(cross, reference_nfe=ref, other_nfe=INDEXTTS_NFE)
        return out

    def export(self) -> dict[str, Any]:
        """Votes (with the voice, text and seed they were about) and render scores, for CSV/JSON export."""
        keep = ("id", "created_at", "voice_slug", "text", "seed", "nfe", "reference_nfe", "pesq_wb", "stoi", "estoi",
                "rtf", "error", "audio_seconds", "latency_s", "smoke")  # no group key: it names the renders' folder
        renders = {r.id: r.to_dict() for r in self.store.list_nfe_renders()}
        votes = []
        for v in self.store.list_ab_votes():
            trial = self.store.get_ab_trial(v.trial_id)
            r = renders.get(trial.render_a_id, {}) if trial else {}
            votes.append(dict(v.to_dict(), voice_slug=r.get("voice_slug"), text=r.get("text"), seed=r.get("seed")))
        return {"votes": votes, "renders": [{k: r[k] for k in keep} for r in renders.values()],
                "verdicts": self.verdict_rows()}

    def verdict_rows(self, boot: int = 50) -> list[dict[str, Any]]:
        """One row per candidate and reference NFE: the verdict and the figures behind it (for the export)."""
        out = []
        for ref in sorted({r.reference_nfe for r in self.store.list_nfe_renders()}):
            res = self.results(ref, boot=boot)
            for v in res["verdicts"]:
                lo, hi = v["prefer_reference_ci"]
                out.append({"reference_nfe": ref, "nfe": v["nfe"], "verdict": v["verdict"], "reason": v["reason"],
                            "votes": v["votes"], "reference_preferred": v["reference_preferred"], "ties": v["ties"],
                            "prefer_reference": v["prefer_reference"], "ci_low": lo, "ci_high": hi,
                            "objective_ok": v["objective_ok"], "recommended": v["nfe"] == res["recommended_nfe"]})
        return out


def listening_seconds(seconds: Any) -> float | None:
    """The listening time a page reports, or None when it sent nothing usable (timing is informative only)."""
    if seconds in (None, ""):
        return None
    try:
        return float(seconds)
    except (TypeError, ValueError):
        return None
