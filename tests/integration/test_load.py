"""Load test (issue 12): concurrent API clients at and past the queue size against a real smoke-mode server.

Every call either succeeds or is refused at once ("busy"), none hangs, history rows equal the successes, and
the server's memory and open files come back near where they started. Behind the `load` marker (deselected by
default; `.ci/run` runs it): `python -m pytest -q -m load tests/integration/test_load.py -s` prints the figures.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError

from tests.helpers import start_server
from tests.helpers import stop as _stop

pytestmark = pytest.mark.load

EN = "Nature (English)"
QUEUE_SIZE = 4  # Gradio's queue in front holds this many waiting requests (engine.queue_size)
MAX_BATCH = 2  # ... and runs this many GPU events at once
CALL_TIMEOUT_S = 300.0  # a call that takes longer counts as hung
# "at once": a refusal answers the join itself (no waiting in a queue); 10 s only absorbs a machine shared by many
# test runs, where even opening the connection can take seconds
REFUSAL_S = 10.0


@dataclass
class Outcome:
    ok: bool
    busy: bool
    seconds: float
    error: str = ""


def _proc(pid: int) -> tuple[int, int]:
    """(resident memory in bytes, open file descriptors) of a process."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def _history_rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("SELECT COUNT(*) FROM syntheses").fetchone()[0]


def _disk_bytes(folder: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes on disk under `folder`, a file counted once however many links it has (also across calls)."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            st = os.lstat(os.path.join(root, f))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _burst(url: str, n: int, round_no: int) -> list[Outcome]:
    """`n` clients, each with its own connection, all calling /synthesize at the same moment."""
    clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(n)]
    outcomes: list[Outcome | None] = [None] * n
    go = threading.Barrier(n)

    def one(i: int) -> None:
        go.wait()
        start = time.monotonic()
        try:
            job = clients[i].submit(f"Load test line {round_no}-{i}, short and plain.", EN, 2, 1000 * round_no + i,
                                    1.0, api_name="/synthesize")
            job.result(timeout=CALL_TIMEOUT_S)
            outcomes[i] = Outcome(True, False, time.monotonic() - start)
        except QueueError as exc:
            outcomes[i] = Outcome(False, True, time.monotonic() - start, str(exc))
        except (AppError, Exception) as exc:  # noqa: BLE001 - any other end is a failure, reported below
            outcomes[i] = Outcome(False, False, time.monotonic() - start, f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CALL_TIMEOUT_S + 30)
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"calls {hung} never returned"
    for c in clients:
        c.close()
    return [o for o in outcomes if o is not None]


def test_load_every_call_succeeds_or_is_refused_at_once(tmp_path):
    server = start_server(tmp_path / "load", queue_size=QUEUE_SIZE, max_batch=MAX_BATCH)
    db = server.folder / "samples" / "studio.db"
    pid = server.process.pid
    try:
        warm = _burst(server.url, 2, 0)  # first requests load lazy pieces; measure from after them
        assert all(o.ok for o in warm), warm
        time.sleep(2)
        rss0, fds0 = _proc(pid)
        rows0 = _history_rows(db)
        figures = []
        successes = 0
        # at the queue size (arriving together, all of them wait in the queue at first, so that many fit), then
        # three and six times past it
        for round_no, n in enumerate((QUEUE_SIZE, 3 * QUEUE_SIZE, 6 * QUEUE_SIZE), start=1):
            outcomes = _burst(server.url, n, round_no)
            failed = [o for o in outcomes if not o.ok and not o.busy]
            assert not failed, f"calls ended neither in success nor 'busy': {failed}"
            busy = [o for o in outcomes if o.busy]
            ok = [o for o in outcomes if o.ok]
            assert len(ok) + len(busy) == n
            for o in busy:
                assert o.seconds < REFUSAL_S, f"a refusal took {o.seconds:.1f} s"
                assert "try again" in o.error.lower()
            if busy:
                assert max(o.seconds for o in busy) < max(o.seconds for o in ok), "refused before the queue drains"
            if round_no == 1:
                assert not busy, "a burst that fits the queue is served in full"
            else:
                assert busy, f"{n} calls at once past a queue of {QUEUE_SIZE}: some must be refused"
            successes += len(ok)
            slowest = max(o.seconds for o in ok)
            figures.append((n, len(ok), len(busy), max((o.seconds for o in busy), default=0.0), slowest))
        assert _history_rows(db) - rows0 == successes, "one history row per success, none for a refusal"
        time.sleep(3)  # let finished connections close
        rss1, fds1 = _proc(pid)
        seen: set[tuple[int, int]] = set()  # hand-outs are links to the history files: counted with samples
        disk = {name: _disk_bytes(server.folder / name, seen) for name in ("samples", "gradio-tmp")}
        print("\nload test: calls, served, refused, slowest refusal (s), slowest success (s)")
        for row in figures:
            print("  {:3d} {:3d} {:3d} {:6.2f} {:6.1f}".format(*row))
        print(f"  server RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB, open fds {fds0} -> {fds1}")
        print("  disk after: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in disk.items()))
        assert fds1 <= fds0 + 8, f"open files grew from {fds0} to {fds1}"
        assert rss1 <= rss0 * 1.25 + 64 * 2**20, f"memory grew from {rss0 / 2**20:.0f} to {rss1 / 2**20:.0f} MiB"
        # each take is written once (history) and handed out as a link to it, never copied again
        assert disk["gradio-tmp"] < 2 * 2**20, f"Gradio's folder holds {disk['gradio-tmp'] / 2**20:.1f} MiB"
    finally:
        _stop(server.process)
