"""Other sites driving the studio through a visitor's browser (DNS rebinding, cross-site posts), against real
smoke-mode servers and plain HTTP requests written as a browser would send them:

- the session server (127.0.0.1, no login, no key): only loopback Host names are answered (421 otherwise), a
  POST whose Origin is another site is refused (403), and /v1 takes JSON bodies only (415);
- a server of this module bound beyond loopback (0.0.0.0, with a login): any Host is answered (a rebinding
  page gets no cookie or password), cross-site posts are still refused.

gradio_client, curl and the OpenAI clients send no Origin: every other test of the suite is their check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import Server, start_server, stop

USER, PASSWORD = "editor", "cross site password"
FOREIGN_HOSTS = ["evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}", "0.0.0.0:{port}",
                 "192.168.1.5:{port}", "localhost.evil.example:{port}", "localhost:notaport", ""]
LOCAL_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.2:{port}", "[::1]:{port}",
               "localhost", "127.0.0.1"]


def _port(server: Server) -> int:
    return urlsplit(server.url).port or 80


def _call(server: Server, method: str, path: str, **headers: str) -> httpx.Response:
    kwargs = {"json": {"data": []}} if method == "POST" else {}
    return httpx.request(method, server.url + path, headers=headers, timeout=30, **kwargs)


# ---- a server on 127.0.0.1 (the session's) -----------------------------------------------------------------
@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_a_loopback_server_answers_only_loopback_host_names(studio_server: Server, host: str) -> None:
    host = host.format(port=_port(studio_server))
    for method, path in (("GET", ""), ("GET", "config"), ("GET", "v1/models"), ("GET", "overlay"),
                         ("POST", "gradio_api/call/list_voices")):
        r = _call(studio_server, method, path, host=host)
        assert r.status_code == 421, (host, path, r.status_code)
        assert "listens on this machine only" in r.json()["detail"] and "http://127.0.0.1:" in r.json()["detail"]


def test_the_reported_rebinding_call_is_refused(studio_server: Server) -> None:
    # the review's reproduction: a rebinding page at http://evil.example:<port> exporting a voice
    r = httpx.post(studio_server.url + "gradio_api/call/export_voice", json={"data": ["nature-english"]},
                   headers={"Host": f"evil.example:{_port(studio_server)}"}, timeout=30)
    assert r.status_code == 421 and "event_id" not in r.text


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_loopback_host_names_are_answered(studio_server: Server, host: str) -> None:
    host = host.format(port=_port(studio_server))
    assert _call(studio_server, "GET", "v1/models", host=host).status_code == 200
    r = _call(studio_server, "POST", "gradio_api/call/list_voices", host=host)
    assert r.status_code == 200 and "event_id" in r.json(), host


def test_cross_site_posts_are_refused(studio_server: Server) -> None:
    url, port = studio_server.url, _port(studio_server)
    speech = '{"model":"tts-1","input":"csrf","voice":"nature-english"}'
    # the review's reproduction: text/plain needs no CORS preflight, so a browser sends it as it is
    r = httpx.post(url + "v1/audio/speech", content=speech, timeout=30,
                   headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert r.status_code == 403 and "Cross-site request refused" in r.json()["detail"]
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null", f"http://127.0.0.1:{port + 1}",
                   f"http://localhost:{port}", "garbage"):
        for path in ("v1/audio/speech", "gradio_api/call/list_voices", "gradio_api/upload", "login"):
            r = httpx.post(url + path, json={"data": []}, headers={"Origin": origin}, timeout=30)
            assert r.status_code == 403, (origin, path, r.status_code)
        for method in ("PUT", "PATCH", "DELETE"):
            assert httpx.request(method, url + "v1/models", headers={"Origin": origin}, timeout=30).status_code == 403
    # a read is left to the browser's CORS rules (it cannot read the answer), and the studio's own page may post
    assert httpx.get(url + "v1/models", headers={"Origin": "http://evil.example"}, timeout=30).status_code == 200
    for origin, host in ((f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"),
                         (f"http://localhost:{port}", f"localhost:{port}"), (f"http://[::1]:{port}", f"[::1]:{port}")):
        r = httpx.post(url + "gradio_api/call/list_voices", json={"data": []}, timeout=30,
                       headers={"Origin": origin, "Host": host})
        assert r.status_code == 200 and "event_id" in r.json(), origin


def test_v1_speech_takes_json_bodies_only(studio_server: Server) -> None:
    url = studio_server.url + "v1/audio/speech"
    body = '{"model": "tts-1", "voice": "nature-english"}'  # no input: a 400 once the body is read
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/jsonp", None):
        headers = {"Content-Type": kind} if kind else {}
        r = httpx.post(url, content=body, headers=headers, timeout=30)
        assert r.status_code == 415, (kind, r.status_code)
        err = r.json()["error"]
        assert err["code"] == "unsupported_media_type" and "application/json" in err["message"]
    for kind in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        r = httpx.post(url, content=body, headers={"Content-Type": kind}, timeout=30)
        assert r.status_code == 400 and r.json()["error"]["param"] == "input", kind


# ---- a server bound beyond loopback, with a login ------------------------------------------------------
@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("beyond-loopback"), host="0.0.0.0",
                          server_toml=f'auth_user = "{USER}"\nauth_password = "{PASSWORD}"', auth=(USER, PASSWORD))
    try:
        yield server
    finally:
        stop(server.process)


def test_beyond_loopback_any_host_is_answered_and_cross_site_posts_still_refused(open_server: Server) -> None:
    url, port = open_server.url, _port(open_server)
    # reached by a name (the machine's, or a TLS proxy's that passes Host on): the login page and the login work
    for host, origin in ((f"studio.example:{port}", f"http://studio.example:{port}"),
                         ("studio.example", "https://studio.example")):
        assert httpx.get(url, headers={"Host": host}, timeout=30).status_code == 200, host
        r = httpx.post(url + "login", data={"username": USER, "password": PASSWORD}, timeout=30,
                       headers={"Host": host, "Origin": origin})
        assert r.status_code == 200 and r.json().get("success") is True, (host, r.status_code, r.text)
    # a page of another site cannot post the form for the visitor, with or without the password
    for origin in ("http://evil.example", "null", f"https://studio.example:{port + 1}"):
        r = httpx.post(url + "login", data={"username": USER, "password": PASSWORD}, timeout=30,
                       headers={"Host": f"studio.example:{port}", "Origin": origin})
        assert r.status_code == 403, origin


def test_the_page_logs_in_and_works_in_a_browser(open_server: Server, browser) -> None:
    """Gradio's own page sends same-origin requests (its Origin is the Host): login, then a synthesis."""
    from playwright.sync_api import expect

    from tests.helpers import open_page

    with open_page(browser, open_server.url, ready=None) as page:
        page.get_by_label("username").fill(USER)
        page.get_by_label("password").fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#status-banner")).to_contain_text("Engine ready", timeout=60_000)
        box = page.locator("#live-text textarea")
        box.fill("Same origin, one two three.")
        box.press("Control+Enter")
        expect(page.locator("#stats-line")).to_contain_text(re.compile(r"RTF \d+\.\d+"), timeout=120_000)
