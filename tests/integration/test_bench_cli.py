"""`python -m ishowtts_studio.bench` end to end in smoke mode (tiny random model, CPU): JSON, stock side,
baselines and the regression exit code. Each run is a real subprocess with its own config in tmp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ishowtts_studio.store import Store

REPO = Path(__file__).resolve().parents[2]
SMOKE = ["--smoke", "--runs", "2", "--warmup", "1", "--nfe", "4", "--texts", "short"]
STAT_KEYS = {"mean", "median", "p95", "min", "max", "cv", "n"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose [paths] (cache included) all point into one tmp folder, shared by the CLI runs."""
    tmp = tmp_path_factory.mktemp("bench-cli")
    (tmp / "config.toml").write_text(
        '[paths]\nvoices = "voices"\nsamples = "samples"\ndatabase = "samples/studio.db"\ncache = "cache"\n',
        encoding="utf-8",
    )
    return tmp


def bench(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("ISHOWTTS_CONFIG", None)
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p))
    return subprocess.run(
        [sys.executable, "-m", "ishowtts_studio.bench", "--config", str(folder / "config.toml"), *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=timeout,
    )


def check_stats(stats: dict[str, Any], runs: int) -> None:
    assert STAT_KEYS <= set(stats)
    assert stats["n"] == runs
    assert 0 < stats["min"] <= stats["median"] <= stats["max"]
    assert stats["min"] <= stats["mean"] <= stats["max"]
    assert stats["min"] <= stats["p95"] <= stats["max"]
    assert stats["cv"] >= 0


def store(folder: Path) -> Store:
    return Store(folder / "samples" / "studio.db")


def scaled(result: dict[str, Any], factor: float) -> dict[str, Any]:
    """A doctored copy of a result whose latencies are `factor` times the measured ones (every statistic of
    time, so its spread stays the measured one: the regression check reads the noise from it)."""
    doctored = json.loads(json.dumps(result))
    for row in doctored["rows"]:
        for key in ("mean", "median", "p95", "min", "max"):
            row["ours_latency"][key] *= factor
    return doctored


@pytest.fixture(scope="module")
def first_run(folder: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One plain smoke run, written as JSON and saved as baseline 'base'."""
    out = folder / "a.json"
    proc = bench(folder, *SMOKE, "--json", str(out), "--save-baseline", "base")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def test_json_fields_present_and_consistent(first_run: tuple[Any, dict[str, Any]]) -> None:
    proc, result = first_run
    assert {"created", "device", "precision", "random_weights", "weights_label", "fast_path", "config", "rows",
            "memory", "startup"} <= set(result)
    assert result["device"] == "cpu" and result["weights_label"] == "smoke" and result["random_weights"] is True
    assert result["config"]["runs"] == 2 and result["config"]["warmup"] == 1 and result["config"]["nfes"] == [4]
    assert result["startup"]["load_s"] > 0 and result["startup"]["warmup_s"] > 0
    assert [(r["lang"], r["text"], r["nfe"]) for r in result["rows"]] == [("en", "short", 4)]
    row = result["rows"][0]
    assert row["chars"] == len("Really, I don't care what you call me.")
    assert row["audio_s"] > 0
    check_stats(row["ours_latency"], runs=2)
    check_stats(row["ours_rtf"], runs=2)
    # RTF is latency over audio length, run by run, so every statistic scales by 1 / audio_s
    for key in ("mean", "median", "min", "max"):
        assert row["ours_rtf"][key] == pytest.approx(row["ours_latency"][key] / row["audio_s"], rel=1e-9)
    assert row["ours_rtf"]["cv"] == pytest.approx(row["ours_latency"]["cv"], rel=1e-6)
    check_stats(row["ours_ttfa"], runs=3)  # streaming TTFA: max(3, runs // 2) requests through the runtime
    assert row["peak_mem_mib"] is None  # CPU
    assert set(row["parts"]) == {"prep_ms", "sample_ms", "vocoder_ms"}
    assert "stock_latency" not in row and "ratio_stock_over_ours" not in row
    # the table on screen
    assert "device: cpu" in proc.stdout and "weights: smoke" in proc.stdout and "en   short" in proc.stdout


def test_save_baseline_in_database_and_json(folder: Path, first_run: tuple[Any, dict[str, Any]]) -> None:
    proc, result = first_run
    assert "saved baseline 'base'" in proc.stdout
    with store(folder) as s:
        assert s.list_baseline_names() == ["base"]
        saved = s.get_baseline("base")
    assert saved is not None and saved["rows"] == result["rows"]
    on_disk = json.loads((folder / "samples" / "baselines" / "base.json").read_text())
    assert on_disk["rows"] == result["rows"]


def test_compare_stock_and_against_without_regression(folder: Path, first_run: tuple[Any, dict[str, Any]]) -> None:
    """--compare-stock gives stock columns and a ratio; --against a (doctored) slower baseline exits 0."""
    _, result = first_run
    with store(folder) as s:
        s.add_benchmark_run(scaled(s.get_baseline("base") or {}, 1000.0), name="generous", baseline=True)
    out = folder / "stock.json"
    proc = bench(folder, *SMOKE, "--compare-stock", "--json", str(out), "--against", "generous")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no regression against baseline 'generous'" in proc.stdout
    assert "REGRESSION" not in proc.stdout
    row = json.loads(out.read_text())["rows"][0]
    assert "stock_error" not in row, row.get("stock_error")
    check_stats(row["stock_latency"], runs=2)
    check_stats(row["stock_rtf"], runs=2)
    check_stats(row["ours_latency"], runs=2)
    assert row["ratio_stock_over_ours"] == pytest.approx(row["stock_latency"]["median"] / row["ours_latency"]["median"])
    assert row["stock_audio_s"] > 0 and row["same_audio_length"] is True
    assert row["mel_rel_err"] < 1e-3 and row["same_duration"] is True
    header = next(line for line in proc.stdout.splitlines() if "stock ms" in line)
    assert "stock/ours" in header


def test_forced_regression_exits_3(folder: Path, first_run: tuple[Any, dict[str, Any]]) -> None:
    """A baseline doctored to be 100x faster than what was measured: every row regresses, exit code 3."""
    with store(folder) as s:
        base = s.get_baseline("base")
        assert base is not None
        s.add_benchmark_run(scaled(base, 0.01), name="fast", baseline=True)
        assert s.get_baseline("fast")["rows"][0]["ours_latency"]["median"] < base["rows"][0]["ours_latency"]["median"]
    proc = bench(folder, *SMOKE, "--against", "fast")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REGRESSION")]
    assert len(lines) == 1 and "en short NFE 4" in lines[0]


LIVE = ["--smoke", "--nfe", "4", "--no-rows", "--workload", "paced", "burst", "--messages", "4", "--rate", "20"]


def test_workloads_report_and_regression_check(folder: Path) -> None:
    """--workload paced burst: new chat lines through the runtime, figures that hang together; a baseline doctored
    to be far faster makes the workloads regress (exit 3), a generous one passes."""
    out = folder / "live.json"
    proc = bench(folder, *LIVE, "--json", str(out), "--plots", str(folder / "live-plots"), "--save-baseline", "live")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["rows"] == [] and [w["workload"] for w in result["workloads"]] == ["paced", "burst"]
    for w in result["workloads"]:
        assert w["messages"] == 4 and len(w["per_request"]) == 4 and w["nfe"] == 4
        for part in ("latency", "ttfa"):
            stats = w[part]
            assert 0 < stats["p50"] <= stats["p95"] <= stats["max"] and stats["n"] == 4
        assert all(0 < r["ttfa_s"] <= r["latency_s"] for r in w["per_request"])
        assert w["audio_s"] > 0 and w["audio_s_per_s"] == pytest.approx(w["audio_s"] / w["wall_s"])
        assert sum(w["batch_sizes"].values()) == 4 and w["chunks"] >= 4
        assert w["new_shapes"]["new_shapes"] >= 1  # distinct lengths: the (exact-length) CPU path meets new shapes
    paced, burst = result["workloads"]
    assert paced["rate"] == 20 and burst["rate"] is None
    assert max(r["at_s"] for r in paced["per_request"]) > 0 and {r["at_s"] for r in burst["per_request"]} == {0.0}
    assert (folder / "live-plots" / "workloads.png").stat().st_size > 0
    assert "workload paced (4 lines at 20.0/s, NFE 4)" in proc.stdout
    assert "workload burst (4 lines, NFE 4)" in proc.stdout

    with store(folder) as s:
        base = s.get_baseline("live")
        assert base is not None and len(base["workloads"]) == 2
        fast, slow = json.loads(json.dumps(base)), json.loads(json.dumps(base))
        for w in fast["workloads"]:
            for part in ("latency", "ttfa"):
                w[part] = {k: v * 0.01 if k != "n" else v for k, v in w[part].items()}
            w["audio_s_per_s"] *= 100
        for w in slow["workloads"]:
            for part in ("latency", "ttfa"):
                w[part] = {k: v * 1000 if k != "n" else v for k, v in w[part].items()}
            w["audio_s_per_s"] /= 1000
        s.add_benchmark_run(fast, name="live-fast", baseline=True)
        s.add_benchmark_run(slow, name="live-slow", baseline=True)
    proc = bench(folder, *LIVE, "--against", "live-fast")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REGRESSION")]
    assert any("workload paced NFE 4 latency p95" in line for line in lines)
    assert any("workload burst NFE 4 audio s per s" in line for line in lines)
    proc = bench(folder, *LIVE, "--against", "live-slow")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REGRESSION" not in proc.stdout


def test_workload_arguments_are_checked(folder: Path) -> None:
    proc = bench(folder, "--smoke", "--no-rows")
    assert proc.returncode == 2 and "--no-rows leaves nothing to run" in proc.stderr
    proc = bench(folder, "--smoke", "--workload", "paced", "--rate", "0")
    assert proc.returncode == 2 and "--rate above 0" in proc.stderr


def test_chat_is_a_listed_workload_that_runs_alone(folder: Path) -> None:
    """`--help` lists chat among the workloads; chat mixed with the row workloads is refused with a clear message
    (it runs a whole studio), whichever order or spelling the workloads come in, before anything is loaded."""
    proc = bench(folder, "--help")
    assert proc.returncode == 0
    assert "{paced,burst,chat}" in proc.stdout and "runs on its own" in proc.stdout
    for args in (["--workload", "chat", "paced"], ["--workload", "burst", "chat"], ["--work", "chat"]):
        proc = bench(folder, "--smoke", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "--workload chat runs on its own" in proc.stderr, args
        assert "Traceback" not in proc.stderr
