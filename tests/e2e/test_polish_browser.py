"""Issue 13 in a real browser (Playwright driving Debian's chromium) against the smoke server: the bugs a
first real use hit. Each test failed before its fix."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.helpers import EN_CLIP, EN_TEXT, fill_and_keep, open_page

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

EN = "Nature (English)"


def pick(page, elem_id: str, name: str) -> None:
    """Choose `name` in a dropdown by typing it, waiting until the page's load event has put it among the choices."""
    box = page.locator(f"#{elem_id} input")
    # the option's accessible name may be its value (a voice's slug): find it by its visible text
    option = page.get_by_role("option").filter(has_text=name)
    for _ in range(30):
        box.click()
        box.fill(name)
        page.wait_for_timeout(400)  # the list renders after typing; count() does not wait
        if option.count():
            option.first.click()
            break
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
    else:  # typed text stays in the box even when nothing was chosen: that is not a pick
        raise AssertionError(f"{name!r} never appeared among the choices of #{elem_id}")
    expect(box).to_have_value(name)


# ---- bug 1: a rename keeps the selection on the renamed voice ----------------------------------------
def test_renaming_the_voice_in_use_keeps_live_on_it(page, client):
    from gradio_client import handle_file

    name, renamed = f"Rename me {uuid.uuid4().hex[:5]}", f"Renamed {uuid.uuid4().hex[:5]}"
    client.predict(name, handle_file(str(EN_CLIP)), EN_TEXT, "en", api_name="/add_voice")
    try:
        page.reload()
        expect(page.locator("#status-banner")).to_contain_text("Engine ready", timeout=60_000)
        pick(page, "live-voice", name)
        page.get_by_role("tab", name="Voices").click()
        pick(page, "voices-chosen", name)
        page.get_by_text("Rename / edit transcript", exact=True).click()
        new_name = page.locator("#voices-new-name textarea, #voices-new-name input").first
        expect(new_name).to_have_value(name)  # the pick fills it with the current name: type after that lands
        fill_and_keep(page, new_name, renamed)  # a late answer to the pick can put the old name back
        page.locator("#voices-rename-btn").click()
        expect(page.locator("#voices-status")).to_contain_text(f"Renamed to {renamed}")
        expect(page.locator("#voices-chosen input")).to_have_value(renamed)
        page.get_by_role("tab", name="Live synthesis").click()
        # before the fix: the picker fell back to the first voice, so the next take used another voice
        expect(page.locator("#live-voice input")).to_have_value(renamed)
        box = page.locator("#live-text textarea")
        box.fill("Still the same voice.")
        box.press("Control+Enter")
        expect(page.locator("#stats-line")).to_contain_text(re.compile(r"RTF \d"), timeout=90_000)
        assert client.predict(1, api_name="/history")[0]["voice_name"] == renamed
    finally:
        left = {v["name"] for v in client.predict(api_name="/list_voices")} & {name, renamed}
        for n in left:
            client.predict(n, api_name="/delete_voice")


def test_one_pick_fills_the_voice_boxes_once(page, client):
    """Picking a voice answers once with its details: the dropdown also fires its input event when it loses focus
    (the user clicking into the name box to type), and that second answer, late on a loaded machine, wrote the old
    name back over what was typed (seen in CI)."""
    from gradio_client import handle_file

    name = f"Pick once {uuid.uuid4().hex[:5]}"
    transcript = f"{EN_TEXT} {uuid.uuid4().hex[:6]}"  # a transcript only this voice's details carry
    client.predict(name, handle_file(str(EN_CLIP)), transcript, "en", api_name="/add_voice")
    answers: list[str] = []
    try:
        page.reload()
        expect(page.locator("#status-banner")).to_contain_text("Engine ready", timeout=60_000)
        page.on("response", lambda r: answers.append(r.url) if r.request.method == "POST"
                and transcript in (r.text() or "") else None)
        page.get_by_role("tab", name="Voices").click()
        pick(page, "voices-chosen", name)
        page.get_by_text("Rename / edit transcript", exact=True).click()
        new_name = page.locator("#voices-new-name textarea, #voices-new-name input").first
        expect(new_name).to_have_value(name)
        new_name.click()  # the dropdown loses focus here
        new_name.press_sequentially(" 2", delay=30)
        page.wait_for_timeout(1500)
        expect(new_name).to_have_value(name + " 2")
        assert len(answers) == 1, f"the pick was answered {len(answers)} times: {answers}"
    finally:
        client.predict(name, api_name="/delete_voice")


