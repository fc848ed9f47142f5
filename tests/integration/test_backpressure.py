"""A client that has gone gets no work done for it (issue 12, defect 8), against a real smoke-mode server.

With one GPU slot busy on a long synthesis, a second client joins the queue over plain HTTP and hangs up while
waiting; once the slot frees, its synthesis must never run (no history row). A client that stays is served.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import httpx
import pytest
from gradio_client import Client

from tests.helpers import start_server
from tests.helpers import stop as _stop

EN = "Nature (English)"
LONG = " ".join(["This sentence keeps the only GPU slot busy for a while, at a high step count."] * 8)


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("one-slot"), max_batch=1, queue_size=8)
    try:
        yield server
    finally:
        _stop(server.process)


def _rows_with(server, text: str) -> int:
    with sqlite3.connect(f"file:{server.folder / 'samples' / 'studio.db'}?mode=ro", uri=True) as con:
        return con.execute("SELECT COUNT(*) FROM syntheses WHERE text = ?", (text,)).fetchone()[0]


def _join_and_read(url: str, text: str, hang_up: bool) -> list[dict]:
    """Join the queue for /synthesize as the page would; read until queued (then hang up) or until done."""
    config = httpx.get(url + "config", timeout=10).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "synthesize")
    session = uuid.uuid4().hex
    body = {"data": [text, EN, 2, 7, 1.0, None, None], "fn_index": fn_index, "session_hash": session,
            "event_data": None, "trigger_id": None}
    assert httpx.post(url + "gradio_api/queue/join", json=body, timeout=10).status_code == 200
    seen: list[dict] = []
    with httpx.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session},
                      timeout=httpx.Timeout(10, read=300)) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            seen.append(msg)
            if hang_up and msg.get("msg") == "estimation":
                break  # leaving the with-block closes the connection: the client is gone
            if msg.get("msg") == "process_completed":
                break
    return seen


def test_a_client_that_hung_up_while_queued_gets_no_synthesis(one_slot):
    busy = Client(one_slot.url, verbose=False, analytics_enabled=False, download_files=False)
    job = busy.submit(LONG, EN, 32, 1, 1.0, api_name="/synthesize")
    deadline = time.monotonic() + 60
    while job.status().code.name != "PROCESSING":
        assert time.monotonic() < deadline, "the long synthesis never started"
        time.sleep(0.1)
    gone_text = f"Nobody is listening any more {uuid.uuid4().hex[:6]}."
    seen = _join_and_read(one_slot.url, gone_text, hang_up=True)
    assert seen and seen[-1]["msg"] == "estimation" and seen[-1].get("rank") == 0, seen
    assert not job.done(), "the test needs the slot to stay busy until after the hang-up"
    job.result(timeout=600)
    time.sleep(3)  # had the queued event run, its row would be written by now
    assert _rows_with(one_slot, gone_text) == 0, "a synthesis ran for a client that had gone"
    # the same call from a client that stays is served and stored
    kept_text = f"Somebody is still here {uuid.uuid4().hex[:6]}."
    seen = _join_and_read(one_slot.url, kept_text, hang_up=False)
    assert seen[-1]["msg"] == "process_completed" and seen[-1]["success"], seen[-1]
    assert _rows_with(one_slot, kept_text) == 1
