"""The Live chat tab and the OBS overlay in a real browser (Playwright driving Debian's chromium) against the
smoke server: messages posted in the tab are played by both players, in order, back to back, and shown.

Run under the browser lock: flock /tmp/e2e.lock .venv/bin/python -m pytest -q tests/e2e/test_chat_browser.py
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gradio_client import Client

from tests.helpers import APP, START_TIMEOUT_S, Server, open_context, open_page, start_server
from tests.helpers import health as _health
from tests.helpers import stop as _stop

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

CROSSFADE_S = 0.03  # [chat] crossfade_ms default
LOG = "() => (window.__chatPlayer ? window.__chatPlayer.log : [])"
PLAYER_STATE = """() => { const p = window.__chatPlayer && window.__chatPlayer.state; if (!p) return null;
  return {audio: p.ctx && p.ctx.state, clock: p.ctx && p.ctx.currentTime, paused: p.paused, connection: p.connection,
          playing: Array.from(p.playing.keys()), chain: p.chain, offset: p.offset}; }"""


def shots_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $CHAT_SCREENSHOTS to keep them for a look, else the test's temp folder."""
    folder = Path(os.environ.get("CHAT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_chat_tab(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#status-banner")).to_contain_text("Engine ready", timeout=60_000)
    tab = page.get_by_role("tab", name="Live chat")
    if tab.is_visible():
        tab.click()
    else:  # a narrow window folds tabs into the "…" menu
        page.locator(".overflow-menu button, [class*=overflow] > button").first.click()
        page.get_by_role("button", name="Live chat").last.click()
    expect(page.locator("#chat-player")).to_have_attribute("data-connection", "live", timeout=30_000)


def starts(page) -> list[dict]:
    return [e for e in page.evaluate(LOG) if e["type"] == "start"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def our_rows(client: Client, authors: list[str]) -> list[dict]:
    rows = [r for r in client.predict(200, api_name="/chat_history") if r["author"] in authors]
    return sorted(rows, key=lambda r: r["id"])


# This module's own studio: chat messages may wait longer here than the default max_wait_s (60 s) before they
# are dropped as stale, because synthesis on a busy CI CPU is slow and the first test holds three messages
# while it pauses the timeline; and no per-author cooldown between the tests' posts. All three are synthesised
# ahead (prefetch 3), so no synthesis competes with the browser for the CI machine's two cores while they play:
# with prefetch 2 the third one's synthesis once starved the tab's fetch of the second past its 1.5 s lead.
CHAT_TOML = """
[chat]
max_wait_s = 900.0
cooldown_s = 0.0
prefetch = 3
"""


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("chat-browser-server"), extra_toml=CHAT_TOML)
    try:
        yield server
    finally:
        _stop(server.process)


@pytest.fixture(scope="module")
def studio_url(studio_server: Server) -> str:
    return studio_server.url


