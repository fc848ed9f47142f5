"""The benchmark's report: the regression check against a saved baseline (rows and workloads) and the text
table printed at the end of a run."""

from __future__ import annotations

import math
from typing import Any


def _median_se(stats: dict[str, Any]) -> float | None:
    """Standard error of a median from the run's spread (about 1.25 sigma / sqrt(n)); None when unknown."""
    try:
        return 1.25 * float(stats["cv"]) * float(stats["mean"]) / math.sqrt(int(stats["n"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def compare(result: dict[str, Any], baseline: dict[str, Any], tolerance: float = 0.05,
            workload_tolerance: float = 0.2) -> list[dict[str, Any]]:
    """Rows whose median latency is more than `tolerance` slower than the baseline's same row and, where both
    runs know their spread, slower by more than twice the noise of the two medians (5% on a run whose runs
    vary by 5% was flagged two times in three by chance) or twice as slow whatever the spread (a run of two
    timings on a busy machine can show a spread that would hide anything), then the workloads' regressions
    (`compare_workloads`)."""
    base = {(r["lang"], r["text"], r["nfe"]): r for r in baseline.get("rows", [])}
    slower = []
    for r in result["rows"]:
        b = base.get((r["lang"], r["text"], r["nfe"]))
        if not b:
            continue
        now, then = r["ours_latency"]["median"], b["ours_latency"]["median"]
        se_now, se_then = _median_se(r["ours_latency"]), _median_se(b["ours_latency"])
        noise = 2 * math.hypot(se_now, se_then) if se_now is not None and se_then is not None else 0.0
        if then > 0 and now > then * (1 + tolerance) and (now - then > noise or now > 2 * then):
            slower.append({"lang": r["lang"], "text": r["text"], "nfe": r["nfe"], "baseline_s": then, "now_s": now,
                           "slower_by": now / then - 1})
    return slower + compare_workloads(result, baseline, workload_tolerance)


def comparability(result: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Why a run and a baseline cannot be compared as they are: another device, precision or kind of weights,
    and baseline rows or workloads this run did not measure (a check that compares nothing must not pass)."""
    out = [f"{what}: {baseline.get(key)!r} in the baseline, {result.get(key)!r} now"
           for key, what in (("device", "device"), ("precision", "precision"), ("weights_label", "weights"))
           if baseline.get(key) != result.get(key)]
    have = {(r["lang"], r["text"], r["nfe"]) for r in result.get("rows", [])}
    missing = [k for k in ((r["lang"], r["text"], r["nfe"]) for r in baseline.get("rows", [])) if k not in have]
    if missing:
        out.append(f"{len(missing)} baseline row(s) not measured now, e.g. {' '.join(map(str, missing[0]))}")
    keys = {_workload_key(w) for w in result.get("workloads", [])}
    gone = [w for w in baseline.get("workloads", []) if _workload_key(w) not in keys]
    if gone:
        out.append(f"{len(gone)} baseline workload(s) not measured now, e.g. {gone[0]['workload']}")
    return out


def _workload_key(w: dict[str, Any]) -> tuple[Any, ...]:
    # the arrival rate is part of a paced workload: 8 lines a second against 2 is another workload
    return w["workload"], w["messages"], w["nfe"], w.get("rate")


WORKLOAD_CHECKS = (("latency", "p50"), ("latency", "p95"), ("ttfa", "p95"))


def compare_workloads(result: dict[str, Any], baseline: dict[str, Any], tolerance: float = 0.2) -> list[dict[str, Any]]:
    """Workloads (same kind, messages and NFE) whose latency p50 / p95 or TTFA p95 grew by more than `tolerance`,
    or whose audio seconds per second fell by more: live traffic is noisier than a timed loop, hence the wider
    default tolerance."""
    base = {_workload_key(w): w for w in baseline.get("workloads", [])}
    slower = []
    for w in result.get("workloads", []):
        b = base.get(_workload_key(w))
        if not b:
            continue
        label = {"lang": "workload", "text": w["workload"], "nfe": w["nfe"]}
        for part, stat in WORKLOAD_CHECKS:
            now, then = w[part][stat], b[part][stat]
            if then > 0 and now > then * (1 + tolerance):
                slower.append({**label, "metric": f"{part} {stat}", "baseline_s": then, "now_s": now,
                               "slower_by": now / then - 1})
        now, then = w["audio_s_per_s"], b["audio_s_per_s"]
        if now > 0 and then > now * (1 + tolerance):
            slower.append({**label, "metric": "audio s per s", "baseline_s": 1 / then, "now_s": 1 / now,
                           "baseline_rate": then, "now_rate": now, "slower_by": then / now - 1})
    return slower


def _cell(value: Any, width: int, spec: str, scale: float = 1.0) -> str:
    """A right-aligned table cell; a figure that was not measured is a dash, never "nan"."""
    try:
        v = float(value) * scale
    except (TypeError, ValueError):
        return f"{'—':>{width}}"
    return f"{'—':>{width}}" if not math.isfinite(v) else f"{v:>{width}{spec}}"


def format_table(result: dict[str, Any]) -> str:
    label = result.get("weights_label", "real")
    lines = [f"device: {result['device']}  precision: {result['precision']}  weights: {label}"
             + ("  (random weights: speed only, the audio is noise)" if result.get("random_weights") else "")]
    head = f"{'lang':4} {'text':6} {'nfe':>3} {'audio s':>7} {'ours ms':>8} {'p95 ms':>7} {'cv':>5} {'RTF':>7}"
    head += f" {'TTFA ms':>8} {'served ms':>9} {'stock ms':>9} {'stock/ours':>10} {'mel err':>8} {'peak MiB':>9}"
    head += f" {'floor ms':>8}  prep/sample/voc ms"
    lines.append(head)
    for r in result["rows"]:
        ol = r["ours_latency"]
        lines.append(
            f"{r['lang']:4} {r['text']:6} {r['nfe']:>3} {r['audio_s']:>7.2f} {_cell(ol['median'], 8, '.1f', 1e3)} "
            f"{_cell(ol['p95'], 7, '.1f', 1e3)} {_cell(ol['cv'], 5, '.2f')} {_cell(r['ours_rtf']['median'], 7, '.4f')} "
            f"{_cell(r.get('ours_ttfa', {}).get('median'), 8, '.1f', 1e3)} "
            f"{_cell(r.get('ours_served_latency', {}).get('median'), 9, '.1f', 1e3)} "
            f"{_cell(r.get('stock_latency', {}).get('median'), 9, '.1f', 1e3)} "
            f"{_cell(r.get('ratio_stock_over_ours'), 10, '.1f')} {_cell(r.get('mel_rel_err'), 8, '.1e')} "
            f"{_cell(r.get('peak_mem_mib'), 9, '.0f')} {_cell(r.get('compute_floor_ms'), 8, '.1f')}  "
            + "/".join(f"{v:.1f}" for v in r.get("parts", {}).values())
            + (f"  stock failed: {r['stock_error'][:60]}" if r.get("stock_error") else "")
        )
    if result.get("rows"):
        lines.append("ours = the engine alone; TTFA and served = the same text through the queue as a user sends it, "
                     "chunked (first audio, whole request); — = not measured in this run")
    for c in result.get("concurrent", []):
        lines.append(f"{c['requests']} concurrent short requests, NFE {c['nfe']}: "
                     f"{c['audio_s_per_s']['median']:.1f} s of audio per second (largest batch {c['max_batch_seen']})")
    for w in result.get("workloads", []):
        lat, ttfa = w["latency"], w["ttfa"]
        lines.append(
            f"workload {w['workload']} ({w['messages']} lines" + (f" at {w['rate']}/s" if w.get("rate") else "")
            + f", NFE {w['nfe']}): request->complete p50/p95/max {lat['p50'] * 1e3:.0f}/{lat['p95'] * 1e3:.0f}/"
            f"{lat['max'] * 1e3:.0f} ms, TTFA p50/p95/max {ttfa['p50'] * 1e3:.0f}/{ttfa['p95'] * 1e3:.0f}/"
            f"{ttfa['max'] * 1e3:.0f} ms, all done in {w['wall_s']:.2f} s, {w['audio_s_per_s']:.1f} s of audio/s, "
            f"batches {w['batch_sizes']}, new shapes {w['new_shapes']['new_shapes']} "
            f"(graph captures {w['new_shapes']['graph_captures']})"
            + (f", padded batches {w['new_shapes']['padded_batches']} of "
               f"{w['new_shapes']['padded_batch_items']} lines" if w["new_shapes"].get("padded_batches") else ""))
    if "startup" in result:
        up = result["startup"]
        lines.append(f"start-up: load {up.get('load_s', 0):.1f} s, warm-up {up.get('warmup_s', 0):.1f} s, then "
                     f"{up.get('prepared_s', 0):.1f} s preparing between requests "
                     f"({up.get('graphs_after_prepared', 0)} graphs)")
    for stage, pool in result.get("memory_pools", {}).items():
        lines.append(
            f"GPU memory {stage.replace('_', ' ')}: reserved {pool['default_reserved_mib']:.0f} MiB default pool "
            f"({pool['default_allocated_mib']:.0f} allocated) + {pool['graphs_reserved_mib']:.0f} MiB in "
            f"{pool['graph_pools']:.0f} graph pool(s) ({pool['graphs_allocated_mib']:.0f} allocated); "
            f"{pool['side_stream_reserved_mib']:.0f} MiB on side streams, largest segment "
            f"{pool['largest_segment_mib']:.0f} MiB")
    return "\n".join(lines)

