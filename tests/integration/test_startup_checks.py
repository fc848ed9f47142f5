"""Issue 12, defects 4, 5 and 7 at start-up: a network address without login is refused; a damaged database is
refused with a message and kept byte for byte; backup/restore through `python -m ishowtts_studio db`; config
errors never show the password. Real processes (app.py, the db command), real SQLite files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ishowtts_studio.dbfile import DatabaseDamaged, backup_database, check_database_file, restore_database
from ishowtts_studio.settings import ServerSettings
from ishowtts_studio.startup import exposure_problem, is_loopback
from ishowtts_studio.store import Store, SynthesisRecord

REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(REPO))
    env.pop("ISHOWTTS_CONFIG", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def config(folder: Path, server: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(f"""
[server]
port = 1
{server}
[engine]
warmup = false
[paths]
voices = "voices"
samples = "samples"
database = "samples/studio.db"
cache = "cache"
""", encoding="utf-8")
    return path


def filled_db(path: Path, rows: int = 200) -> Path:
    with Store(path) as store:
        for i in range(rows):
            store.add_synthesis(SynthesisRecord(text=f"line {i} " * 20, voice_name="A", voice_slug="a", engine="f5",
                                                nfe=8, audio_path=f"history/{i}.wav"))
    return path


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT count(*) FROM syntheses").fetchone()[0]


# ------------------------------------------------------------------------------- defect 4: exposure

@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("studio.lan", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_needs_login_or_the_explicit_override() -> None:
    message = exposure_problem(ServerSettings(host="0.0.0.0"))
    assert message and "auth_user" in message and "allow_no_login" in message and "--allow-no-login" in message
    assert exposure_problem(ServerSettings(host="0.0.0.0", auth_user="u", auth_password="p")) is None
    assert exposure_problem(ServerSettings(host="0.0.0.0", allow_no_login=True)) is None
    assert exposure_problem(ServerSettings(host="127.0.0.1")) is None


def test_app_refuses_network_host_without_login(tmp_path: Path) -> None:
    result = run([str(REPO / "app.py"), "--smoke", "--config", str(config(tmp_path)), "--host", "0.0.0.0"],
                 tmp_path, timeout=120)
    assert result.returncode == 2
    assert "Refusing to start" in result.stderr and "server.auth_password" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "samples").exists()  # refused before anything was created


# --------------------------------------------------------------------------- defect 7: secrets in messages

def test_config_error_does_not_show_the_password(tmp_path: Path) -> None:
    cfg = config(tmp_path, 'auth_user = "admin"\nauth_password = 98765432109')  # a number: wrong type
    result = run([str(REPO / "app.py"), "--smoke", "--config", str(cfg)], tmp_path, timeout=120)
    assert result.returncode == 2
    assert "server.auth_password" in result.stderr and "wrong type" in result.stderr
    assert "98765432109" not in result.stderr + result.stdout


# ------------------------------------------------------------------------------ defect 5: damaged files

def _damaged(kind: str, good: bytes) -> bytes:
    if kind == "empty":
        return b""
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "garbled header":
        return b"\x00" * 100 + good[100:]
    middle = bytearray(good)  # "garbled pages": the header is fine, the pages are noise
    middle[4096:12288] = os.urandom(8192)
    return bytes(middle)


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbled header", "garbled pages"])
def test_damaged_database_is_refused_and_kept(tmp_path: Path, kind: str) -> None:
    good = filled_db(tmp_path / "good.db").read_bytes()
    bad = tmp_path / "studio.db"
    bad.write_bytes(_damaged(kind, good))
    before = bad.read_bytes()
    with pytest.raises(DatabaseDamaged, match="is damaged") as err:
        Store(bad)
    assert "db restore" in str(err.value)
    assert bad.read_bytes() == before
    assert not (tmp_path / "studio.db-wal").exists() or (tmp_path / "studio.db-wal").stat().st_size == 0


def test_app_refuses_an_empty_database_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "studio.db").write_bytes(b"")
    result = run([str(REPO / "app.py"), "--smoke", "--config", str(config(tmp_path))], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "is damaged: it is empty (0 bytes)" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "samples" / "studio.db").stat().st_size == 0


def test_sound_and_missing_databases_pass(tmp_path: Path) -> None:
    check_database_file(tmp_path / "absent.db")
    check_database_file(filled_db(tmp_path / "ok.db"), full=True)


# ------------------------------------------------------------------------------------- backup / restore

def test_backup_and_restore_round_trip(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "studio.db", rows=50)
    copy = backup_database(db, tmp_path / "backups" / "b1.db")
    assert count_rows(copy) == 50
    with pytest.raises(FileExistsError):
        backup_database(db, copy)
    db.write_bytes(db.read_bytes()[:1000])  # damage the live file
    kept = restore_database(copy, db)
    assert kept is not None and kept.exists() and kept.stat().st_size == 1000  # the damaged file is kept
    assert count_rows(db) == 50
    with Store(db) as store:  # the studio opens it again
        assert store.count_syntheses() == 50


def test_restore_refuses_a_damaged_backup(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "studio.db", rows=5)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DatabaseDamaged):
        restore_database(bad, db)
    assert count_rows(db) == 5


def test_db_command_backup_check_restore(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    db = filled_db(tmp_path / "samples" / "studio.db", rows=30)
    assert run(["-m", "ishowtts_studio", "db", "check", "--config", str(cfg)], tmp_path).returncode == 0
    backup = tmp_path / "b.db"
    result = run(["-m", "ishowtts_studio", "db", "backup", str(backup), "--config", str(cfg)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert count_rows(backup) == 30
    db.write_bytes(b"")
    result = run(["-m", "ishowtts_studio", "db", "check", "--config", str(cfg)], tmp_path)
    assert result.returncode == 2 and "empty (0 bytes)" in result.stderr and "Traceback" not in result.stderr
    result = run(["-m", "ishowtts_studio", "db", "restore", str(backup), "--config", str(cfg)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "kept as" in result.stdout and count_rows(db) == 30
    again = run(["-m", "ishowtts_studio", "db", "backup", str(backup), "--config", str(cfg)], tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
