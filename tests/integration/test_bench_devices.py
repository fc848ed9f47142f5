"""`python -m ishowtts_studio.bench --devices ...` end to end on the CPU in smoke mode: the same flags as the
two-GPU measurement (`--devices cuda:0 --devices cuda:0,cuda:1 --concurrency 32 --workload paced burst`), tiny
sizes, so the GPU run does not fail on a typo. A real subprocess; the figures are smoke figures (meaningless)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bench(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "config.toml").write_text(
        '[paths]\nvoices = "voices"\nsamples = "samples"\ndatabase = "samples/studio.db"\ncache = "cache"\n',
        encoding="utf-8",
    )
    env = dict(os.environ)
    env.pop("ISHOWTTS_CONFIG", None)
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-m", "ishowtts_studio.bench", "--config", str(folder / "config.toml"),
                           *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_one_device_against_two_in_one_run_writes_json_and_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "devices.json"
    run = bench(tmp_path, "--smoke", "--nfe", "2", "--runs", "1", "--warmup", "0", "--devices", "cpu",
                "--devices", "cpu,cpu", "--concurrency", "4", "--workload", "paced", "burst", "--messages", "3",
                "--rate", "50", "--json", str(out), "--plots", str(tmp_path / "plots"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "cpu,cpu" in run.stdout and "goal: several GPUs >= 1.8x" in run.stdout
    result = json.loads(out.read_text())
    assert result["kind"] == "devices" and result["weights"] == "smoke"
    one, two = result["configurations"]
    assert (one["devices"], two["devices"]) == (["cpu"], ["cpu", "cpu"])
    # the concurrent requests and the burst are spread over both workers of the second configuration
    assert set(two["concurrent"]["per_device"]) == {"cpu#0", "cpu#1"}
    assert all(n > 0 for n in two["concurrent"]["per_device"].values()), two["concurrent"]["per_device"]
    assert sum(two["burst"]["per_device"].values()) == 3 and sum(two["paced"]["per_device"].values()) == 3
    assert one["concurrent"]["per_device"] == {"cpu": 12}  # 3 timed rounds of 4 (warm-up rounds: 0)
    table = {row["devices"]: row for row in result["summary"]["table"]}
    for workload in ("concurrent", "paced", "burst"):
        assert table["cpu"][workload]["ratio"] == 1.0
        two_row = table["cpu,cpu"][workload]
        assert two_row["audio_s_per_s"] > 0
        ref = table["cpu"][workload]["audio_s_per_s"]
        assert abs(two_row["ratio"] - two_row["audio_s_per_s"] / ref) < 1e-9
    assert (tmp_path / "plots" / "devices.png").stat().st_size > 1000


def test_bad_device_lists_and_nothing_to_measure_are_refused_with_what_to_do(tmp_path: Path) -> None:
    run = bench(tmp_path, "--smoke", "--devices", "cuda0", "--concurrency", "4")
    assert run.returncode == 2 and "'cuda0'" in run.stderr and "cuda:0,cuda:1" in run.stderr
    run = bench(tmp_path, "--smoke", "--devices", "cpu")
    assert run.returncode == 2 and "--concurrency N and/or --workload" in run.stderr
    run = bench(tmp_path, "--smoke", "--devices", "cpu", "--concurrency", "2", "--compare-stock")
    assert run.returncode == 2 and "without --devices" in run.stderr
