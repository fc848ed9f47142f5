"""scripts/screenshots.py end to end: it starts a smoke studio, does one thing in every tab in Chromium and saves
small PNGs; the README shows the committed ones. Run it here under the browser lock:
`flock /tmp/e2e.lock .venv/bin/python -m pytest -q tests/e2e/test_screenshots.py`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, REPO

PIL = pytest.importorskip("PIL.Image")
SCRIPT = REPO / "scripts" / "screenshots.py"
KNOWN_TABS = ("voices", "live-synthesis", "nfe-compare", "performance")
MAX_BYTES = 200 * 1024


def _check_png(path: Path) -> None:
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is {path.stat().st_size // 1024} KB"
    with PIL.open(path) as img:
        assert img.format == "PNG"
        assert 400 <= img.width <= 800 and 300 <= img.height <= 800, img.size
        lo, hi = img.convert("L").getextrema()
        assert hi - lo > 100, f"{path.name} is blank"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
@pytest.mark.timeout(1800)  # a studio start plus one action in each tab (an NFE render, a benchmark) on a CPU
def test_screenshot_script_captures_every_tab(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--chromium", CHROMIUM],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    captured = re.findall(r"^(.+?): (\S+\.png) \(\d+ KB\)$", proc.stdout, re.M)
    names = [Path(p).stem for _, p in captured]
    assert set(KNOWN_TABS) <= set(names), proc.stdout  # and any tab added later, as the page lists them
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(names)
    for name in names:
        _check_png(tmp_path / f"{name}.png")


def test_readme_shows_the_committed_screenshots():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"\(docs/images/([\w-]+\.png)\)", readme)
    for name in KNOWN_TABS:
        assert f"{name}.png" in shown, f"README does not show docs/images/{name}.png"
    for name in shown:
        _check_png(REPO / "docs" / "images" / name)
    assert "scripts/screenshots.py" in readme  # how to refresh them
