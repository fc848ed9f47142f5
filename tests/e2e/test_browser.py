"""The Live synthesis page in a real browser (Playwright driving Debian's chromium) against the smoke server."""

from __future__ import annotations

import re

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

SMOKE_NOTICE = "Smoke mode: a tiny randomly initialised model — the audio is noise, for testing only"
STATS_DONE = re.compile(r"RTF \d+\.\d+.*seed \d+", re.S)


def synthesize_with_shortcut(page, text: str) -> str:
    box = page.locator("#live-text textarea")
    box.fill(text)
    box.press("Control+Enter")
    stats = page.locator("#stats-line")
    expect(stats).to_contain_text(STATS_DONE, timeout=90_000)
    return stats.inner_text()


def test_page_shows_smoke_notice_and_ready_banner(page, client):
    expect(page.locator("#smoke-notice")).to_contain_text(SMOKE_NOTICE)
    expect(page.locator("#status-banner")).to_contain_text("Engine ready")
    expect(page.locator("#live-voice input")).to_have_value("Nature (English)")
    # the NFE slider starts at the studio's default
    default_nfe = client.predict(api_name="/health")["default_nfe"]
    expect(page.locator("#live-nfe input[type=number]")).to_have_value(str(default_nfe))


def test_ctrl_enter_synthesises_and_streams(page, tmp_path):
    line = synthesize_with_shortcut(page, "Hello from the browser test. This is the second sentence.")
    assert "smoke: random weights" in line
    seed = re.search(r"seed (\d+)", line).group(1)
    assert re.search(r"first audio \d+\.\d+ s", line) and re.search(r"NFE \d+", line)

    # the streaming player got a source, and the full take is downloadable as WAV
    expect(page.locator("#live-stream audio")).to_have_attribute("src", re.compile(r"^(blob:|https?:)"))
    expect(page.locator("#live-full a[download]")).to_have_attribute("href", re.compile(r"\.wav$"))

    # the seed can be reused for the next take
    reuse = page.locator("#reuse-seed")
    expect(reuse).to_contain_text(seed)
    reuse.click()
    expect(page.locator("#live-seed input")).to_have_value(seed)

    shot = tmp_path / "live-synthesis.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_history_row_loads_its_take(page):
    text = "A take for the history panel."
    synthesize_with_shortcut(page, text)
    first_row_text = page.locator("#history-table [role=gridcell]").filter(has_text=text).first
    expect(first_row_text).to_be_visible()
    first_row_text.click()
    info = page.locator("#history-info")
    expect(info).to_contain_text(re.compile(r"Take #\d+"))
    expect(info).to_contain_text(text)
    expect(page.locator("#history-audio a[download]")).to_have_attribute("href", re.compile(r"\.wav$"))


def test_empty_text_shows_the_exact_error(page):
    page.locator("#live-text textarea").fill("   ")
    page.locator("#synth-btn").click()
    expect(page.locator(".toast-body.error").first).to_contain_text("Type some text to speak.")
