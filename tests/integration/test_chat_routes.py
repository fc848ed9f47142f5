"""The live chat's plain HTTP routes (/overlay, /chat/events, /chat/audio/<token>.wav) on the real studio
server, without a login (the shared smoke server) and with one (a second server with server.auth_user/password):
what they serve, what they refuse, and that nothing else is reachable through them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import soundfile as sf
from gradio_client import Client

from tests.helpers import APP, START_TIMEOUT_S, Server, free_port
from tests.helpers import stop as _stop

USER, PASSWORD = "streamer", "correct horse battery"


def sse_events(client: httpx.Client, url: str, until, timeout: float = 120.0, **kwargs) -> list[dict]:
    """Read /chat/events until `until(events)` is true; returns every event read (with "_id" = the SSE id and
    "_received" = when it arrived)."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", url, timeout=httpx.Timeout(10.0, read=15.0), **kwargs) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        last_id = None
        for line in resp.iter_lines():
            if line.startswith("id: "):
                last_id = line[4:]
            elif line.startswith("data: "):
                ev = json.loads(line[6:])
                ev["_id"] = last_id
                ev["_received"] = time.time()
                events.append(ev)
                if until(events):
                    return events
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"the condition was not met within {timeout:.0f} s; events: {events[-10:]}")


def segment_of(message_id: int):
    return lambda evs: any(e.get("type") == "segment" and e.get("id") == message_id for e in evs)


def post(client: Client, text: str) -> int:
    answer = client.predict(f"viewer{uuid.uuid4().hex[:6]}", text, "chat", 0, "api", api_name="/chat_post")
    assert answer["state"] == "queued", answer
    return answer["id"]


# ---------------------------------------------------------------------------------------------- no login


def test_overlay_page_is_plain_html_with_the_player(studio_url: str) -> None:
    resp = httpx.get(studio_url + "overlay", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "IShowChatPlayer" in page and "chat/events" in page
    assert "gradio" not in page.lower(), "the overlay is a plain page, not the Gradio app"
    assert resp.headers["cache-control"] == "no-store"


def test_events_stream_hello_segment_and_audio(studio_url: str, client: Client) -> None:
    with httpx.Client(base_url=studio_url) as http:
        mid = post(client, "a line for the event stream")
        events = sse_events(http, "chat/events", segment_of(mid))
        hello = events[0]
        assert hello["type"] == "hello" and hello["boot"] and abs(hello["server_time"] - hello["_received"]) < 5
        assert 0.0 <= hello["volume"] <= 1.0 and hello["paused"] in (True, False)
        seg = next(e for e in events if e.get("type") == "segment" and e["id"] == mid)
        assert seg["_id"] == f"{hello['boot']}.{seg['seq']}"
        assert seg["author"].startswith("viewer") and "a line for the event stream" in seg["text"]
        assert seg["start_at"] > hello["server_time"] - 60 and seg["duration_s"] > 0
        # the segment's audio, by its token: a real WAV of the announced length
        resp = http.get(f"chat/audio/{seg['token']}.wav")
        assert resp.status_code == 200 and resp.headers["content-type"] == "audio/wav"
        audio, rate = sf.read(io.BytesIO(resp.content))
        assert rate == seg["sample_rate"]
        assert abs(len(audio) / rate - seg["duration_s"]) < 0.01
        assert float(abs(audio).max()) > 0.0

        # resuming with the last id seen replays nothing older
        later = sse_events(http, "chat/events", lambda evs: len(evs) >= 2, timeout=30,
                           headers={"Last-Event-ID": seg["_id"]})
        assert all(e.get("seq", seg["seq"] + 1) > seg["seq"] for e in later if e.get("type") == "segment")
        # an id from another run of the studio (or garbage) starts from what the studio still holds
        again = sse_events(http, "chat/events?last=deadbeef.999999999", segment_of(mid), timeout=30)
        assert any(e.get("id") == mid for e in again)


@pytest.mark.parametrize("path", [
    "chat/audio/notatoken.wav",
    "chat/audio/" + "A" * 24 + ".wav",
    "chat/audio/..%2F..%2Fsamples%2Fstudio.db.wav",
    "chat/audio/%2Fetc%2Fpasswd.wav",
    "chat/audio/x.wav",
])
def test_audio_route_serves_only_issued_tokens(studio_url: str, path: str) -> None:
    resp = httpx.get(studio_url + path, timeout=30)
    assert resp.status_code == 404
    assert "No such chat audio" in resp.text or resp.status_code == 404


def test_nothing_else_is_served_under_chat(studio_url: str) -> None:
    for path in ("chat/", "chat/audio/", "chat/events/../../config.toml", "chat/audio"):
        resp = httpx.get(studio_url + path, timeout=30)
        assert resp.status_code in (404, 405), (path, resp.status_code)
        assert "[server]" not in resp.text
    assert httpx.post(studio_url + "chat/events", timeout=30).status_code in (404, 405)


# ------------------------------------------------------------------------------------------------- login


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second smoke studio with a login (server.auth_user / auth_password)."""
    folder = tmp_path_factory.mktemp("chat-login-server")
    port = free_port()
    config = folder / "config.toml"
    config.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}
auth_user = "{USER}"
auth_password = "{PASSWORD}"

[engine]
warmup = false

[paths]
voices = "voices"
samples = "samples"
database = "samples/studio.db"
cache = "cache"
""", encoding="utf-8")
    log = folder / "server.log"
    env = dict(os.environ, GRADIO_TEMP_DIR=str(folder / "gradio-tmp"), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("ISHOWTTS_CONFIG", None)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(APP), "--smoke", "--config", str(config)], cwd=folder,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}/", folder=folder, config=config, log=log, process=process)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the studio exited with code {server.process.returncode}:\n{server.log_text()}")
        try:
            client = Client(server.url, auth=(USER, PASSWORD), verbose=False, analytics_enabled=False,
                            download_files=False)
            if client.predict(api_name="/health").get("status") == "ready":
                return
        except Exception:
            pass
        time.sleep(1.0)
    pytest.fail(f"the studio with a login was not ready in time:\n{server.log_text()}")