# ---- bug 3: an error on Save voice or Import leaves the library panel as it was --------------------------
def test_save_and_import_errors_leave_the_library_panel(page):
    page.get_by_role("tab", name="Voices").click()
    table = page.locator("#voices-table")
    expect(table).to_contain_text(EN)
    page.locator("#voice-save-btn").click()
    expect(page.locator("#voice-saved")).to_contain_text("Give the voice a name")
    page.get_by_text("Export / import a voice pack", exact=True).click()
    page.locator("#voices-import-btn").click()
    expect(page.locator("#voices-status")).to_contain_text("Choose a voice pack (.zip) to import.")
    page.wait_for_timeout(500)
    # before the fix: table, picker, reference clip and preview turned into red "Error" badges
    library = page.locator("#voices-table, #voices-chosen, #voices-reference, #voices-edit-transcript")
    for i in range(library.count()):
        expect(library.nth(i).get_by_text("Error", exact=True)).to_have_count(0)
    expect(table).to_contain_text(EN)
    expect(page.locator("#voices-chosen input")).not_to_have_value("")
    expect(page.locator("#voices-status")).not_to_contain_text("Imported")


# ---- bug 5: Stop says it stopped, and does not offer the cancelled seed ----------------------------------
def test_stop_says_it_stopped_and_drops_the_cancelled_seed(page):
    text = " ".join(f"This is sentence number {i} of a long take that will be stopped early." for i in range(24))
    page.locator("#live-seed input").fill("424242")
    page.locator("#live-text textarea").fill(text)
    page.locator("#synth-btn").click()
    stats = page.locator("#stats-line")
    expect(stats).to_contain_text("Synthesising with seed 424242", timeout=60_000)
    page.locator("#stop-btn").click()
    expect(stats).to_contain_text("Stopped", timeout=10_000)
    page.wait_for_timeout(1500)
    expect(stats).to_contain_text("Stopped")
    reuse = page.locator("#reuse-seed")
    assert reuse.count() == 0 or "424242" not in reuse.inner_text(), "the cancelled seed is not offered for reuse"


# ---- bug 2: from the second trial on, both clips must really be played to the end ------------------------
def _play(page, elem_id: str, *, from_s: float = 0.0) -> None:
    audio = page.locator(f"#{elem_id}")
    audio.scroll_into_view_if_needed()
    audio.evaluate("(a, t) => { a.currentTime = t; return a.play(); }", from_s)


def _wait_ended(page, elem_id: str) -> None:
    page.wait_for_function(f"document.getElementById('{elem_id}').ended", timeout=60_000)


def test_second_ab_trial_needs_both_clips_played_through(page, client):
    client.predict("Hello there, friend.", EN, [4], 6, 11, api_name="/nfe_scores")
    page.get_by_role("tab", name="NFE compare").click()
    page.locator("#ab-reviewer textarea, #ab-reviewer input").first.fill(f"two-trials-{uuid.uuid4().hex[:5]}")
    vote_a = page.locator("#ab-vote-a")
    for trial in (1, 2):
        page.locator("#ab-next").click()
        expect(page.locator("#ab-reveal")).to_contain_text("Play both clips", timeout=30_000)
        expect(vote_a).to_be_disabled()
        _play(page, "ab-audio-a")
        _wait_ended(page, "ab-audio-a")
        if trial == 2:
            # before the fix: B's "ended" from trial 1 still counted, so A alone unlocked the vote
            page.wait_for_timeout(800)
            expect(vote_a).to_be_disabled()
            # seeking to the end is not listening
            page.wait_for_function("document.getElementById('ab-audio-b').readyState >= 1")
            duration = page.locator("#ab-audio-b").evaluate("a => a.duration")
            _play(page, "ab-audio-b", from_s=max(0.0, duration - 0.1))
            _wait_ended(page, "ab-audio-b")
            page.wait_for_timeout(800)
            expect(vote_a).to_be_disabled()
        _play(page, "ab-audio-b")
        page.wait_for_timeout(300)
        _wait_ended(page, "ab-audio-b")
        expect(vote_a).to_be_enabled(timeout=30_000)
        if trial == 1:
            page.locator("#ab-vote-tie").click()
        else:  # keyboard voting: 2 = no difference (outside text boxes)
            page.locator("#ab-reveal").click()
            page.keyboard.press("2")
        expect(page.locator("#ab-reveal")).to_contain_text("You chose no difference")