@pytest.fixture(scope="module")
def client(studio_server: Server) -> Client:
    return Client(studio_server.url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture
def context(browser):
    """One browser context per test, for the tab and the overlay page it opens."""
    with open_context(browser, height=1000) as ctx:
        yield ctx


def test_tab_and_overlay_play_three_posted_messages_in_order(context, studio_url, client, tmp_path):
    tab = context.new_page()
    open_chat_tab(tab, studio_url)
    overlay = context.new_page()
    overlay.goto(studio_url + "overlay")
    expect(overlay.locator("#overlay")).to_have_attribute("data-connection", "live", timeout=30_000)

    tag = uuid.uuid4().hex[:5]
    authors = [f"anna{tag}", f"ben{tag}", f"cara{tag}"]
    texts = ["first message from anna", "second message from ben", "third message from cara"]
    # paused while they are synthesised, so the timeline places them back to back on resume
    client.predict("pause", None, api_name="/chat_control")
    try:
        tab.locator("#chat-lines textarea").fill("\n".join(f"{a}: {t}" for a, t in zip(authors, texts)))
        tab.locator("#chat-post").click()
        expect(tab.locator("#chat-post-note")).to_contain_text("Posted 3 of 3 message(s).")
        expect(tab.locator("#chat-lines textarea")).to_have_value("")
        rows = wait_for(lambda: len(our_rows(client, authors)) == 3 and our_rows(client, authors), 30, "rows")
        ids = [r["id"] for r in rows]
        assert [r["author"] for r in rows] == authors, "posted in line order"
        # the live queue table shows them while they wait
        expect(tab.locator("#chat-queue")).to_contain_text(authors[0], timeout=15_000)

        def ready() -> bool:
            queue = client.predict(api_name="/chat_status")["queue"]
            return sum(1 for m in queue if m["id"] in ids and m["state"] == "ready") >= 2

        wait_for(ready, 180, "two messages synthesised")
    finally:
        client.predict("resume", None, api_name="/chat_control")

    for name, page in (("tab", tab), ("overlay", overlay)):
        try:
            wait_for(lambda p=page: {e["id"] for e in starts(p)} >= set(ids), 240, "all three messages played")
        except AssertionError as exc:  # say what the player was doing, to tell a stalled clock from a lost event
            raise AssertionError(f"{name}: {exc}; player {page.evaluate(PLAYER_STATE)}; log {page.evaluate(LOG)}; "
                                 f"server {our_rows(client, authors)}") from None
    for name, page in (("tab", tab), ("overlay", overlay)):
        log = [e for e in page.evaluate(LOG) if e["id"] in ids]
        played = [e for e in log if e["type"] == "start"]
        assert [e["id"] for e in played] == ids, f"{name} played them out of order: {log}"
        assert [e["author"] for e in played] == authors
        assert all(t in e["text"] for e, t in zip(played, texts))
        assert not [e for e in log if e["type"] in ("missed", "skip")], f"{name}: {log}"
        # never two at once (beyond the cross-fade), and where the server placed two back to back the player
        # did too: no gap longer than the cross-fade
        back_to_back = 0
        for prev, nxt in zip(played, played[1:]):
            assert nxt["ctxStart"] >= prev["ctxEnd"] - 0.26, f"{name}: overlap {prev} / {nxt}"
            server_gap = nxt["start_at"] - (prev["start_at"] + prev["duration_s"])
            if server_gap <= 0.001:
                back_to_back += 1
                player_gap = nxt["ctxStart"] - prev["ctxEnd"]
                # the server overlaps them by the cross-fade; the player keeps that spacing (decoding may
                # resample a few samples longer)
                assert player_gap <= 0.001 and abs(player_gap - server_gap) <= 0.01, (
                    f"{name}: player gap {player_gap:.4f} s, server gap {server_gap:.4f} s")
                assert server_gap >= -CROSSFADE_S - 0.002
        assert back_to_back >= 1, f"{name}: no two messages were placed back to back: {played}"

    # the overlay shows who is being read (the last one stays in its card), the tab's history has them spoken
    expect(overlay.locator("#author")).to_have_text(authors[2])
    expect(overlay.locator("#text")).to_contain_text(texts[2])
    for author in authors:
        expect(tab.locator("#chat-history")).to_contain_text(author, timeout=15_000)
    wait_for(lambda: all(r["state"] == "spoken" for r in our_rows(client, authors)), 60, "all spoken")
    expect(tab.locator("#chat-history")).to_contain_text(re.compile(r"spoken"))

    shot = shots_dir(tmp_path) / "chat-1400.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_skip_pause_and_resume_in_the_tab(context, studio_url, client):
    tab = context.new_page()
    open_chat_tab(tab, studio_url)
    author = f"long{uuid.uuid4().hex[:5]}"
    text = ("this message is long enough to be skipped while it is being read out loud, "
            "so the player has to stop it in the middle and go on with the next one")
    tab.locator("#chat-lines textarea").fill(f"{author}: {text}")
    tab.locator("#chat-post").click()
    mid = wait_for(lambda: (our_rows(client, [author]) or [{}])[0].get("id"), 30, "the row")
    wait_for(lambda: any(e["id"] == mid for e in starts(tab)), 240, "the long message to start")

    tab.locator("#chat-pause").click()
    expect(tab.locator("#chat-player")).to_have_attribute("data-audio", "suspended", timeout=10_000)
    expect(tab.locator("#chat-player .cp-text")).to_contain_text(text[:20])
    tab.locator("#chat-resume").click()
    expect(tab.locator("#chat-player")).to_have_attribute("data-audio", "running", timeout=10_000)

    tab.locator("#chat-skip").click()
    wait_for(lambda: any(e["type"] == "skip" and e["id"] == mid for e in tab.evaluate(LOG)), 15, "the skip")
    row = wait_for(lambda: [r for r in our_rows(client, [author]) if r["state"] == "spoken"], 30, "final row")[0]
    assert row["detail"].startswith("skipped after"), row
    expect(tab.locator("#chat-control-note")).to_contain_text("Skipped")


class FreezingRelay:
    """A TCP relay on 127.0.0.1 in front of the studio. `freeze()` makes every event stream open through it go
    silent without closing (a connection that died on the way: a dropped route, a sleeping NAT entry): what the
    studio sends is read and thrown away, nothing reaches the browser and nobody sees an error. Other connections,
    and event streams opened later, are relayed as before."""

    def __init__(self, target_url: str) -> None:
        self.target = urlsplit(target_url).port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/"
        self.streams: list[threading.Event] = []  # one "frozen" flag per connection that carried /chat/events
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                browser_side, _ = self.server.accept()
            except OSError:  # closed
                return
            studio_side = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [browser_side, studio_side]
            frozen = threading.Event()
            for src, dst, up in ((browser_side, studio_side, True), (studio_side, browser_side, False)):
                threading.Thread(target=self._pump, args=(src, dst, frozen, up), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, frozen: threading.Event, up: bool) -> None:
        try:
            while data := src.recv(65536):
                if up and b"GET /chat/events" in data:
                    self.streams.append(frozen)
                if not frozen.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):  # one side closed (e.g. the studio's keep-alive timeout): so does the other
            sock.close()

    def freeze(self) -> int:
        for flag in self.streams:
            flag.set()
        return len(self.streams)

    def close(self) -> None:
        self.server.close()
        for sock in self.sockets:
            sock.close()


