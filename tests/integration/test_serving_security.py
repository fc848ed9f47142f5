"""What the web server serves, with and without login (issue 12, defects 1, 2, 3 and 10).

A real smoke-mode server (tests/helpers.py) and plain HTTP requests, as a stranger on the network would send them:
the database, a voice's files, history and NFE renders must not come back by their path; pages get hand-outs
with random names; login covers everything and throttles wrong passwords.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from tests.helpers import start_server
from tests.helpers import stop as _stop

EN = "Nature (English)"
USER, PASSWORD = "alice", "correct horse battery staple"


def _file_urls(base: str, path: Path) -> list[str]:
    """Every spelling of Gradio's file route for `path` (the current one and the deprecated one)."""
    quoted = urllib.parse.quote(str(path))
    return [f"{base}gradio_api/file={path}", f"{base}gradio_api/file={quoted}", f"{base}gradio_api/file/{path}"]


def _studio_files(folder: Path) -> dict[str, Path]:
    """One of each kind of file the studio keeps, all of which exist at this point."""
    samples, voices = folder / "samples", folder / "voices"
    found = {
        "database": samples / "studio.db",
        "voice reference": next(voices.glob("*/reference.wav")),
        "voice.json": next(voices.glob("*/voice.json")),
        "history take": next((samples / "history").glob("*.wav")),
        "NFE render": next((samples / "nfe").glob("*/*.wav")),
        "config": folder / "config.toml",
    }
    for what, path in found.items():
        assert path.is_file(), f"{what}: {path} should exist for this test"
    return found


def _make_one_of_each(client: Client) -> None:
    client.predict("Serving check, one two three.", EN, 4, 11, 1.0, api_name="/synthesize")
    client.predict("Serving check.", EN, [4], 6, 3, api_name="/nfe_scores")


def _url_of(file_data) -> str:
    assert isinstance(file_data, dict) and file_data.get("url"), file_data
    return file_data["url"]


# ---- without login ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_client(studio_server):
    """A client that does not download: answers carry the URLs the page would get."""
    return Client(studio_server.url, verbose=False, analytics_enabled=False, download_files=False)


def test_studio_files_are_not_served_by_path(studio_server, raw_client):
    _make_one_of_each(raw_client)
    for what, path in _studio_files(studio_server.folder).items():
        for url in _file_urls(studio_server.url, path):
            r = httpx.get(url, timeout=10)
            assert r.status_code in (403, 404), f"{what} was served from {url}"
            assert b"SQLite format" not in r.content and b"RIFF" not in r.content[:4]


def test_a_take_is_handed_out_under_a_random_name(studio_server, raw_client):
    first = raw_client.predict("Same words, same seed.", EN, 4, 5, 1.0, api_name="/synthesize")
    second = raw_client.predict("Same words, same seed.", EN, 4, 5, 1.0, api_name="/synthesize")
    urls = [_url_of(first[0]), _url_of(second[0])]
    bodies = [httpx.get(u, timeout=10) for u in urls]
    for r in bodies:
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert bodies[0].content == bodies[1].content, "a fixed seed repeats the take"
    # the same audio twice, two unrelated addresses, neither derived from the content
    folders = [Path(urllib.parse.unquote(u.split("file=", 1)[1])).parent.name for u in urls]
    assert folders[0] != folders[1]
    digest = hashlib.sha256(bodies[0].content).hexdigest()
    for f in folders:
        assert re.fullmatch(r"[0-9a-f]{32}", f) and f not in digest
    for u in urls:
        assert "/samples/" not in u and "/voices/" not in u


def test_list_voices_has_no_server_paths(studio_server, raw_client):
    voices = raw_client.predict(api_name="/list_voices")
    text = repr(voices)
    assert str(studio_server.folder) not in text
    for v in voices:
        assert "audio_path" not in v
        assert not any(isinstance(x, str) and x.startswith("/") for x in v.values())


def test_fastapi_schema_route_is_off(studio_server):
    assert httpx.get(studio_server.url + "openapi.json", timeout=10).status_code == 404
    assert httpx.get(studio_server.url + "docs", timeout=10).status_code == 404


def test_nfe_export_is_handed_out_and_lists_no_file_paths(studio_server, raw_client):
    files = raw_client.predict(api_name="/nfe_export")
    assert len(files) == 4  # votes CSV, renders CSV, verdicts CSV, everything as JSON
    for f in files:
        url = _url_of(f)
        assert "/ishowtts-served/" in url and "nfe-export-" not in Path(url).parent.name
        body = httpx.get(url, timeout=10).text
        # renders are listed by their scores only: no folder (group key) or file that could fetch their audio
        assert "group_key" not in body and "clip_path" not in body and "audio_path" not in body
        assert str(studio_server.folder) not in body
    # nothing was left in the system's temporary folder for it
    assert not list(Path(studio_server.folder / "gradio-tmp").glob("nfe-export-*"))


def test_ab_clips_are_fresh_per_hand_out_and_gone_after_the_vote(studio_server, raw_client):
    raw_client.predict("Serving check.", EN, [4], 6, 3, api_name="/nfe_scores")
    trial, a1, b1 = raw_client.predict("serving-reviewer", api_name="/ab_next_trial")
    again, a2, b2 = raw_client.predict("serving-reviewer", api_name="/ab_next_trial")
    assert again == trial, "an open trial is handed out again, not replaced"
    urls = [_url_of(x) for x in (a1, b1, a2, b2)]
    assert len(set(urls)) == 4, "every hand-out of a clip has its own address"
    for u in urls:
        assert httpx.get(u, timeout=10).status_code == 200
        assert "/nfe/" not in u and "/samples/" not in u
    raw_client.predict(trial, "serving-reviewer", "tie", api_name="/ab_vote")
    for u in urls:
        assert httpx.get(u, timeout=10).status_code in (403, 404), "a voted trial's clips are withdrawn"
    # and no copy of the clips was made for the trial on the studio's side
    assert not list((studio_server.folder / "samples" / "nfe").glob(f"ab/{trial}*"))