# ---- bug 8: Save baseline / Compare say what to do instead of failing silently -------------------------
def test_baseline_buttons_say_run_a_benchmark_first(page):
    page.reload()
    page.get_by_role("tab", name="Performance").click()
    page.locator("#bench-baseline-name textarea, #bench-baseline-name input").first.fill("after-reload")
    page.locator("#bench-save-baseline").click()
    expect(page.locator(".toast-body").filter(has_text="Run a benchmark first").first).to_be_visible()
    page.locator("#bench-compare").click()
    expect(page.locator(".toast-body").filter(has_text="then compare it with a baseline").first).to_be_visible()


# ---- bug 10: layout at desktop and phone width ----------------------------------------------------------
CUT_CELLS_JS = """
(sel) => [...document.querySelectorAll(sel + ' [role=gridcell]')].filter((td) => td.offsetParent !== null)
.filter((td) => {
  // a cell is cut when an element holding its text is wider inside than the box that clips it
  const leaves = [td, ...td.querySelectorAll('*')].filter((el) => el.children.length === 0 && el.innerText
    && el.innerText.trim() && getComputedStyle(el).overflow !== 'visible');
  return leaves.some((el) => el.scrollWidth > el.clientWidth + 1);
}).map((td) => td.innerText)
"""
NARROW_CELLS_JS = """
(sel) => [...document.querySelectorAll(sel + ' [role=gridcell]')].filter((td) => td.offsetParent !== null
  && td.innerText.trim().length > 3
  && td.getBoundingClientRect().width < 48).map((td) => td.innerText)
"""


def open_tab(page, name: str) -> None:
    """Select a tab; at phone width Gradio folds some tabs into a menu, so switch at desktop width and go back."""
    size = page.viewport_size
    page.set_viewport_size({"width": 1400, "height": size["height"]})
    page.get_by_role("tab", name=name).click()
    page.set_viewport_size(size)
    page.wait_for_timeout(500)


