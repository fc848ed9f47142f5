"""One studio process of a team, for tests/integration/test_team_database.py: an in-process smoke Studio on a
shared database (and shared voice and sample folders), driven over stdin/stdout with one JSON object per line.

    python -m tests.team_studio FOLDER DATABASE_URL CACHE
    -> @team {"ready": true}
    <- {"op": "next_trial", "reviewer": "Rita"}       -> {"ok": [...]} or {"error": "...", "type": "InputError"}

`vote` takes an `at` (epoch seconds) to act at, so two processes can vote on one trial at the same moment.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers import running_studio

TAG = "@team "  # marks the protocol's lines on stdout


def _handle(studio: Any, cmd: dict[str, Any]) -> Any:
    op = cmd["op"]
    if op == "scores":
        return studio.nfe.scores(cmd["text"], cmd["voice"], cmd["nfes"], cmd["reference_nfe"], cmd["seed"])
    if op == "next_trial":
        trial_id, a, b = studio.ab.next_trial(cmd["reviewer"])
        return [trial_id, Path(a).is_file(), Path(b).is_file()]
    if op == "vote":
        time.sleep(max(0.0, cmd.get("at", 0.0) - time.time()))
        return studio.ab.vote(cmd["trial_id"], cmd["reviewer"], cmd["choice"])
    if op == "results":
        res = studio.ab.results(cmd["reference_nfe"], boot=10)
        return {k: res[k] for k in ("total_votes", "pairs", "position_bias", "votes_per_reviewer", "recommended_nfe",
                                    "scores")}
    if op == "adopt":
        return studio.nfe.adopt_default_nfe(cmd["nfe"])
    if op == "default_nfe":
        return {"default_nfe": studio.default_nfe(), "health": studio.health()["default_nfe"],
                "adopted": studio.preferences.default_nfe_adopted()}
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    # answers go to the real stdout, tagged; anything else the studio prints goes to stderr (the log)
    out, sys.stdout = sys.stdout, sys.stderr

    def answer(obj: dict[str, Any]) -> None:
        out.write(TAG + json.dumps(obj, default=str) + "\n")
        out.flush()

    folder, database, cache = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    overrides = {"paths.database": database, "paths.cache": cache, "paths.voices": str(folder / "voices"),
                 "paths.samples": str(folder / "samples")}
    with running_studio(folder, **overrides) as studio:
        answer({"ready": True})
        for line in sys.stdin:
            cmd = json.loads(line)
            try:
                answer({"ok": _handle(studio, cmd)})
            except Exception as exc:  # the test reads the message a user would see
                answer({"error": str(exc), "type": type(exc).__name__})


if __name__ == "__main__":
    main()
