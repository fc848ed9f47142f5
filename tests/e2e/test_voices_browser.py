"""The Voices tab in a real browser: add a voice through the page, then synthesise with it in Live synthesis."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.helpers import EN_CLIP

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

STATS_DONE = re.compile(r"RTF \d+\.\d+.*seed \d+", re.S)



def test_add_voice_in_the_page_and_synthesise_with_it(page, client, tmp_path):
    name = f"Browser voice {uuid.uuid4().hex[:5]}"

    page.get_by_role("tab", name="Voices").click()
    page.locator("#voice-clip input[type=file]").set_input_files(str(EN_CLIP))
    expect(page.locator("#voice-clip audio, #voice-clip .waveform-container").first).to_be_attached(
        timeout=30_000
    )
    page.locator("#voice-name textarea, #voice-name input").first.fill(name)
    page.locator("#voice-transcript textarea").fill("Some call me nature, others call me mother nature.")

    page.locator("#voice-preview-btn").click()
    report = page.locator("#voice-clean-report")
    expect(report).to_contain_text("LUFS", timeout=30_000)
    expect(report).to_contain_text("24000 Hz mono")

    page.locator("#voice-save-btn").click()
    expect(page.locator("#voice-saved")).to_contain_text(f"Saved {name}", timeout=90_000)
    expect(page.locator("#voices-table")).to_contain_text(name)
    expect(page.locator("#voices-chosen input")).to_have_value(name)
    page.get_by_text("Rename / edit transcript", exact=True).click()
    expect(page.locator("#voices-edit-transcript textarea")).to_have_value(
        "Some call me nature, others call me mother nature."
    )
    page.screenshot(path=str(tmp_path / "voices-tab.png"), full_page=True)

    # the Live synthesis dropdown picks the new voice up without a reload
    page.get_by_role("tab", name="Live synthesis").click()
    voice_input = page.locator("#live-voice input")
    voice_input.click()
    voice_input.fill(name)
    page.get_by_role("option", name=name).click()
    expect(voice_input).to_have_value(name)
    box = page.locator("#live-text textarea")
    box.fill("Hello from the new voice.")
    box.press("Control+Enter")
    expect(page.locator("#stats-line")).to_contain_text(STATS_DONE, timeout=90_000)

    # back in Voices: delete it, with confirmation
    page.get_by_role("tab", name="Voices").click()
    expect(page.locator("#voices-chosen input")).to_have_value(name)
    page.get_by_text("Delete", exact=True).click()
    page.locator("#voices-delete-btn").click()
    page.locator("#voices-confirm-delete").click()
    expect(page.locator("#voices-status")).to_contain_text(f"Deleted {name}")
    expect(page.locator("#voices-table")).not_to_contain_text(name)

    rows = client.predict(5, api_name="/history")
    assert rows[0]["voice_name"] == name and rows[0]["text"] == "Hello from the new voice."
    assert name not in [v["name"] for v in client.predict(api_name="/list_voices")]
