"""Issue 12, defect 9 in a real browser: the Voices tab lists a broken voice with its problem, says what is
wrong when it is chosen, and repairs it with a new clip."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from gradio_client import handle_file

from tests.helpers import EN_CLIP, EN_TEXT, open_page


def add(client, name: str) -> dict:
    return client.predict(name, handle_file(str(EN_CLIP)), EN_TEXT, "en", api_name="/add_voice")


def folder(server, slug: str) -> Path:
    return server.folder / "voices" / slug


def test_broken_voice_in_the_voices_tab(browser, client, studio_server, studio_url, tmp_path) -> None:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    expect = playwright_sync.expect
    name = f"Tab broken {uuid.uuid4().hex[:5]}"
    voice = add(client, name)
    (folder(studio_server, voice["slug"]) / "reference.wav").unlink()

    with open_page(browser, studio_url) as page:
        page.get_by_role("tab", name="Voices").click()
        expect(page.locator("#voices-table")).to_contain_text(re.compile(r"broken: reference\.wav is missing"))

        chooser = page.locator("#voices-chosen input")
        chooser.click()
        chooser.fill(name)
        page.get_by_role("option", name=name).click()
        expect(page.locator("#voices-broken-notice")).to_contain_text("is broken: reference.wav is missing")

        page.get_by_role("button", name=re.compile("^Repair a broken voice")).click()
        page.locator("#voices-repair-clip input[type=file]").set_input_files(str(EN_CLIP))
        expect(page.locator("#voices-repair-clip audio, #voices-repair-clip .waveform-container").first).to_be_attached(
            timeout=30_000)
        page.locator("#voices-repair-btn").click()
        expect(page.locator("#voices-status")).to_contain_text(f"Repaired {name}", timeout=90_000)
        expect(page.locator("#voices-broken-notice")).to_have_text("")
        page.screenshot(path=str(tmp_path / "voices-repaired.png"), full_page=True)
        assert name in [v["name"] for v in client.predict(api_name="/list_voices")]
        client.predict(name, api_name="/delete_voice")
