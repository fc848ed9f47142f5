"""One blind A/B trial in a real browser: play both clips to the end, vote, see the reveal."""

from __future__ import annotations

import re

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

EN = "Nature (English)"




def _play_to_end(page, elem_id: str) -> None:
    audio = page.locator(f"#{elem_id}")
    audio.scroll_into_view_if_needed()
    audio.evaluate("a => { a.playbackRate = 4; return a.play(); }")


def test_one_trial_from_play_to_reveal(browser, studio_url, client):
    client.predict("Hello there, friend.", EN, [4], 6, 11, api_name="/nfe_scores")
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(studio_url)
        page.get_by_role("tab", name="NFE compare").click()
        expect(page.locator("#nfe-smoke-notice")).to_contain_text("scores and votes are meaningless")
        page.locator("#ab-reviewer textarea, #ab-reviewer input").first.fill("browser-reviewer")
        page.locator("#ab-next").click()
        for btn in ("#ab-vote-a", "#ab-vote-b", "#ab-vote-tie"):
            expect(page.locator(btn)).to_be_disabled()
        expect(page.locator("#ab-reveal")).to_contain_text("Play both clips")
        # nothing on the page names the NFE of either clip before the vote
        assert not re.search(r"NFE \d", page.locator("#ab-reveal").inner_text())
        _play_to_end(page, "ab-audio-a")
        page.wait_for_timeout(500)
        expect(page.locator("#ab-vote-a")).to_be_disabled()
        _play_to_end(page, "ab-audio-b")
        expect(page.locator("#ab-vote-a")).to_be_enabled(timeout=60_000)
        page.locator("#ab-vote-b").click()
        expect(page.locator("#ab-reveal")).to_contain_text(re.compile(r"A was \*?\*?NFE \d+|A was NFE \d+"))
        expect(page.locator("#ab-vote-a")).to_be_disabled()
    finally:
        context.close()
    res = client.predict(api_name="/ab_results")
    assert res["votes_per_reviewer"].get("browser-reviewer") == 1


def test_render_table_plots_results_export_in_smoke_mode(browser, studio_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(studio_url)
        page.get_by_role("tab", name="NFE compare").click()
        page.locator("#nfe-render").click()
        table = page.locator("#nfe-table")
        expect(table).to_contain_text("32", timeout=180_000)  # the reference row
        for nfe in ("5", "16"):
            expect(table).to_contain_text(nfe)
        expect(page.locator("#nfe-plot img").first).to_be_visible(timeout=30_000)
        page.locator("#nfe-refresh").click()
        expect(page.locator("#nfe-results")).to_contain_text("Recommended NFE")
        expect(page.locator("#nfe-results")).to_contain_text("not enough votes yet")
        page.locator("#nfe-export").click()
        expect(page.locator("#nfe-export-files")).to_contain_text("nfe-export-", timeout=30_000)
        page.locator("#nfe-adopt").click()
        expect(page.get_by_text("nothing to adopt").first).to_be_visible(timeout=30_000)
    finally:
        context.close()
