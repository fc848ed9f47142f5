#!/usr/bin/env python3
"""Screenshots of every tab for the README: start the studio in smoke mode, open each tab in Chromium, do
one typical thing there, save a small PNG per tab.

    .venv/bin/python scripts/screenshots.py                 # writes docs/images/<tab>.png
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --chromium /usr/bin/chromium

The tabs are the ones the page has (a new tab gets a screenshot without any change here; give it an action
in ACTIONS to show it at work). Everything the studio writes lives in a temporary folder. Needs Playwright
and a Chromium (Debian's /usr/bin/chromium by default); exit code 0 when every tab was captured.
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--mute-audio", "--autoplay-policy=no-user-gesture-required"]
VIEWPORT = {"width": 1280, "height": 900}
MAX_HEIGHT = 1500  # page pixels kept per shot (before scaling)
STATS_DONE = re.compile(r"RTF \d+\.\d+")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_studio(folder: Path) -> tuple[subprocess.Popen, str]:
    """`app.py --smoke` with every file in `folder`; returns once /metrics says the engine is ready."""
    port = _free_port()
    (folder / "config.toml").write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[engine]\nwarmup = false\n\n'
        '[paths]\nvoices = "voices"\nsamples = "samples"\ndatabase = "samples/studio.db"\ncache = "cache"\n',
        encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1",
               GRADIO_TEMP_DIR=str(folder / "gradio-tmp"))
    env.pop("ISHOWTTS_CONFIG", None)
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - open for the server's whole life
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--smoke", "--config", str(folder / "config.toml")],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the studio exited with code {proc.returncode}; see {folder / 'server.log'}")
        try:
            with urllib.request.urlopen(url + "metrics", timeout=5) as r:
                if b"ishowtts_engine_ready 1.0" in r.read():
                    return proc, url
        except OSError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("the studio was not ready within 240 s")


# ---------------------------------------------------------------------------------------- tab actions


def _voices(page: Any) -> None:
    """Upload a clip with its transcript and show the cleaned before/after preview."""
    clip = Path(str(importlib.resources.files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav")))
    page.locator("#voice-clip input[type=file]").set_input_files(str(clip))
    page.locator("#voice-name textarea, #voice-name input").first.fill("Narrator (calm)")
    page.locator("#voice-transcript textarea").fill("Some call me nature, others call me mother nature.")
    page.locator("#voice-preview-btn").click()
    page.locator("#voice-clean-report").filter(has_text="LUFS").wait_for(timeout=120_000)


def _live(page: Any) -> None:
    """Speak a line and wait for its figures."""
    page.locator("#live-text textarea").fill("Welcome back to the stream! Today we are cloning voices on the GPU.")
    page.locator("#synth-btn").click()
    page.locator("#stats-line").filter(has_text=STATS_DONE).wait_for(timeout=180_000)


def _nfe(page: Any) -> None:
    """Render one sentence at two candidate NFEs against a reference and show the scores."""
    page.locator("#nfe-text textarea").fill("The quick brown fox jumps over the lazy dog.")
    page.locator("#nfe-seeds textarea, #nfe-seeds input").first.fill("1")
    page.locator("#nfe-ref input").fill("8")
    for nfe in ("7", "8", "10", "12", "16"):
        box = page.locator("#nfe-candidates").get_by_label(nfe, exact=True)
        if box.count() and box.is_checked():
            box.uncheck()
    page.locator("#nfe-render").click()
    page.locator("#nfe-run-summary").filter(has_text="rendered now").wait_for(timeout=600_000)


def _performance(page: Any) -> None:
    """Run a one-row benchmark and show its table and plots."""
    runs = page.locator("#bench-runs input[type=number]")
    runs.fill("1")
    runs.press("Enter")
    page.locator("#bench-run").click()
    page.locator("#bench-status").filter(has_text="Saved as run").wait_for(timeout=600_000)


# tab label -> action; a tab without one is captured as it opens
ACTIONS: dict[str, Callable[[Any], None]] = {
    "Voices": _voices,
    "Live synthesis": _live,
    "NFE compare": _nfe,
    "Performance": _performance,
}


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "tab"


def shrink(raw: Path, out: Path, scale: float) -> None:
    """Crop to MAX_HEIGHT, scale down and store as a 256-colour PNG: small enough for a README."""
    from PIL import Image

    with Image.open(raw) as img:
        img = img.convert("RGB")
        img = img.crop((0, 0, img.width, min(img.height, MAX_HEIGHT)))
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        img.save(out, format="PNG", optimize=True)


def capture(url: str, out: Path, chromium: str, scale: float, work: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT, device_scale_factor=1).new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.locator("#status-banner").filter(has_text="Engine ready").wait_for(timeout=120_000)
            labels = [t.inner_text().strip() for t in page.get_by_role("tab").all()]
            for label in labels:
                page.get_by_role("tab", name=label, exact=True).click()
                page.wait_for_timeout(500)
                action = ACTIONS.get(label)
                if action is not None:
                    action(page)
                page.wait_for_timeout(800)  # let plots and toasts settle
                raw = work / f"{slug(label)}-raw.png"
                page.screenshot(path=str(raw), full_page=True)
                target = out / f"{slug(label)}.png"
                shrink(raw, target, scale)
                saved.append(target)
                print(f"{label}: {target} ({target.stat().st_size // 1024} KB)", flush=True)
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="folder for the PNGs")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--scale", type=float, default=0.5, help="size of the saved images (default 0.5)")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"screenshots: no Chromium at {args.chromium}; pass --chromium PATH", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ishowtts-shots-") as tmp:
        work = Path(tmp)
        proc, url = start_studio(work)
        try:
            saved = capture(url, args.out, args.chromium, args.scale, work)
        except Exception as exc:
            print(f"screenshots: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"{len(saved)} screenshots in {args.out}")
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
