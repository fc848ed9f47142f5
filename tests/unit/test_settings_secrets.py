"""Secrets in the settings never show in a repr (which reaches logs and tracebacks): the login password, the API
key, and a database URL's password."""

from __future__ import annotations

from pathlib import Path

from ishowtts_studio.settings import load_settings


def test_no_secret_in_the_settings_repr(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[paths]\ndatabase = "postgresql://studio:DBPASS-1@db.example/studio"\n'
                      '[server]\nauth_user = "ann"\nauth_password = "LOGINPASS-2"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.paths.database.startswith("postgresql://studio:DBPASS-1@")  # kept, only not shown
    text = repr(settings)
    assert "DBPASS-1" not in text and "LOGINPASS-2" not in text
    assert "ann" in text  # the rest is shown as before
