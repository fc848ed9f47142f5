"""A team on one PostgreSQL database: two real studio processes (tests/team_studio.py, each an in-process smoke
Studio) share the database and the voice and sample folders. Reviewers on both get their own trials, a trial
takes exactly one vote even when both studios record one at the same moment, both show the same results, and
an NFE adopted on one is the default on the other. Also: the app refuses a database from a newer studio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ishowtts_studio.store import Store
from tests.helpers import REPO, write_config
from tests.team_studio import TAG

EN = "Nature (English)"
TEXT = "Two studios, one database, one study."
NFES, REF = [4, 6], 8


class TeamStudio:
    def __init__(self, folder: Path, database: str, cache: Path) -> None:
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        env.pop("ISHOWTTS_CONFIG", None)
        self.log = cache.with_suffix(".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.team_studio", str(folder), database, str(cache)], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "wb"), text=True)
        first = self._read(240)
        assert first == {"ready": True}, first

    def _read(self, timeout: float) -> dict[str, Any]:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while True:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                pytest.fail(f"the studio process did not answer within {timeout} s; log:\n"
                            f"{self.log.read_text()[-3000:]}")
            line = self.proc.stdout.readline()
            if not line:
                pytest.fail(f"the studio process ended; log:\n{self.log.read_text()[-3000:]}")
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])

    def send(self, op: str, **args: Any) -> None:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def ask(self, op: str, timeout: float = 240, **args: Any) -> dict[str, Any]:
        self.send(op, **args)
        return self._read(timeout)

    def ok(self, op: str, **args: Any) -> Any:
        answer = self.ask(op, **args)
        assert "ok" in answer, answer
        return answer["ok"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # end of commands: the studio closes and the process exits
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_two_studio_processes_share_one_postgresql_database(postgres, tmp_path: Path) -> None:
    database = postgres.create_database("team")
    shared = tmp_path / "team"  # voices/ and samples/ on storage both studios see (docs/database.md)
    one = TeamStudio(shared, database, tmp_path / "cache-one")
    two = None
    try:
        two = TeamStudio(shared, database, tmp_path / "cache-two")
        rows = one.ok("scores", text=TEXT, voice=EN, nfes=NFES, reference_nfe=REF, seed=3)
        assert sorted(r["nfe"] for r in rows) == [*NFES, REF]

        # reviewers on both studios get their own trials, with both clips at hand
        ann_id, a_ok, b_ok = one.ok("next_trial", reviewer="Ann")
        bob_id, *bob_files = two.ok("next_trial", reviewer="Bob")
        assert ann_id != bob_id and a_ok and b_ok and all(bob_files)
        assert two.ok("next_trial", reviewer="Ann")[0] == ann_id, "Ann's open trial is the same on both studios"

        # both studios record a vote on Ann's trial at the same moment: exactly one is stored
        at = time.time() + 1.5
        one.send("vote", trial_id=ann_id, reviewer="Ann", choice="A", at=at)
        two.send("vote", trial_id=ann_id, reviewer="Ann", choice="B", at=at)
        answers = [one._read(60), two._read(60)]
        stored = [a for a in answers if "ok" in a]
        refused = [a for a in answers if "error" in a]
        assert len(stored) == 1 and len(refused) == 1, answers
        assert refused[0]["error"] == "This trial has already been voted on." and refused[0]["type"] == "InputError"
        two.ok("vote", trial_id=bob_id, reviewer="Bob", choice="tie")

        # results agree, and count each vote once
        res_one, res_two = one.ok("results", reference_nfe=REF), two.ok("results", reference_nfe=REF)
        assert res_one == res_two
        assert res_one["total_votes"] == 2 and res_one["votes_per_reviewer"] == {"Ann": 1, "Bob": 1}
        engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            choices = conn.execute(sa.text("SELECT choice FROM ab_votes WHERE trial_id = :t"), {"t": ann_id}).all()
        engine.dispose()
        assert [c[0] for c in choices] == [stored[0]["ok"]["choice"]]

        # an NFE adopted on one studio is the default on the other, and back
        assert two.ok("default_nfe")["adopted"] is False
        assert one.ok("adopt", nfe=6) == 6
        assert two.ok("default_nfe") == {"default_nfe": 6, "health": 6, "adopted": True}
        assert two.ok("adopt", nfe=5) == 5
        assert one.ok("default_nfe") == {"default_nfe": 5, "health": 5, "adopted": True}
    finally:
        one.close()
        if two is not None:
            two.close()


@pytest.mark.parametrize("command", ["app", "say"])
def test_a_database_from_a_newer_studio_is_refused_at_start(tmp_path: Path, command: str) -> None:
    db = tmp_path / "samples" / "studio.db"
    with Store(db) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    config = write_config(tmp_path, 1)
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(REPO))
    env.pop("ISHOWTTS_CONFIG", None)
    args = [str(REPO / "app.py")] if command == "app" else ["-m", "ishowtts_studio", "say"]
    args += ["--smoke", "--config", str(config)]
    if command == "say":
        args += ["--voice", "Nature (English)", "-o", "out.wav", "Hello."]
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 2, result.stderr[-2000:]
    assert not (tmp_path / "out.wav").exists()
    assert "studio.db is at schema revision '0099'" in result.stderr and "newer iShowTTS Studio" in result.stderr
    assert "Traceback" not in result.stderr and str(tmp_path) not in result.stderr
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0099"
    engine.dispose()