@pytest.mark.parametrize("width", [1400, 420])
def test_layout_history_tables_plots_and_symmetric_ab_buttons(browser, studio_url, client, width, tmp_path):
    import os

    shots = Path(os.environ.get("ISHOWTTS_SHOTS", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    client.predict("Hello there, friend.", EN, [4], 6, 11, api_name="/nfe_scores")
    client.predict("A take so the history has a row.", EN, 16, 5, 1.0, api_name="/synthesize")
    with open_page(browser, studio_url, ready=None, width=width, height=1000) as page:
        expect(page.locator("#history-table [role=gridcell]").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / f"live-{width}.png"), full_page=True)
        # before the fix: "F5 · NFE 16" and voice names were cut off at 1400 px
        assert page.evaluate(CUT_CELLS_JS, "#history-table") == []
        # before the fix: at 420 px the columns were squeezed until words broke into single letters
        assert page.evaluate(NARROW_CELLS_JS, "#history-table") == []

        open_tab(page, "NFE compare")
        page.locator("#ab-reviewer textarea, #ab-reviewer input").first.fill(f"layout-{width}")
        page.locator("#ab-next").click()
        expect(page.locator("#ab-audio-a")).to_be_attached()
        boxes = [page.locator(f"#ab-vote-{s}").bounding_box() for s in ("a", "tie", "b")]
        page.screenshot(path=str(shots / f"nfe-{width}.png"), full_page=True)
        # three answers on one row, equal widths: no answer gets a row (or a size) of its own
        assert len({round(b["y"]) for b in boxes}) == 1, boxes
        assert max(b["width"] for b in boxes) - min(b["width"] for b in boxes) <= 2, boxes
        plot = page.locator("#nfe-plot").bounding_box()
        assert plot["width"] >= min(300, 0.25 * width), plot

        open_tab(page, "Voices")
        expect(page.locator("#voices-table [role=gridcell]").first).to_be_visible()
        page.screenshot(path=str(shots / f"voices-{width}.png"), full_page=True)
        assert page.evaluate(NARROW_CELLS_JS, "#voices-table") == []
        open_tab(page, "Performance")
        page.wait_for_timeout(2500)
        page.screenshot(path=str(shots / f"performance-{width}.png"), full_page=True)


# ---- what users expect: history search, load settings back, delete, descriptive names; a character counter ----
def test_history_search_reuse_delete_and_a_descriptive_file_name(page, client):
    word = f"Pelican{uuid.uuid4().hex[:4]}"
    text = f"{word} takes flight over the harbour."
    page.locator("#live-seed input").fill("777")
    box = page.locator("#live-text textarea")
    box.fill(text)
    expect(page.locator("#live-char-count")).to_contain_text(f"{len(text)} / ")
    box.press("Control+Enter")
    expect(page.locator("#stats-line")).to_contain_text(re.compile(r"RTF \d"), timeout=90_000)

    page.locator("#history-search input, #history-search textarea").first.fill(word.lower())
    cells = page.locator("#history-table [role=gridcell]")
    expect(cells.filter(has_text=word)).to_have_count(1, timeout=10_000)
    # only that take is left: one row, so one voice cell (before the search, every take of the session showed)
    expect(cells.filter(has_text=EN)).to_have_count(1)
    cells.filter(has_text=word).first.click()
    expect(page.locator("#history-info")).to_contain_text(text)
    # the download is named after the voice, the start of the text and the time, not a random id
    expect(page.locator("#history-audio a[download]")).to_have_attribute(
        "href", re.compile(rf"nature-english-{word.lower()}-takes-flight[^/]*-\d{{8}}-\d{{6}}-[0-9a-f]{{6}}\.wav$"))

    box.fill("Something else entirely.")
    page.locator("#live-seed input").fill("-1")
    page.locator("#history-load").click()
    expect(box).to_have_value(text)
    expect(page.locator("#live-seed input")).to_have_value("777")
    expect(page.locator("#live-voice input")).to_have_value(EN)

    page.locator("#history-delete").click()
    expect(page.locator("#history-info")).to_contain_text("Deleted take #")
    expect(page.locator("#history-table")).not_to_contain_text(word)
    assert word not in " ".join(r["text"] for r in client.predict(50, api_name="/history"))


def test_nfe_tab_shows_the_stored_renders_after_a_reload(page, client):
    # a text of its own: renders another test already stored would be reused, not stored again, and the page
    # shows the latest stored study (other tests render with reference 8)
    client.predict(f"Hello there, friend {uuid.uuid4().hex[:6]}.", EN, [4], 6, 11, api_name="/nfe_scores")
    page.reload()
    page.get_by_role("tab", name="NFE compare").click()
    # before: an empty table and empty plots until the same run was rendered again
    expect(page.locator("#nfe-run-summary")).to_contain_text("stored renders", timeout=30_000)
    expect(page.locator("#nfe-table")).to_contain_text("(reference)")
    expect(page.locator("#nfe-plot img").first).to_be_visible(timeout=30_000)
    # the box names the reference of the renders shown (6), not the configured 32
    expect(page.locator("#nfe-ref input")).to_have_value("6")


# ---- what users expect, the rest: favourites, MP3 and ZIP downloads, one sentence again, skip, preview text ----
def _show_take(page, word: str) -> None:
    page.locator("#history-search input, #history-search textarea").first.fill(word.lower())
    cell = page.locator("#history-table [role=gridcell]").filter(has_text=word)
    expect(cell).to_have_count(1, timeout=10_000)
    # the unfiltered table has that one cell too: wait until the search's rows are in (only the take's row left),
    # or the click lands while the table is redrawn and selects whatever row is first then (seen in CI)
    expect(page.locator("#history-table tbody tr")).to_have_count(1, timeout=10_000)
    cell.first.click()
    expect(page.locator("#history-info")).to_contain_text(word)


def test_history_favourites_and_mp3_and_zip_downloads(page, client):
    import io
    import zipfile

    word, other = f"Heron{uuid.uuid4().hex[:4]}", f"Gull{uuid.uuid4().hex[:4]}"
    client.predict(f"{word} stands still in the reeds.", EN, 4, 3, api_name="/synthesize")
    client.predict(f"{other} is not a favourite.", EN, 4, 3, api_name="/synthesize")
    page.reload()
    _show_take(page, word)
    page.locator("#history-star").click()
    expect(page.locator("#history-star")).to_contain_text("Remove from favourites")
    expect(page.locator("#history-info")).to_contain_text("★")
    page.locator("#history-search input, #history-search textarea").first.fill("")
    page.locator("#history-favourites-only input").check()
    table = page.locator("#history-table")
    expect(table).to_contain_text(word)
    expect(table).not_to_contain_text(other)
    starred = [r["id"] for r in client.predict(100, api_name="/history_favourites")]

    page.get_by_label("MP3").check()
    page.locator("#history-download-one").click()
    link = page.locator("#history-download a").first
    expect(link).to_have_attribute("href", re.compile(rf"take-\d+-nature-english-{word.lower()}-stands[^/]*\.mp3$"))
    mp3 = page.request.get(link.get_attribute("href"))
    assert mp3.ok and mp3.body()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")

    page.locator("#history-zip").click()  # the takes shown: the favourites
    expect(page.locator("#history-download a").first).to_have_attribute("href", re.compile(r"takes-\d+-mp3-.*\.zip$"))
    body = page.request.get(page.locator("#history-download a").first.get_attribute("href")).body()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert len(names) == len(starred) and all(n.endswith(".mp3") for n in names)
    assert any(f"-{word.lower()}-stands" in n for n in names) and not any(other.lower() in n for n in names)


def test_regenerate_one_sentence_from_the_history(page, client):
    word = f"Otter{uuid.uuid4().hex[:4]}"
    # over engine.single_chunk_chars (135 bytes): two chunks, the take's two "sentences"
    client.predict(f"{word} swims across the wide river at dawn. Then it rests on a warm stone in the sun, "
                   "watches the water flow by, and waits for the evening.", EN, 4, 8, api_name="/synthesize")
    page.reload()
    _show_take(page, word)
    page.locator("#history-regen-panel").get_by_text("Regenerate one sentence").click()
    page.locator("#history-sentence input").click()
    page.get_by_role("option").filter(has_text="2. Then it rests").first.click()
    expect(page.locator("#history-sentence input")).to_have_value(re.compile(r"^2\. Then it rests"))
    page.locator("#history-regen").click()
    expect(page.locator("#history-info")).to_contain_text(re.compile(r"Sentence 2 of 2 regenerated from take #\d+"),
                                                          timeout=90_000)
    newest = client.predict(1, api_name="/history")[0]
    assert newest["text"].startswith(word) and newest["seed"] == 8


def test_skip_an_ab_trial_in_the_page(page, client):
    client.predict("Hello there, friend.", EN, [3, 4], 6, 12, api_name="/nfe_scores")
    page.get_by_role("tab", name="NFE compare").click()
    reviewer = f"skipper-{uuid.uuid4().hex[:5]}"
    page.locator("#ab-reviewer textarea, #ab-reviewer input").first.fill(reviewer)
    expect(page.locator("#ab-skip")).to_be_disabled()
    page.locator("#ab-next").click()
    expect(page.locator("#ab-reveal")).to_contain_text("Play both clips", timeout=30_000)
    votes = client.predict(6, api_name="/ab_results")["total_votes"]
    page.locator("#ab-reveal").click()
    page.keyboard.press("s")  # the S key skips, like the button
    expect(page.locator("#ab-reveal")).to_contain_text("Skipped: no vote was stored")
    expect(page.locator("#ab-skip")).to_be_disabled()
    expect(page.locator("#ab-vote-a")).to_be_disabled()
    assert page.locator("#ab-player audio").count() == 0
    assert client.predict(6, api_name="/ab_results")["total_votes"] == votes
    page.locator("#ab-next").click()
    expect(page.locator("#ab-reveal")).to_contain_text("Play both clips", timeout=30_000)
    page.locator("#ab-skip").click()
    expect(page.locator("#ab-reveal")).to_contain_text("Skipped")


def test_a_voice_previews_its_own_text(page, client):
    line = f"Hi chat, this is my preview {uuid.uuid4().hex[:4]}."
    page.get_by_role("tab", name="Voices").click()
    pick(page, "voices-chosen", EN)
    page.get_by_text("Rename / edit transcript").click()
    expect(page.locator("#voices-edit-transcript textarea")).not_to_have_value("")
    box = page.locator("#voices-edit-preview textarea, #voices-edit-preview input").first
    for _ in range(10):  # the picked voice's details may land after typing and empty the box again
        box.fill(line)
        page.wait_for_timeout(800)
        if box.input_value() == line:
            break
    page.locator("#voices-update-btn").click()
    expect(page.locator("#voices-status")).to_contain_text("Saved the transcript, language and preview text",
                                                           timeout=60_000)
    expect(box).to_have_value(line)  # the refreshed details show the stored line
    try:
        page.locator("#voices-synth-btn").click()
        expect(page.locator("#voices-synth-stats")).to_contain_text(re.compile(r"RTF \d"), timeout=90_000)
        assert client.predict(1, api_name="/history")[0]["text"] == line  # the preview spoke the voice's own line
    finally:
        client.predict(EN, "", api_name="/set_preview_text")
