"""The live-chat benchmark: a synthetic chat replayed through the chat service and the shared runtime.

    python -m ishowtts_studio.bench --workload chat --rate 2 --messages 60 --smoke --json chat.json
    python -m ishowtts_studio.bench --workload chat --random-weights full --rate 4 --messages 120

A mix of short English and Chinese lines of many lengths (`workloads.chat_lines`, shared with the speed
workloads), about one in ten a paid message (gift or superchat), arrives at Poisson times (`poisson_arrivals`)
at `--rate` messages per second and goes through `ChatService.post` exactly as a viewer's would: filters, policy,
prefetch through the runtime, the real-time playout timeline. Reported: arrival -> first audio and arrival ->
start of speech (p50 / p95 / max), throughput (messages spoken per second, seconds of audio per second), final
states and drops by reason, and the GPU batch sizes the chat requests were served in.

The studio runs on a temporary database and voice folder (seeded with the built-in English and Chinese voices),
so a benchmark never touches the user's library or history.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

_CJK = re.compile(r"[\u4e00-\u9fff]")
PAID_SHARE = 0.1
FINAL = ("spoken", "dropped", "failed")


def _tail(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    arr = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.median(arr)), 4), "p95": round(float(np.percentile(arr, 95)), 4),
            "max": round(float(arr.max()), 4), "n": int(arr.size)}


def chat_plan(messages: int, rate: float, seed: int) -> list[dict[str, Any]]:
    """What arrives when: author, text, kind, amount, arrival offset (s). Deterministic for a seed."""
    from ishowtts_studio.workloads import chat_lines, poisson_arrivals

    lines = chat_lines(messages, seed=seed, max_words=12, distinct_lengths=False)
    arrivals = poisson_arrivals(messages, rate, seed=seed)
    rng = random.Random(seed)
    plan = []
    for i, (text, at) in enumerate(zip(lines, arrivals)):
        paid = rng.random() < PAID_SHARE
        kind = rng.choice(["gift", "superchat"]) if paid else "chat"
        plan.append({"author": f"{'zh' if _CJK.search(text) else 'en'}_viewer{i}", "text": text, "kind": kind,
                     "amount": float(rng.choice([5, 10, 50, 100])) if paid else 0.0, "at": at})
    return plan


def run_chat_workload(studio: Any, messages: int, rate: float, seed: int = 17,
                      timeout_s: float | None = None) -> dict[str, Any]:
    """Replay the planned chat through `studio.chat` and wait until every message is final."""
    chat = studio.chat
    by_lang = {v.language: v.name for v in studio.library.list()}
    plan = chat_plan(messages, rate, seed)
    for p in plan:  # Chinese lines in the Chinese voice: per-viewer voices, as a streamer would set them
        if p["author"].startswith("zh_") and "zh" in by_lang:
            chat.set_viewer_voice(p["author"], by_lang["zh"])
    chat.control("resume")
    ids: list[int] = []
    t0 = time.time()
    for p in plan:
        delay = t0 + p["at"] - time.time()
        if delay > 0:
            time.sleep(delay)
        ids.append(chat.post(p["author"], p["text"], kind=p["kind"], amount=p["amount"], platform="bench")["id"])
    limit = timeout_s if timeout_s is not None else plan[-1]["at"] + studio.settings.chat.max_wait_s + 600
    rows: dict[int, dict[str, Any]] = {}
    while True:
        rows = {m["id"]: m for m in chat.history(1000) if m["id"] in set(ids)}
        if len(rows) == len(ids) and all(m["state"] in FINAL for m in rows.values()):
            break
        if time.time() - t0 > limit:
            break
        time.sleep(0.25)
    wall = max([(m["finished_at"] or t0) for m in rows.values()] + [time.time() if not rows else t0]) - t0
    msgs = [rows[i] for i in ids if i in rows]
    spoken = [m for m in msgs if m["state"] == "spoken"]
    states = {s: sum(m["state"] == s for m in msgs) for s in ("spoken", "dropped", "failed")}
    states["unfinished"] = len(ids) - sum(states.values())
    drops: dict[str, int] = {}
    for m in msgs:
        if m["state"] == "dropped":
            drops[m["reason"]] = drops.get(m["reason"], 0) + 1
    batches = [int(m["extra"].get("batch_size", 0)) for m in msgs if m["extra"].get("batch_size")]
    audio_s = 0.0
    for m in spoken:
        if m["started_at"] is not None and m["finished_at"] is not None:
            audio_s += max(0.0, m["finished_at"] - m["started_at"])
    return {
        "workload": "chat", "messages": len(ids), "rate": rate, "seed": seed,
        "paid": sum(p["kind"] != "chat" for p in plan), "nfe": chat.status()["effective_nfe"],
        "prefetch": studio.settings.chat.prefetch, "max_wait_s": studio.settings.chat.max_wait_s,
        "arrival_to_first_audio": _tail([m["first_audio_s"] for m in msgs if m["first_audio_s"] is not None]),
        "arrival_to_speech": _tail([m["speech_start_s"] for m in msgs if m["speech_start_s"] is not None]),
        "throughput": {"wall_s": round(wall, 3), "spoken_per_s": round(len(spoken) / wall, 4) if wall > 0 else None,
                       "audio_s_per_s": round(audio_s / wall, 4) if wall > 0 else None, "audio_s": round(audio_s, 3)},
        "states": states, "drops": drops,
        "batch_sizes": {str(b): batches.count(b) for b in sorted(set(batches))},
        "per_message": [{k: m[k] for k in ("id", "kind", "state", "reason", "first_audio_s", "speech_start_s")}
                        | {"chars": len(m["clean_text"]), "batch": m["extra"].get("batch_size")} for m in msgs],
    }


def format_chat(result: dict[str, Any]) -> str:
    def ms(d: dict[str, Any]) -> str:
        return "/".join("-" if d[k] is None else f"{d[k] * 1e3:.0f}" for k in ("p50", "p95", "max"))

    t = result["throughput"]
    return (f"chat workload: {result['messages']} messages at {result['rate']}/s ({result['paid']} paid), NFE "
            f"{result['nfe']}, prefetch {result['prefetch']}\n"
            f"  arrival -> first audio p50/p95/max {ms(result['arrival_to_first_audio'])} ms; arrival -> speech "
            f"{ms(result['arrival_to_speech'])} ms\n"
            f"  states {result['states']}, drops {result['drops']}, GPU batch sizes {result['batch_sizes']}\n"
            f"  {t['spoken_per_s']} messages spoken/s, {t['audio_s_per_s']} s of audio/s over {t['wall_s']} s")


def wants_chat(argv: list[str]) -> bool:
    """True when the command line asks for `--workload chat` (this module then runs instead of the row bench)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--workload="):
            return "chat" in arg.split("=", 1)[1].split(",")
        if arg == "--workload":
            values = []
            for v in argv[i + 1:]:
                if v.startswith("-"):
                    break
                values.append(v)
            return "chat" in values
    return False


