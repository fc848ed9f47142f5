"""Statistics of blind A/B votes between NFEs, and the verdict per candidate (no gradio here).

A vote says which NFE was on side A and on side B and what the reviewer chose: "A", "B" or "tie"
("no difference"). Per pair of NFEs: votes, preference for the higher NFE with a Wilson 95% interval,
and the exact binomial test on the decisive votes (ties reported separately). Per NFE: Bradley–Terry
strength (`choix.ilsr_pairwise`) with bootstrap 95% intervals. A position-bias test (was A chosen more
than half the time?) and votes per reviewer.

Intervals are scipy's (`binomtest(k, n).proportion_ci(method="wilson")`), which take whole counts; a
tie counts half a vote for each side, and an odd tie is resolved against the claim being made (see
`wilson_with_ties`).

Verdict of a candidate against the reference: equivalence needs evidence, not just p > 0.05. The
reference preference rate counts a tie as half a vote for each side; the candidate is
"indistinguishable" only when the Wilson upper bound of that rate is below the margin (default 0.60)
AND its objective scores meet the thresholds. It is "worse" when listeners prefer the reference (the
lower bound is above one half) or the objective scores fall short once the listening test passed; a
score that could not be measured is said so, not called worse. A verdict is read at planned looks only
(`looks`: the minimum, 50, 100, 200, 400 votes), each with its interval widened for the number of looks,
and the first look that decides stands. Otherwise more votes are needed, estimated from the rate so far.
The recommendation walks the candidates from the highest NFE down and stops at the first that is not
indistinguishable; it is withheld while listeners favour one side of the player.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

CHOICES = ("A", "B", "tie")
INDISTINGUISHABLE = "indistinguishable from the reference"
WORSE = "worse than the reference"
SCORES_MISSING = "no difference heard, objective scores missing"


@dataclass(frozen=True)
class Vote:
    nfe_a: int
    nfe_b: int
    choice: str  # "A", "B" or "tie"
    reviewer: str = ""

    @property
    def winner(self) -> int | None:
        return self.nfe_a if self.choice == "A" else self.nfe_b if self.choice == "B" else None


@dataclass(frozen=True)
class Thresholds:
    margin: float = 0.60
    pesq_min: float = 3.5
    stoi_min: float = 0.90
    estoi_min: float = 0.80
    min_votes: int = 10


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of `successes` out of `n` (scipy's `binomtest(...).proportion_ci`)."""
    if n <= 0:
        return 0.0, 1.0
    if int(successes) != successes or int(n) != n:
        raise ValueError("the Wilson interval takes whole counts; split ties with wilson_with_ties")
    ci = stats.binomtest(int(successes), int(n), 0.5).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def wilson_with_ties(wins: int, ties: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a preference rate where a tie counts half a vote for each side.

    The library takes whole counts only, so the ties are split explicitly: with an even number of ties
    each side gets half of them and the interval is exactly Wilson's; with an odd number, the odd tie is
    given to this side for the upper bound and to the other side for the lower bound. The interval is
    then the union of the two whole-count intervals, a little wider (never narrower) than a fractional
    count would give, so neither "indistinguishable" (upper bound) nor "worse" (lower bound) is claimed
    on the strength of half a vote.
    """
    if n <= 0:
        return 0.0, 1.0
    low_count, high_count = wins + ties // 2, wins + (ties + 1) // 2
    return wilson(low_count, n, confidence)[0], wilson(high_count, n, confidence)[1]


def binom_p(k: int, n: int) -> float | None:
    """Two-sided exact binomial test against one half (None without decisive votes)."""
    return float(stats.binomtest(k, n, 0.5).pvalue) if n > 0 else None


def _as_vote(v: Vote | Mapping[str, Any]) -> Vote:
    if isinstance(v, Vote):
        return v
    return Vote(int(v["nfe_a"]), int(v["nfe_b"]), str(v["choice"]), str(v.get("reviewer") or ""))


def pair_table(votes: Iterable[Vote]) -> list[dict[str, Any]]:
    groups: dict[tuple[int, int], list[Vote]] = defaultdict(list)
    for v in votes:
        groups[(min(v.nfe_a, v.nfe_b), max(v.nfe_a, v.nfe_b))].append(v)
    rows = []
    for (lo, hi), vs in sorted(groups.items()):
        hi_wins = sum(v.winner == hi for v in vs)
        lo_wins = sum(v.winner == lo for v in vs)
        ties = sum(v.winner is None for v in vs)
        decisive = hi_wins + lo_wins
        ci = wilson(hi_wins, decisive) if decisive else (None, None)
        with_ties = hi_wins + 0.5 * ties
        ci_t = wilson_with_ties(hi_wins, ties, len(vs))
        rows.append({
            "pair": f"{lo} vs {hi}", "lower_nfe": lo, "higher_nfe": hi, "votes": len(vs),
            "higher_wins": hi_wins, "lower_wins": lo_wins, "ties": ties,
            "prefer_higher": hi_wins / decisive if decisive else None,
            "prefer_higher_ci": list(ci),
            "p_value": binom_p(hi_wins, decisive),
            "prefer_higher_ties_half": with_ties / len(vs),
            "prefer_higher_ties_half_ci": list(ci_t),
        })
    return rows


def bradley_terry(
    votes: list[Vote], nfes: list[int] | None = None, *, boot: int = 200, seed: int = 0, alpha: float = 0.01
) -> list[dict[str, Any]]:
    """Bradley–Terry log-strength per NFE (mean zero) with bootstrap 95% percentile intervals."""
    import choix

    decisive = [v for v in votes if v.winner is not None]
    items = sorted(set(nfes or []) | {n for v in decisive for n in (v.nfe_a, v.nfe_b)})
    if len(items) < 2 or not decisive:
        return [{"nfe": n, "strength": None, "ci": [None, None]} for n in items]
    index = {n: i for i, n in enumerate(items)}
    data = [(index[v.winner], index[v.nfe_b if v.winner == v.nfe_a else v.nfe_a]) for v in decisive]

    def fit(sample: list[tuple[int, int]]) -> np.ndarray:
        # the small regularisation keeps the fit finite when one NFE won or lost every comparison
        params = np.asarray(choix.ilsr_pairwise(len(items), sample, alpha=alpha))
        return params - params.mean()

    est = fit(data)
    rng = np.random.default_rng(seed)
    draws = np.array([fit([data[i] for i in rng.integers(0, len(data), len(data))]) for _ in range(boot)])
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return [{"nfe": n, "strength": float(est[i]), "ci": [float(lo[i]), float(hi[i])]} for n, i in index.items()]


def position_bias(votes: list[Vote]) -> dict[str, Any]:
    decisive = [v for v in votes if v.choice in ("A", "B")]
    a = sum(v.choice == "A" for v in decisive)
    n = len(decisive)
    p = binom_p(a, n)
    return {
        "decisive_votes": n, "a_chosen": a, "a_rate": a / n if n else None,
        "a_rate_ci": list(wilson(a, n)) if n else [None, None], "p_value": p,
        "biased": bool(p is not None and p < 0.05),
    }


# A verdict is read at planned looks only, and the first look that decides stands: reading it after every vote
# and stopping once it says "indistinguishable" made that claim several times likelier than the interval says (a
# simulated panel at the margin, checked after each vote: 15-19% instead of 2.5%). Each look's interval is
# widened for the number of looks (Bonferroni), so the claim holds however the panel stops among them.
LOOK_VOTES = (50, 100, 200, 400)


def looks(min_votes: int) -> list[int]:
    """The vote counts at which a pair's verdict is read: the minimum, then 50, 100, 200 and 400 votes."""
    return sorted({int(min_votes), *(n for n in LOOK_VOTES if n > min_votes)})


def look_confidence(min_votes: int) -> float:
    """Two-sided confidence of each look's interval: 95% split over the looks."""
    return 1.0 - 0.05 / len(looks(min_votes))


def _decide(wins: int, ties: int, n: int, margin: float, confidence: float) -> tuple[str | None, float, float]:
    """At one look: "equivalent" when the upper bound of preferring the reference is under the margin (checked
    first, so a slight but real preference within the margin still counts as within it), "worse" when the lower
    bound is over one half, else None; with the interval."""
    lo, hi = wilson_with_ties(wins, ties, n, confidence)
    return ("equivalent" if hi < margin else "worse" if lo > 0.5 else None), lo, hi


def votes_needed(wins: int, ties: int, n: int, margin: float, min_votes: int = 10) -> int:
    """About how many more votes until a look decides, if votes keep coming at the rates seen so far (wins,
    ties and losses of the reference); without votes, a reference preferred half the time. When no look
    would decide at these rates, the votes to the last look."""
    p_win, p_tie = (wins / n, ties / n) if n else (0.5, 0.0)
    conf = look_confidence(min_votes)
    ahead = [total for total in looks(min_votes) if total > n]
    for total in ahead:
        if _decide(round(p_win * total), round(p_tie * total), total, margin, conf)[0]:
            return total - n
    return (ahead[-1] - n) if ahead else 0


def verdict(
    candidate: int, reference: int, votes: list[Vote], scores: Mapping[str, float | None] | None, th: Thresholds
) -> dict[str, Any]:
    """Plain-words verdict of one candidate NFE against the reference NFE, read at the planned looks (`looks`)
    over the pair's votes in the order they were cast."""
    pair = [v for v in votes if {v.nfe_a, v.nfe_b} == {candidate, reference}]
    n = len(pair)
    conf = look_confidence(th.min_votes)
    level = f"{conf:.2%} interval, {len(looks(th.min_votes))} looks"
    decided, at = None, n
    for total in (t for t in looks(th.min_votes) if t <= n):
        part = pair[:total]
        outcome, _, _ = _decide(sum(v.winner == reference for v in part), sum(v.winner is None for v in part),
                                total, th.margin, conf)
        if outcome:
            decided, at = outcome, total
            break
    counted = pair[:at]
    ref_wins = sum(v.winner == reference for v in counted)
    ties = sum(v.winner is None for v in counted)
    rate = (ref_wins + 0.5 * ties) / at if at else None
    lo, hi = wilson_with_ties(ref_wins, ties, at, conf) if at else (None, None)
    objective_ok, missing, shortfalls = True, [], []
    scores = scores or {}
    for key, floor in (("pesq_wb", th.pesq_min), ("stoi", th.stoi_min), ("estoi", th.estoi_min)):
        value = scores.get(key)
        if value is None:
            objective_ok = False
            missing.append(key)
        elif value < floor:
            objective_ok = False
            shortfalls.append(f"{key} {value:.2f} < {floor:g}")
    out = {"nfe": candidate, "reference_nfe": reference, "votes": n, "decided_at": at if decided else None,
           "reference_preferred": ref_wins, "ties": ties, "prefer_reference": rate, "prefer_reference_ci": [lo, hi],
           "confidence": conf, "objective_ok": objective_ok,
           "objective_notes": shortfalls + [f"{k} not measured" for k in missing], "more_votes_needed": 0}
    if decided == "worse":
        out["verdict"] = WORSE
        out["reason"] = f"listeners prefer the reference (at least {lo:.0%} of the time; {level}, at {at} votes)"
    elif decided == "equivalent":
        slight = " (a slight preference, within the margin)" if lo is not None and lo > 0.5 else ""
        if shortfalls:
            out["verdict"] = WORSE
            out["reason"] = "listeners hear no difference, but objective scores fall short: " + "; ".join(shortfalls)
        elif missing:
            out["verdict"] = SCORES_MISSING
            out["reason"] = ("listeners hear no difference, but " + ", ".join(missing) + " could not be measured "
                             "on these renders; render the comparison again to score them")
        else:
            out["verdict"] = INDISTINGUISHABLE
            out["reason"] = (f"the reference is preferred at most {hi:.0%} of the time{slight} (margin "
                             f"{th.margin:.0%}; {level}, at {at} votes)")
    else:
        votes_said = f"{n} vote{'s' if n != 1 else ''}"
        if n == 0:
            # nothing to project from: the only number that means anything is the minimum
            out["verdict"] = f"not enough votes yet — none so far, at least {th.min_votes} needed"
            out["more_votes_needed"] = th.min_votes
            out["reason"] = f"no votes on this pair yet; a verdict needs at least {th.min_votes}"
            return out
        last = looks(th.min_votes)[-1]
        if n >= last:
            out["verdict"] = f"no verdict after {last} votes — too close to the margin to call"
            out["reason"] = (f"{votes_said}; the reference is preferred {lo:.0%}–{hi:.0%} of the time ({level}): "
                             f"neither under the margin of {th.margin:.0%} nor over one half at any look")
            return out
        # undecided: the counts above are over every vote of the pair (`at` is `n`)
        more = max(votes_needed(ref_wins, ties, n, th.margin, th.min_votes), th.min_votes - n)
        out["verdict"] = f"not enough votes yet — about {more} more needed"
        out["more_votes_needed"] = more
        if n < th.min_votes:
            out["reason"] = (f"{votes_said} so far; a verdict needs at least {th.min_votes} "
                             f"(the reference is preferred {lo:.0%}–{hi:.0%} of the time, {level})")
        else:
            out["reason"] = (f"{votes_said}; the reference is preferred {lo:.0%}–{hi:.0%} of the time ({level}), "
                             f"which still reaches above the margin of {th.margin:.0%} and below one half")
    return out


def recommend(verdicts: list[dict[str, Any]], biased: bool) -> tuple[int | None, str]:
    """The lowest NFE to adopt: candidates are taken from the highest down and the first that is not
    indistinguishable stops the walk (a fixed-sequence test: no candidate is claimed on the strength of a lower
    one passing by chance while a higher one did not). None while listeners favour one side of the player."""
    if biased:
        return None, "withheld: listeners chose side A or B more often than chance (position bias); check the panel"
    best = None
    for v in sorted(verdicts, key=lambda r: -r["nfe"]):
        if v["verdict"] != INDISTINGUISHABLE:
            break
        best = v["nfe"]
    return best, ("" if best is not None else "no candidate is indistinguishable yet, from the highest NFE down")


def engine_comparison(
    votes: Iterable[Vote | Mapping[str, Any]], *, reference_nfe: int, other_nfe: int
) -> dict[str, Any]:
    """The cross-engine A/B: the other engine's render against the F5-TTS reference of the same voice, text and
    seed. Preference for the other engine with a Wilson 95% interval (ties half, as above), the exact binomial
    test on the decisive votes, and one sentence that says what the votes show."""
    vs = [v for v in (_as_vote(x) for x in votes) if {v.nfe_a, v.nfe_b} == {reference_nfe, other_nfe}]
    wins = sum(v.winner == other_nfe for v in vs)
    losses = sum(v.winner == reference_nfe for v in vs)
    ties = len(vs) - wins - losses
    out: dict[str, Any] = {"votes": len(vs), "other_wins": wins, "reference_wins": losses, "ties": ties,
                           "reference_nfe": reference_nfe, "p_value": binom_p(wins, wins + losses)}
    if not vs:
        out.update(prefer_other=None, prefer_other_ci=[None, None], summary="No cross-engine votes yet.")
        return out
    lo, hi = wilson_with_ties(wins, ties, len(vs))
    rate = (wins + 0.5 * ties) / len(vs)
    if lo > 0.5:
        said = "listeners prefer IndexTTS"
    elif hi < 0.5:
        said = f"listeners prefer F5-TTS (NFE {reference_nfe})"
    else:
        said = "no clear preference yet"
    out.update(prefer_other=rate, prefer_other_ci=[lo, hi],
               summary=f"{said}: IndexTTS preferred {rate:.0%} of the time ({lo:.0%}–{hi:.0%}, 95% interval, "
                       f"ties count half) over {len(vs)} votes.")
    return out


def analyse(
    votes: Iterable[Vote | Mapping[str, Any]],
    *,
    reference_nfe: int,
    candidates: list[int],
    scores: Mapping[int, Mapping[str, float | None]] | None = None,
    thresholds: Thresholds | None = None,
    boot: int = 200,
) -> dict[str, Any]:
    """Everything the results panel and `/ab_results` show, as plain JSON-able data."""
    th = thresholds or Thresholds()
    vs = [_as_vote(v) for v in votes]
    for v in vs:
        if v.choice not in CHOICES:
            raise ValueError(f"unknown choice {v.choice!r}")
    scores = scores or {}
    verdicts = [verdict(c, reference_nfe, vs, scores.get(c), th) for c in sorted(candidates) if c != reference_nfe]
    bias = position_bias(vs)
    recommended, note = recommend([v for v in verdicts if v["nfe"] < reference_nfe], bias["biased"])
    return {
        "total_votes": len(vs),
        "reference_nfe": reference_nfe,
        "margin": th.margin,
        "thresholds": {"pesq_wb": th.pesq_min, "stoi": th.stoi_min, "estoi": th.estoi_min,
                       "min_votes": th.min_votes},
        "pairs": pair_table(vs),
        "bradley_terry": bradley_terry(vs, sorted(set(candidates) | {reference_nfe}), boot=boot),
        "position_bias": bias,
        "votes_per_reviewer": dict(Counter(v.reviewer for v in vs).most_common()),
        "verdicts": verdicts,
        "recommended_nfe": recommended,
        "recommendation_note": note,
        "looks": looks(th.min_votes),
    }