def test_overlay_replaces_an_event_stream_that_went_silent(context, studio_url, client):
    relay = FreezingRelay(studio_url)
    try:
        overlay = context.new_page()
        overlay.goto(relay.url + "overlay")
        root = overlay.locator("#overlay")
        expect(root).to_have_attribute("data-connection", "live", timeout=30_000)
        overlay.evaluate("() => { window.__firstStream = window.__chatPlayer.state.source; }")
        assert relay.freeze() == 1
        # heartbeats stop arriving; after 10 s of silence the player opens a new stream by itself
        wait_for(lambda: overlay.evaluate("() => window.__chatPlayer.state.source !== window.__firstStream"),
                 30, "a new event stream")
        expect(root).to_have_attribute("data-connection", "live", timeout=30_000)
        assert len(relay.streams) >= 2  # a request sent on a connection the studio just closed is sent again
        sent = client.predict(f"relay{uuid.uuid4().hex[:5]}", "heard over the new stream", "chat", 0, "api",
                              api_name="/chat_post")
        wait_for(lambda: any(e["id"] == sent["id"] for e in starts(overlay)), 240, "the message after the stall")
    finally:
        relay.close()


def test_a_stalled_audio_download_does_not_hold_back_the_next_message(context, studio_url, client):
    overlay = context.new_page()
    held, armed = [], threading.Event()

    def hang_the_first(route) -> None:  # noqa: ANN001
        if armed.is_set() and not held:
            held.append(route)  # never answered: a download that stalls
        else:
            route.continue_()

    overlay.route("**/chat/audio/**", hang_the_first)
    try:
        overlay.goto(studio_url + "overlay")
        expect(overlay.locator("#overlay")).to_have_attribute("data-connection", "live", timeout=30_000)
        tag = uuid.uuid4().hex[:5]
        client.predict("pause", None, api_name="/chat_control")  # both synthesised first, then back to back
        armed.set()  # (a message of an earlier test may still have been playing when the page connected)
        try:
            first = client.predict(f"stall{tag}", "this message's audio never arrives", "chat", 0, "api",
                                   api_name="/chat_post")
            second = client.predict(f"next{tag}", "this one is heard all the same", "chat", 0, "api",
                                    api_name="/chat_post")
            wait_for(lambda: sum(m["id"] in (first["id"], second["id"]) and m["state"] == "ready"
                                 for m in client.predict(api_name="/chat_status")["queue"]) == 2, 180, "both ready")
        finally:
            client.predict("resume", None, api_name="/chat_control")
        wait_for(lambda: any(e["id"] == second["id"] for e in starts(overlay)), 240, "the second message to play")
        log = overlay.evaluate(LOG)
        assert [e["type"] for e in log if e["id"] == first["id"]] == ["missed"], log
        assert held, "the first download was never asked for"
    finally:
        for route in held:
            try:
                route.abort()
            except Exception:  # the player gave up on it already
                pass