def main(argv: list[str]) -> int:
    from ishowtts_studio.settings import ConfigError, load_settings
    from ishowtts_studio.studio import Studio

    p = argparse.ArgumentParser(prog="python -m ishowtts_studio.bench --workload chat",
                                description="Replay a synthetic live chat through the chat service and runtime.")
    p.add_argument("--workload", nargs="+", required=True, help="chat (run on its own: it runs a whole studio)")
    p.add_argument("--config", help="config.toml to read (default: $ISHOWTTS_CONFIG, else the repository's "
                                    "config.toml, else built-in defaults)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--smoke", action="store_true", help="tiny random model (CPU-friendly; figures meaningless)")
    weights.add_argument("--random-weights", choices=["full"], help="full-size architecture with random weights")
    p.add_argument("--rate", type=float, default=2.0, help="messages per second (Poisson arrivals)")
    p.add_argument("--messages", type=int, default=60, help="messages in the replayed chat")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--nfe", type=int, help="NFE for chat lines (default: chat.nfe, else engine.default_nfe)")
    p.add_argument("--prefetch", type=int, help="override chat.prefetch")
    p.add_argument("--max-wait", type=float, help="override chat.max_wait_s")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"])
    p.add_argument("--json", type=Path, help="write the result here")
    args = p.parse_args(argv)
    if args.workload != ["chat"]:
        p.error("--workload chat runs on its own (it runs the whole studio); run the other workloads separately")
    if args.messages < 1 or args.rate <= 0:
        p.error("--messages must be 1 or more and --rate above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="ishowtts-chat-bench-") as tmp:
        overrides: dict[str, object] = {"paths.voices": f"{tmp}/voices", "paths.samples": f"{tmp}/samples",
                                        "paths.database": f"{tmp}/samples/bench.db", "chat.cooldown_s": 0.0}
        for key, value in (("engine.device", args.device), ("chat.nfe", args.nfe), ("chat.prefetch", args.prefetch),
                           ("chat.max_wait_s", args.max_wait)):
            if value is not None:
                overrides[key] = value
        try:
            settings = load_settings(args.config, overrides=overrides, smoke=args.smoke)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        studio = Studio(settings, random_weights="smoke" if args.smoke else args.random_weights)
        studio.start()
        try:
            if not studio.runtime.wait_ready(3600):
                print(f"engine unavailable: {studio.runtime.message}", file=sys.stderr)
                return 2
            result = run_chat_workload(studio, args.messages, args.rate, args.seed)
            info = studio.runtime.info
            result["device"] = info.device if info else None
            result["smoke"] = studio.is_smoke
        finally:
            studio.close()
    print(format_chat(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0
