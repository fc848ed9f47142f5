"""Hand-outs (served_files.py), the login throttle and leftover clean-up, on real files and a given clock."""

from __future__ import annotations

import os
import time

import pytest

from ishowtts_studio.served_files import ServedFiles
from ishowtts_studio.ui.server_guard import LoginThrottle, _drop_api_info


@pytest.fixture
def source(tmp_path):
    f = tmp_path / "data" / "take.wav"
    f.parent.mkdir()
    f.write_bytes(b"RIFF" + os.urandom(1000))
    return f


def test_hand_outs_are_fresh_random_links(tmp_path, source):
    served = ServedFiles(tmp_path / "served")
    a, b = served.hand_out(source), served.hand_out(source, "other name?.wav")
    assert a.read_bytes() == b.read_bytes() == source.read_bytes()
    assert a.parent != b.parent and len(a.parent.name) == 32
    assert b.name == "other-name-.wav", "names are made safe"
    assert a.stat().st_ino == source.stat().st_ino, "a link, not a second copy"
    # the source replaced atomically (as every studio write is) leaves the hand-out as it was
    old = a.read_bytes()
    tmp = source.with_suffix(".new")
    tmp.write_bytes(b"RIFF-new")
    os.replace(tmp, source)
    assert a.read_bytes() == old
    served.withdraw(a)
    assert not a.exists() and not a.parent.exists() and b.exists()


def test_withdraw_tag_and_sweep(tmp_path, source):
    served = ServedFiles(tmp_path / "served", ttl_s=60)
    a = served.hand_out(source, "A.wav", tag="trial-1")
    b = served.hand_out(source, "B.wav", tag="trial-1")
    other = served.hand_out(source, tag="trial-2")
    assert served.withdraw_tag("trial-1") == 2
    assert not a.exists() and not b.exists() and other.exists()
    assert served.withdraw_tag("trial-1") == 0
    assert served.sweep(now=time.time() + 30) == 0 and other.exists()
    assert served.sweep(now=time.time() + 120) == 1 and not other.exists()


def test_withdraw_never_touches_anything_outside(tmp_path, source):
    served = ServedFiles(tmp_path / "served")
    served.withdraw(source)
    served.withdraw(tmp_path / "served")
    assert source.exists() and (tmp_path / "served").is_dir()
    with pytest.raises(FileNotFoundError):
        served.hand_out(tmp_path / "missing.wav")


def test_a_new_root_sweeps_expired_hand_outs_only(tmp_path, source):
    root = tmp_path / "served"
    first = ServedFiles(root, ttl_s=60)
    old, young = first.hand_out(source), first.hand_out(source)
    hour_ago = time.time() - 3600
    os.utime(old.parent, (hour_ago, hour_ago))
    keep = root / "not-ours.txt"
    keep.write_text("x")
    os.utime(keep, (hour_ago, hour_ago))
    ServedFiles(root, ttl_s=60)  # e.g. a restart, or a second studio sharing Gradio's folder
    assert not old.exists(), "expired: removed"
    assert young.exists(), "another studio's page may still play it"
    assert keep.exists(), "not a hand-out: never touched"


def test_login_throttle_doubles_and_resets():
    t = LoginThrottle(free=3, lock_max_s=10)
    for _ in range(3):
        t.failed("1.2.3.4", now=100.0)
    assert t.wait_s("1.2.3.4", now=100.0) == 0
    t.failed("1.2.3.4", now=100.0)
    assert t.wait_s("1.2.3.4", now=100.0) == 1
    t.failed("1.2.3.4", now=101.0)
    assert t.wait_s("1.2.3.4", now=101.0) == 2
    for _ in range(10):
        t.failed("1.2.3.4", now=200.0)
    assert t.wait_s("1.2.3.4", now=200.0) == 10, "capped"
    assert t.wait_s("5.6.7.8", now=200.0) == 0, "per address"
    t.succeeded("1.2.3.4")
    assert t.wait_s("1.2.3.4", now=200.0) == 0


def test_api_info_is_cut_from_a_page():
    page = (b'<script>window.gradio_config = {"auth_required":true};</script>'
            b'<script>window.gradio_api_info = {"named_endpoints": {"/synthesize": {}}};</script><body>')
    out = _drop_api_info(page)
    assert b"synthesize" not in out and b"window.gradio_api_info = null;</script><body>" in out
    assert _drop_api_info(b"<html>no script</html>") == b"<html>no script</html>"


def test_guard_rewords_a_full_queue_and_passes_the_rest(tmp_path):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ishowtts_studio.ui.server_guard import BUSY_MESSAGE, ServerGuard

    async def join(request):
        full = request.query_params.get("full") == "1"
        return JSONResponse({"detail": "Queue is full. Max size is 4 and size is 4."} if full else {"event_id": "x"},
                            status_code=503 if full else 200)

    async def upload(request):
        return PlainTextResponse("stored")

    app = Starlette(routes=[Route("/gradio_api/queue/join", join, methods=["POST"]),
                            Route("/gradio_api/upload", upload, methods=["POST"])],
                    middleware=[Middleware(ServerGuard, auth_enabled=False, upload_folder=tmp_path,
                                           upload_budget_bytes=1000, served_name="served")])
    with TestClient(app) as http:
        busy = http.post("/gradio_api/queue/join?full=1")
        assert busy.status_code == 503 and busy.json() == {"detail": BUSY_MESSAGE}
        assert busy.headers["retry-after"] == "5"
        assert http.post("/gradio_api/queue/join").json() == {"event_id": "x"}
        (tmp_path / "served").mkdir()
        (tmp_path / "served" / "link.wav").write_bytes(b"x" * 5000)  # hand-outs do not count as uploads
        assert http.post("/gradio_api/upload").text == "stored"
        (tmp_path / "abc").mkdir()
        (tmp_path / "abc" / "up.wav").write_bytes(b"x" * 1000)
        full = http.post("/gradio_api/upload")
        assert full.status_code == 507 and "upload space is full" in full.json()["detail"]


def test_server_options_serve_no_studio_folder(tmp_path, monkeypatch):
    from ishowtts_studio.settings import load_settings
    from ishowtts_studio.ui.app import server_options

    def options(cache):
        settings = load_settings(None, smoke=True, overrides={
            "paths.voices": str(tmp_path / "v"), "paths.samples": str(tmp_path / "s"),
            "paths.database": str(tmp_path / "s" / "db.sqlite"), "paths.cache": str(cache)})
        return server_options(settings)

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    opts = options(tmp_path / "cache")
    assert opts["allowed_paths"] == []
    assert sorted(opts["blocked_paths"]) == sorted(str(tmp_path / p) for p in ("v", "s", "cache", "s/db.sqlite"))
    assert opts["app_kwargs"]["openapi_url"] is None
    # Gradio's folder inside the cache: the cache cannot be blocked (hand-outs live there), the rest still is
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache" / "gradio"))
    assert str(tmp_path / "cache") not in options(tmp_path / "cache")["blocked_paths"]