def test_phone_width_screenshot(browser, studio_url, tmp_path):
    with open_context(browser, width=420, height=900, is_mobile=True) as ctx:
        page = ctx.new_page()
        open_chat_tab(page, studio_url)
        for element in ("#chat-lines", "#chat-post", "#chat-skip", "#chat-queue", "#chat-history"):
            box = page.locator(element).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 421, (element, box)
        shot = shots_dir(tmp_path) / "chat-420.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000


def _launch_again(server: Server) -> subprocess.Popen:
    """Start the same studio again (same config file, so the same port and folders)."""
    env = dict(os.environ, GRADIO_TEMP_DIR=str(server.folder / "gradio-tmp"), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("ISHOWTTS_CONFIG", None)
    with open(server.log, "ab") as out:
        return subprocess.Popen([sys.executable, str(APP), "--smoke", "--config", str(server.config)],
                                cwd=server.folder, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_overlay_reconnects_by_itself_when_the_studio_restarts(browser, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("chat-restart"))
    try:
        with open_context(browser, width=1280, height=720) as ctx:
            overlay = ctx.new_page()
            overlay.goto(server.url + "overlay")
            root = overlay.locator("#overlay")
            expect(root).to_have_attribute("data-connection", "live", timeout=30_000)
            client = Client(server.url, verbose=False, analytics_enabled=False, download_files=False)
            first = client.predict("before", "spoken before the restart", "chat", 0, "api", api_name="/chat_post")
            wait_for(lambda: any(e["id"] == first["id"] for e in starts(overlay)), 240, "the first message")

            _stop(server.process)
            expect(root).to_have_attribute("data-connection", "reconnecting", timeout=30_000)
            expect(overlay.locator("#conn")).to_contain_text("reconnecting")
            server.process = _launch_again(server)
            wait_for(lambda: (_health(server.url) or {}).get("status") == "ready", START_TIMEOUT_S, "the restart")
            # the page was never reloaded: the player found the new studio by itself
            expect(root).to_have_attribute("data-connection", "live", timeout=60_000)
            client = Client(server.url, verbose=False, analytics_enabled=False, download_files=False)
            second = client.predict("after", "spoken after the restart", "chat", 0, "api", api_name="/chat_post")
            wait_for(lambda: any(e["id"] == second["id"] for e in starts(overlay)), 240, "the message after restart")
            expect(overlay.locator("#text")).to_contain_text("spoken after the restart")
    finally:
        _stop(server.process)


def test_performance_tab_shows_the_chat_figures(browser, studio_url, client):
    with open_page(browser, studio_url, height=1000) as page:
        page.get_by_role("tab", name="Performance").click()
        panel = page.locator("#perf-chat-figures")
        expect(panel).to_contain_text("Messages / min")
        expect(panel).to_contain_text("Arrival → first audio")
        p50 = client.predict(api_name="/chat_status")["figures"]["first_audio_p50_s"]
        if p50 is not None:  # after the other tests of this module: a measured figure, not a dash
            value = panel.locator(".chat-tile").nth(2).locator(".val")
            expect(value).to_have_text(re.compile(r"^\d+(\.\d)? (ms|s)$"), timeout=10_000)
