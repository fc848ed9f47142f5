"""Every credential check of the server goes through one login throttle (api/auth.py: LOGIN_THROTTLE): the login
form, /metrics, the chat routes' basic auth (/overlay, /chat/events, /chat/audio/...) and /v1 API keys. Wrong
ones count wherever they are sent, and a locked-out address gets 429 with Retry-After on all of them, even with
the right password or key (no oracle while locked).

A real smoke studio with a login and an API key; each test sends from its own loopback address (127.0.0.x as the
source address), so their counts stay apart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.helpers import Server, start_server, stop

USER, PASSWORD = "streamer", "throttle password " + uuid.uuid4().hex[:6]
KEY = "throttle-key-" + uuid.uuid4().hex
AUDIO = "chat/audio/" + "B" * 24 + ".wav"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("throttle-server"),
                       server_toml=f'auth_user = "{USER}"\nauth_password = "{PASSWORD}"', auth=(USER, PASSWORD),
                       env={"ISHOWTTS_API_KEY": KEY})
    try:
        yield srv
    finally:
        stop(srv.process)


def from_address(server: Server, last: int) -> httpx.Client:
    """A client whose connections come from 127.0.0.<last> (the server sees each as its own address)."""
    return httpx.Client(base_url=server.url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=f"127.0.0.{last}"))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def locked_out(wrong: Callable[[], httpx.Response], at_least_s: int = 8) -> int:
    """Send wrong credentials (`wrong()` answers 401 while counted) until the address is locked for at least
    `at_least_s`: each lock is waited out, so the next wrong one doubles it (5 free, then 1, 2, 4, 8 s)."""
    for _ in range(20):
        r = wrong()
        if r.status_code == 429:
            seconds = int(r.headers["retry-after"])
            if seconds >= at_least_s:
                return seconds
            time.sleep(seconds + 0.1)
        else:
            assert r.status_code == 401, (r.status_code, r.text)
    raise AssertionError("twenty wrong passwords never locked the address out")


def assert_all_refused(c: httpx.Client) -> None:
    """Every credential check answers 429 with Retry-After to the right password or key."""
    answers = {
        "overlay": c.get("overlay", auth=(USER, PASSWORD)),
        "chat/events": c.get("chat/events", auth=(USER, PASSWORD)),
        "chat/audio": c.get(AUDIO, auth=(USER, PASSWORD)),
        "login": c.post("login", data={"username": USER, "password": PASSWORD}),
        "metrics": c.get("metrics", auth=(USER, PASSWORD)),
        "v1/models": c.get("v1/models", headers=bearer(KEY)),
        "v1/audio/speech": c.post("v1/audio/speech", headers=bearer(KEY),
                                  json={"model": "tts-1", "voice": "nature-english", "input": "Hi."}),
    }
    for route, r in answers.items():
        assert r.status_code == 429, (route, r.status_code, r.text[:200])
        assert int(r.headers["retry-after"]) >= 1, route
        assert "Too many wrong" in r.text and "Wait" in r.text, route
    err = answers["v1/models"].json()["error"]  # the API keeps OpenAI's error shape
    assert err["type"] == "rate_limit_error" and err["code"] == "too_many_attempts"


def test_wrong_overlay_passwords_lock_the_address_out_everywhere(server: Server) -> None:
    """Fifty wrong tries on /overlay were never throttled, and a locked-out address still got 200 there with
    the right password."""
    with from_address(server, 11) as c:
        seconds = locked_out(lambda: c.get("overlay", auth=(USER, f"guess-{uuid.uuid4().hex[:6]}")))
        assert_all_refused(c)
        with from_address(server, 12) as other:  # per address: another one is not held up
            assert other.get("overlay", auth=(USER, PASSWORD)).status_code == 200
        time.sleep(seconds + 0.2)
        assert c.get("overlay", auth=(USER, PASSWORD)).status_code == 200, "after the wait the password works"
        assert c.get("overlay", auth=(USER, "wrong")).status_code == 401, "and the right one cleared the count"


@pytest.mark.parametrize("path", ["chat/events", AUDIO])
def test_wrong_passwords_on_the_other_chat_routes_count(server: Server, path: str) -> None:
    with from_address(server, 13 if path == "chat/events" else 14) as c:
        codes = [c.get(path, auth=(USER, "wrong")).status_code for _ in range(6)]
        assert codes == [401] * 6
        r = c.get(path, auth=(USER, PASSWORD))
        assert r.status_code == 429 and "Wait" in r.text and r.headers["retry-after"]


def test_wrong_api_keys_count_and_lock_out_too(server: Server) -> None:
    with from_address(server, 15) as c:
        locked_out(lambda: c.get("v1/models", headers=bearer("not-the-key-" + uuid.uuid4().hex[:6])))
        assert_all_refused(c)
    with from_address(server, 16) as c:
        # no key at all, or another scheme, is no guess: answered 401, never counted
        for _ in range(10):
            assert c.get("v1/models").status_code == 401
            assert c.get("v1/models", headers={"Authorization": f"Basic {KEY}"}).status_code == 401
        assert c.get("v1/models", headers=bearer(KEY)).status_code == 200


def test_a_right_api_key_does_not_clear_wrong_passwords(server: Server) -> None:
    """The key is not the login's password: a holder of the key must not be able to reset the count and guess
    the password without end. The login's own password does clear it."""
    with from_address(server, 17) as c:
        for _ in range(5):
            assert c.get("overlay", auth=(USER, "wrong")).status_code == 401
        assert c.get("v1/models", headers=bearer(KEY)).status_code == 200
        assert c.get("overlay", auth=(USER, "wrong")).status_code == 401  # the 6th: locked from now on
        assert c.get("overlay", auth=(USER, PASSWORD)).status_code == 429
    with from_address(server, 18) as c:
        for _ in range(5):
            assert c.get("overlay", auth=(USER, "wrong")).status_code == 401
        assert c.post("login", data={"username": USER, "password": PASSWORD}).status_code == 200
        c.cookies.clear()  # basic auth alone from here (the session would let the wrong passwords in)
        for _ in range(5):  # counted from zero again
            assert c.get("overlay", auth=(USER, "wrong")).status_code == 401
        assert c.get("overlay", auth=(USER, PASSWORD)).status_code == 200