# ---- with login -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def login_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("login-server"),
                          server_toml=f'auth_user = "{USER}"\nauth_password = "{PASSWORD}"\nmax_upload_mb = 1',
                          auth=(USER, PASSWORD))
    try:
        yield server
    finally:
        _stop(server.process)


def _login(base: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    post = (client or httpx).post
    return post(base + "login", data={"username": USER, "password": password}, timeout=10)


def test_nothing_readable_without_login(login_server):
    c = Client(login_server.url, verbose=False, analytics_enabled=False, download_files=False,
               auth=(USER, PASSWORD))
    _make_one_of_each(c)
    handed = _url_of(c.predict("A take for the logged-in user.", EN, 4, 2, 1.0, api_name="/synthesize")[0])
    base = login_server.url
    stranger = [*(u for p in _studio_files(login_server.folder).values() for u in _file_urls(base, p)),
                handed, base + "config", base + "gradio_api/info", base + "gradio_api/openapi.json",
                base + "openapi.json", base + "metrics"]
    for url in stranger:
        r = httpx.get(url, timeout=10)
        assert r.status_code in (401, 403, 404), f"{url} answered {r.status_code} without login"
        assert b"RIFF" not in r.content[:4] and b"SQLite" not in r.content
    r = httpx.post(base + "gradio_api/call/list_voices", json={"data": []}, timeout=10)
    assert r.status_code == 401
    # logged in, the hand-out plays, and the studio's own files are still not served by path
    with httpx.Client() as browser:
        assert _login(base, PASSWORD, browser).status_code == 200
        assert browser.get(handed, timeout=10).content[:4] == b"RIFF"
        for what, path in _studio_files(login_server.folder).items():
            for url in _file_urls(base, path):
                assert browser.get(url, timeout=10).status_code in (403, 404), f"{what} served after login"


def test_login_page_has_no_api_schema(login_server):
    page = httpx.get(login_server.url, timeout=10).text
    assert '"auth_required":true' in page.replace(" ", "")
    assert "window.gradio_api_info = null;" in page
    for endpoint in ("synthesize", "list_voices", "ab_next_trial", "nfe_export", "add_voice"):
        assert endpoint not in page, f"the login page names the /{endpoint} endpoint"
    with httpx.Client() as browser:  # after login the page is the full app again
        _login(login_server.url, PASSWORD, browser)
        assert "synthesize" in browser.get(login_server.url, timeout=10).text


def test_wrong_passwords_are_throttled(login_server):
    base = login_server.url
    codes = [_login(base, f"wrong-{i}").status_code for i in range(5)]
    assert codes == [400] * 5, "the first few wrong passwords are answered normally"
    assert _login(base, "wrong-5").status_code == 400  # counted: from now on the address waits
    started = time.monotonic()
    locked = _login(base, PASSWORD)
    assert locked.status_code == 429, "while locked out even the right password is not checked"
    assert time.monotonic() - started < 2, "a locked-out attempt is answered at once"
    assert "Wait" in locked.json()["detail"] and int(locked.headers["retry-after"]) >= 1
    # HTTP basic auth on /metrics counts against the same address
    assert httpx.get(base + "metrics", auth=(USER, "nope"), timeout=10).status_code == 429
    time.sleep(int(locked.headers["retry-after"]) + 0.2)
    assert _login(base, PASSWORD).status_code == 200, "after the wait the right password works (and resets)"
    assert _login(base, "wrong-again").status_code == 400


def test_uploads_need_login_and_are_bounded(login_server):
    """Six anonymous 49 MB uploads once added 294 MB without calling any endpoint: now an upload needs the
    login, one file is held to server.max_upload_mb, and all waiting uploads together to 20 times that."""
    import os

    url = login_server.url + "gradio_api/upload"

    def upload(client, size: int) -> httpx.Response:
        return client.post(url, files={"files": ("clip.wav", os.urandom(size), "audio/wav")}, timeout=30)

    with httpx.Client() as stranger:
        assert upload(stranger, 1000).status_code == 401
    with httpx.Client() as browser:
        _login(login_server.url, PASSWORD, browser)
        assert upload(browser, 2 * 2**20).status_code in (400, 413), "over max_upload_mb (1 MB)"
        codes = [upload(browser, 900_000).status_code for _ in range(30)]
        assert codes[0] == 200
        assert 507 in codes, f"30 uploads of 0.9 MB should overflow a 20 MB budget: {codes}"
        refused_from = codes.index(507)
        assert 22 <= refused_from <= 25 and set(codes[refused_from:]) == {507}  # 20 MiB / 0.9 MB = 23.3
        r = upload(browser, 1000)
        assert r.status_code == 507 and "upload space is full" in r.json()["detail"]
    used = sum(f.stat().st_size for f in (login_server.folder / "gradio-tmp").rglob("*") if f.is_file()
               and "ishowtts-served" not in f.parts)
    assert used <= 21 * 2**20 + 2 * 2**20, f"the upload folder holds {used / 2**20:.1f} MB"
