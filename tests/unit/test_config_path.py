"""Which settings file a command line reads: --config, else $ISHOWTTS_CONFIG, else the project's config.toml
beside app.py, else the built-in defaults (`settings.default_config_path`, shared by app.py, say, db, bench, serve)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ishowtts_studio.settings import (
    CONFIG_ENV_VAR,
    PROJECT_CONFIG,
    ConfigError,
    EngineSettings,
    default_config_path,
    load_settings,
)
from ishowtts_studio.settings import loader as settings_loader

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_project_config_is_the_one_beside_app_py() -> None:
    assert PROJECT_CONFIG == REPO / "config.toml"
    assert (REPO / "app.py").is_file() and PROJECT_CONFIG.is_file()


def test_order_explicit_then_environment_then_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[engine]\ndefault_nfe = 9\n")
    from_env = tmp_path / "env.toml"
    from_env.write_text("[engine]\ndefault_nfe = 7\n")

    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    assert default_config_path(None) == PROJECT_CONFIG
    assert default_config_path("") == PROJECT_CONFIG  # an empty --config is no choice
    assert default_config_path(str(explicit)) == explicit
    assert default_config_path(explicit) == explicit

    monkeypatch.setenv(CONFIG_ENV_VAR, str(from_env))
    assert default_config_path(None) == from_env
    assert load_settings(default_config_path(None)).engine.default_nfe == 7
    assert default_config_path(str(explicit)) == explicit  # --config wins over the environment
    assert load_settings(default_config_path(str(explicit))).engine.default_nfe == 9

    monkeypatch.setenv(CONFIG_ENV_VAR, "")  # set but empty: as if unset
    assert default_config_path(None) == PROJECT_CONFIG


def test_environment_mapping_can_be_passed(tmp_path: Path) -> None:
    cfg = tmp_path / "given.toml"
    cfg.write_text("")
    assert default_config_path(None, environ={CONFIG_ENV_VAR: str(cfg)}) == cfg
    assert default_config_path(None, environ={}) == PROJECT_CONFIG


def test_home_folder_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.toml").write_text("")
    assert default_config_path("~/mine.toml") == tmp_path / "mine.toml"
    monkeypatch.setenv(CONFIG_ENV_VAR, "~/mine.toml")
    assert default_config_path(None) == tmp_path / "mine.toml"


def test_without_a_project_file_the_defaults_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package has no config.toml beside it: then no file at all, i.e. the built-in defaults."""
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    monkeypatch.setattr(settings_loader, "PROJECT_CONFIG", tmp_path / "config.toml")
    assert default_config_path(None) is None
    assert load_settings(default_config_path(None)).config_path is None
    (tmp_path / "config.toml").write_text("[engine]\ndefault_nfe = 12\n")
    assert default_config_path(None) == tmp_path / "config.toml"
    assert load_settings(default_config_path(None)).engine.default_nfe == 12


def test_a_named_file_that_is_missing_is_an_error_not_a_fallback(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    assert default_config_path(str(missing)) == missing
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(default_config_path(str(missing)))
    monkeypatch.setenv(CONFIG_ENV_VAR, str(missing))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(default_config_path(None))


def test_db_command_reads_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ishowtts_studio.dbcli import _database_path

    cfg = tmp_path / "team.toml"
    cfg.write_text('[paths]\ndatabase = "data/team.db"\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(cfg))
    assert _database_path(None) == tmp_path / "data" / "team.db"
    other = tmp_path / "other.toml"
    other.write_text('[paths]\ndatabase = "other.db"\n')
    assert _database_path(str(other)) == tmp_path / "other.db"


@pytest.mark.parametrize(("flag", "config_compile", "expected"), [
    (None, True, True), (None, False, False), (True, False, True), (False, True, False),
])
def test_bench_compile_switch_overrides_engine_compile(flag: bool | None, config_compile: bool,
                                                       expected: bool) -> None:
    from ishowtts_studio.bench_config import engine_overrides

    eng = EngineSettings(compile=config_compile)
    got = engine_overrides(argparse.Namespace(compile=flag, no_graphs=False), eng)
    assert got["compile_model"] is expected
    assert got["compile_vocoder"] is (expected and eng.compile_vocoder)
