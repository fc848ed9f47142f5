"""One blind A/B trial in a real browser: play both clips to the end, vote, see the reveal."""

from __future__ import annotations

import re

import pytest

from tests.helpers import open_page

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

EN = "Nature (English)"




def _play_to_end(page, elem_id: str) -> None:
    audio = page.locator(f"#{elem_id}")
    audio.scroll_into_view_if_needed()
    # real-time playback: the page counts only timeupdate steps of real playing (a fast rate on a busy machine
    # makes steps long enough to look like jumps)
    audio.evaluate("a => { a.playbackRate = 1; return a.play(); }")


def test_one_trial_from_play_to_reveal(browser, studio_url, client):
    client.predict("Hello there, friend.", EN, [4], 6, 11, api_name="/nfe_scores")
    with open_page(browser, studio_url, ready=None, height=1200) as page:
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
    res = client.predict(api_name="/ab_results")
    assert res["votes_per_reviewer"].get("browser-reviewer") == 1


def test_render_two_voices_two_texts_table_plots_reuse_results_export(browser, studio_url, client):
    zh = next(v["name"] for v in client.predict(api_name="/list_voices") if v["name"] != EN)
    with open_page(browser, studio_url, ready=None, height=1400) as page:
        page.get_by_role("tab", name="NFE compare").click()
        # the empty state explains itself before anything is rendered
        expect(page.locator("#nfe-plot")).to_be_visible()
        # the page's load has shown what is stored (and set the reference box to the stored study's reference):
        # only then are the boxes ours to fill, or the load would overwrite the reference typed below
        expect(page.locator("#nfe-run-summary")).to_contain_text(re.compile("stored renders|No renders are stored"),
                                                                 timeout=30_000)
        page.locator("#nfe-voices input").click()
        page.get_by_role("option", name=zh).click()
        page.keyboard.press("Escape")
        page.locator("#nfe-text textarea").fill("今天天气很好。")
        page.locator("#nfe-seeds textarea, #nfe-seeds input").first.fill("3")
        page.locator("#nfe-ref input").fill("8")
        for nfe in ("10", "12", "16"):
            page.locator("#nfe-candidates").get_by_label(nfe, exact=True).uncheck()
        page.locator("#nfe-render").click()
        summary = page.locator("#nfe-run-summary")
        # 2 voices x 2 texts x 1 seed x (NFE 5, 6, 7 and the reference 8)
        expect(summary).to_contain_text("rendered now", timeout=300_000)  # the progress text says "renders done"
        expect(summary).to_contain_text("16 renders")
        expect(summary).to_contain_text("16 rendered now")
        table = page.locator("#nfe-table")
        for label in ("8 (reference)", "5", "6", "7"):
            expect(table).to_contain_text(label)
        expect(table).to_contain_text("[")  # mean [95% interval]
        for plot in ("#nfe-plot", "#nfe-plot-rtf", "#nfe-plot-frontier"):
            expect(page.locator(f"{plot} img").first).to_be_visible(timeout=30_000)
        page.get_by_text("Per-render details").click()
        details = page.locator("#nfe-details")
        expect(details).to_contain_text(zh)
        expect(details).to_contain_text(EN)
        # the same run again is served from the stored renders
        page.locator("#nfe-render").click()
        expect(summary).to_contain_text("0 rendered now, 16 reused", timeout=120_000)
        page.locator("#nfe-refresh").click()
        results = page.locator("#nfe-results")
        expect(results).to_contain_text("Recommended NFE")
        expect(results).to_contain_text("not enough votes yet")
        expect(results).to_contain_text("reference NFE 8")
        page.locator("#nfe-export").click()
        expect(page.locator("#nfe-export-files")).to_contain_text("nfe-votes-", timeout=30_000)
        page.locator("#nfe-adopt").click()
        expect(page.get_by_text("nothing to adopt").first).to_be_visible(timeout=30_000)


def test_bad_input_gives_a_clear_message(browser, studio_url):
    with open_page(browser, studio_url, ready=None, height=1200) as page:
        page.get_by_role("tab", name="NFE compare").click()
        page.locator("#nfe-none").click()
        page.locator("#nfe-render").click()
        expect(page.get_by_text("Pick at least one sentence").first).to_be_visible(timeout=30_000)
        page.locator("#nfe-text textarea").fill("Hello.")
        page.locator("#nfe-seeds textarea, #nfe-seeds input").first.fill("-1")
        page.locator("#nfe-render").click()
        expect(page.get_by_text("fixed seeds").first).to_be_visible()
        page.locator("#ab-reviewer textarea, #ab-reviewer input").first.fill("   ")
        page.locator("#ab-next").click()
        expect(page.get_by_text("Enter your name").first).to_be_visible()
