"""The chat benchmark: plan, argument handling, and a short real run through the chat service (smoke engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ishowtts_studio.services.chat.bench import chat_plan, format_chat, run_chat_workload, wants_chat
from tests.helpers import running_studio


def test_plan_is_seeded_mixed_and_paced() -> None:
    plan = chat_plan(60, rate=2.0, seed=3)
    assert plan == chat_plan(60, rate=2.0, seed=3) and plan != chat_plan(60, rate=2.0, seed=4)
    assert sorted(p["at"] for p in plan) == [p["at"] for p in plan]
    assert {p["author"][:3] for p in plan} == {"en_", "zh_"}
    paid = [p for p in plan if p["kind"] != "chat"]
    assert 1 <= len(paid) <= 15 and all(p["amount"] > 0 for p in paid)
    assert 15 < plan[-1]["at"] < 50  # about 60 / 2 s


@pytest.mark.parametrize(
    ("argv", "want"),
    [(["--workload", "chat"], True), (["--workload=chat"], True), (["--workload", "paced", "chat", "--smoke"], True),
     (["--workload", "paced", "--rate", "2"], False), (["--smoke", "chat"], False), ([], False)],
)
def test_wants_chat(argv: list[str], want: bool) -> None:
    assert wants_chat(argv) is want


def test_cli_refuses_mixed_workloads_and_bad_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    from ishowtts_studio.bench import main

    with pytest.raises(SystemExit):
        main(["--workload", "chat", "paced", "--smoke"])
    assert "on its own" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--workload", "chat", "--rate", "0", "--smoke"])
    assert "--rate above 0" in capsys.readouterr().err


def test_short_run_through_the_service(tmp_path: Path) -> None:
    with running_studio(tmp_path, **{"chat.nfe": 2, "chat.cooldown_s": 0.0}) as studio:
        result = run_chat_workload(studio, messages=4, rate=4.0, seed=1)
    assert result["messages"] == 4 and sum(result["states"].values()) == 4
    assert result["states"]["spoken"] + sum(result["drops"].values()) + result["states"]["failed"] == 4
    assert result["states"]["spoken"] >= 1
    first = result["arrival_to_first_audio"]
    assert first["n"] == result["states"]["spoken"] and 0 < first["p50"] <= first["p95"] <= first["max"]
    assert result["arrival_to_speech"]["p50"] >= first["p50"]
    assert sum(result["batch_sizes"].values()) == result["states"]["spoken"]
    assert result["throughput"]["audio_s"] > 0 and result["throughput"]["spoken_per_s"] > 0
    json.dumps(result)  # the JSON the CLI writes
    assert "arrival -> first audio" in format_chat(result)