ROUTES = ["overlay", "chat/events", "chat/audio/" + "B" * 24 + ".wav"]


@pytest.mark.parametrize("path", ROUTES)
def test_with_login_routes_refuse_strangers(login_server: Server, path: str) -> None:
    # wrong passwords count against the sender's address (the server's login throttle): each route's strangers
    # send from their own loopback address, so the six wrong ones here do not lock 127.0.0.1 out of later tests
    source = httpx.HTTPTransport(local_address=f"127.0.0.{20 + ROUTES.index(path)}")
    with httpx.Client(transport=source, timeout=30) as stranger:
        answers = [(auth, stranger.get(login_server.url + path, auth=auth))
                   for auth in (None, (USER, "wrong"), ("someone", PASSWORD))]
    for auth, resp in answers:
        assert resp.status_code == 401, (path, auth, resp.status_code)
        assert resp.headers["www-authenticate"].startswith("Basic")
        assert "Log in to the studio first" in resp.text
        assert "IShowChatPlayer" not in resp.text and "data:" not in resp.text


def test_with_login_basic_auth_and_the_page_session_both_work(login_server: Server) -> None:
    url = login_server.url
    # OBS: http://user:password@host/overlay (HTTP basic auth)
    assert httpx.get(url + "overlay", auth=(USER, PASSWORD), timeout=30).status_code == 200
    # a browser that logged in on the studio's page carries Gradio's session cookie
    with httpx.Client(base_url=url, timeout=30) as browser:
        assert browser.get("overlay").status_code == 401
        login = browser.post("login", data={"username": USER, "password": PASSWORD})
        assert login.status_code == 200 and login.json().get("success") is True
        assert browser.get("overlay").status_code == 200

        client = Client(url, auth=(USER, PASSWORD), verbose=False, analytics_enabled=False, download_files=False)
        mid = post(client, "a line behind the login")
        events = sse_events(browser, "chat/events", segment_of(mid))
        seg = next(e for e in events if e.get("type") == "segment" and e["id"] == mid)
        audio = f"chat/audio/{seg['token']}.wav"
        assert browser.get(audio).status_code == 200
        assert httpx.get(url + audio, auth=(USER, PASSWORD), timeout=30).status_code == 200
        assert httpx.get(url + audio, timeout=30).status_code == 401
        # logging out ends the session for the chat routes too
        browser.get("logout")
        assert browser.get(audio).status_code == 401


def test_with_login_named_endpoints_need_the_login(login_server: Server) -> None:
    with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain ValueError/HTTP error here
        Client(login_server.url, verbose=False, analytics_enabled=False, download_files=False).predict(
            api_name="/chat_status")

