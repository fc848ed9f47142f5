"""Settings: defaults, the shipped config.toml, validation messages and path resolution."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from ishowtts_studio.settings import (
    CONFIG_ENV_VAR,
    ConfigError,
    EngineSettings,
    F5Settings,
    PathSettings,
    ServerSettings,
    Settings,
    f5_model_names,
    load_settings,
    settings_reference,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config.toml"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------------------------
# defaults and the shipped config.toml


def test_shipped_config_gives_exact_defaults() -> None:
    loaded = load_settings(CONFIG, environ={})
    assert loaded.server == ServerSettings()
    assert loaded.engine == EngineSettings()
    assert loaded.f5 == F5Settings()
    # Paths of the shipped file resolve next to it (the repo root).
    assert loaded.paths.voices == REPO / "voices"
    assert loaded.paths.samples == REPO / "samples"
    assert loaded.paths.database == str(REPO / "samples" / "studio.db")
    assert loaded.paths.cache == Path.home() / ".cache" / "ishowtts-studio"
    assert loaded.config_path == CONFIG
    assert loaded.smoke is False


def test_shipped_config_equals_no_file_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    from_file = load_settings(CONFIG, environ={})
    without = load_settings(None, environ={})
    assert without.config_path is None
    assert dataclasses.replace(from_file, config_path=None) == without


def test_default_values_match_the_brief() -> None:
    s = Settings()
    assert (s.server.host, s.server.port, s.server.max_upload_mb) == ("127.0.0.1", 7860, 50)
    assert not s.server.auth_enabled and s.server.auth is None
    e = s.engine
    assert (e.device, e.precision, e.default_nfe, e.cfg_strength, e.sway_coef, e.speed) == (
        "auto",
        "auto",
        16,
        2.0,
        -1.0,
        1.0,
    )
    assert (e.max_text_chars, e.queue_size, e.max_batch, e.batch_wait_ms, e.crossfade_ms) == (2000, 32, 8, 4.0, 150)
    assert (e.first_chunk_chars, e.chunk_chars, e.cuda_graphs, e.compile, e.warmup, e.ref_cache_items) == (
        60,
        135,
        True,
        True,
        True,
        64,
    )
    assert s.f5.model == "F5TTS_v1_Base"
    assert s.f5.checkpoint == "hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors"
    assert s.f5.vocoder == "hf://charactr/vocos-mel-24khz"


def _config_entries() -> dict[str, tuple[str, list[str]]]:
    """dotted key -> (raw value text, comment lines directly above it) from config.toml."""
    entries: dict[str, tuple[str, list[str]]] = {}
    section = ""
    comments: list[str] = []
    for line in CONFIG.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if m := re.fullmatch(r"\[(\w+)\]", stripped):
            section, comments = m.group(1), []
        elif stripped.startswith("#"):
            comments.append(stripped)
        elif m := re.fullmatch(r"(\w+)\s*=\s*(.+)", stripped):
            entries[f"{section}.{m.group(1)}"] = (m.group(2), comments)
            comments = []
        elif not stripped:
            pass  # blank lines between a comment block and its key are not used in the file
    return entries


def test_every_key_is_in_config_toml_commented_with_its_default() -> None:
    entries = _config_entries()
    reference = settings_reference()
    keys = [k for k, _, _ in reference]
    # 53 (earlier) + 6 live shapes [engine]; 40 [chat]; 2 [api]; server.allow_no_login; nfe.listen_slack_s;
    # engine.single_chunk_chars, engine.fp8_gemms; engine.devices; 10 [serve];
    # engine.padded_attention; engine.prepare_exact_bytes / _voices;
    # engine.compile_vocoder; engine.batch_padding / batch_bucket_frames
    assert len(keys) == len(set(keys)) == 59 + 40 + 2 + 1 + 1 + 2 + 1 + 10 + 1 + 2 + 1 + 2
    assert sorted(entries) == sorted(keys), "config.toml and the settings dataclasses list different keys"
    for key, default, description in reference:
        raw, comments = entries[key]
        assert raw == default, f"{key}: config.toml has {raw}, the default is {default}"
        assert comments, f"{key} has no comment above it in config.toml"
        assert len(" ".join(comments)) > 30, f"{key}: its comment is too short to explain anything"
        assert len(description) > 15


def test_reference_mentions_allowed_values() -> None:
    ref = {k: d for k, _, d in settings_reference()}
    assert "auto, bf16, fp16, fp32" in ref["engine.precision"]
    assert "1 to 65535" in ref["server.port"]
    assert "true or false" in ref["engine.compile"]


def test_config_toml_documents_offline_use_and_safe_host() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert 'checkpoint = "/models/F5TTS_v1_Base/model_1250000.safetensors"' in text
    assert "HF_HUB_OFFLINE=1" in text
    assert "0.0.0.0" in text and "auth_user" in text
    assert tomllib.loads(text)["server"]["host"] == "127.0.0.1"


def test_model_names_come_from_installed_f5_tts() -> None:
    names = f5_model_names()
    if not names:
        pytest.skip("f5-tts is not installed, so its model configs cannot be listed")
    assert "F5TTS_v1_Base" in names
    assert "F5TTS_v1_Small" in names


# --------------------------------------------------------------------------------------------
# bad values


@pytest.mark.parametrize(
    ("toml", "key", "fragments"),
    [
        ('[engine]\nprecision = "bf17"', "engine.precision", ['"bf17"', "auto, bf16, fp16, fp32"]),
        ('[engine]\ndevice = "tpu"', "engine.device", ['"tpu"', "auto, cuda, cpu"]),
        ('[server]\nport = "8080"', "server.port", ['"8080"', "whole number", "a string"]),
        ("[server]\nport = 0", "server.port", ["= 0", "from 1 to 65535"]),
        ("[server]\nport = 70000", "server.port", ["70000", "from 1 to 65535"]),
        ("[server]\nport = 7860.0", "server.port", ["7860.0", "whole number"]),
        ("[server]\nhost = 127", "server.host", ["127", "string"]),
        ('[server]\nhost = ""', "server.host", ["must not be empty"]),
        ("[server]\nmax_upload_mb = true", "server.max_upload_mb", ["true", "a boolean"]),
        ("[engine]\ndefault_nfe = 65", "engine.default_nfe", ["65", "from 1 to 64"]),
        ("[engine]\ndefault_nfe = true", "engine.default_nfe", ["true", "a boolean"]),
        ("[engine]\ncfg_strength = 10.5", "engine.cfg_strength", ["10.5", "from 0.0 to 10.0"]),
        ("[engine]\ncfg_strength = nan", "engine.cfg_strength", ["nan", "from 0.0 to 10.0"]),
        ('[engine]\nspeed = "fast"', "engine.speed", ['"fast"', "number"]),
        ("[engine]\nspeed = 0.2", "engine.speed", ["0.2", "from 0.3 to 3.0"]),
        ("[engine]\nsway_coef = -1.5", "engine.sway_coef", ["-1.5", "from -1.0 to 1.0"]),
        ("[engine]\nbatch_wait_ms = -1", "engine.batch_wait_ms", ["-1", "from 0.0 to 1000.0"]),
        ("[engine]\ncuda_graphs = 1", "engine.cuda_graphs", ["= 1", "true or false", "an integer"]),
        ('[engine]\nwarmup = "yes"', "engine.warmup", ['"yes"', "true or false"]),
        ("[engine]\nchunk_chars = 19", "engine.chunk_chars", ["19", "from 20 to 1000"]),
        ("[engine]\nfirst_chunk_chars = 501", "engine.first_chunk_chars", ["501", "from 10 to 500"]),
        ("[engine]\nsingle_chunk_chars = -1", "engine.single_chunk_chars", ["-1", "from 0 to 1000"]),
        ('[f5]\nmodel = "F5TTS_v2_Base"', "f5.model", ['"F5TTS_v2_Base"', "F5TTS_v1_Base"]),
        ('[f5]\ncheckpoint = "hf://SWivid"', "f5.checkpoint", ["hf://owner/repo", "e.g."]),
        ('[f5]\nvocab = "hf:///x/vocab.txt"', "f5.vocab", ["hf://owner/repo"]),
        ('[f5]\nvocoder = "s3://bucket/vocos"', "f5.vocoder", ["unsupported scheme", "hf://"]),
        ('[f5]\ncheckpoint = ""', "f5.checkpoint", ["must not be empty"]),
        ("[paths]\nvoices = 5", "paths.voices", ["= 5", "path"]),
        ('[paths]\ndatabase = ""', "paths.database", ["must not be empty"]),
        ('[paths]\nvoices = " "', "paths.voices", ["must not be empty"]),
        ("server = 5", "server", ["[server] table"]),
    ],
)
def test_bad_value_names_key_value_and_allowed(tmp_path: Path, toml: str, key: str, fragments: list[str]) -> None:
    cfg = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    msg = str(info.value)
    assert msg.startswith(key), msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    assert f"({cfg})" in msg, "the message should name the file"


def test_precision_message_exact(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[engine]\nprecision = "bf17"\n')
    with pytest.raises(
        ConfigError, match=r'^engine\.precision = "bf17" is not allowed; use one of: auto, bf16, fp16, fp32'
    ):
        load_settings(cfg, environ={})


def test_unknown_key_names_it_and_suggests(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[server]\nhots = "0.0.0.0"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    msg = str(info.value)
    assert "server.hots" in msg
    assert "did you mean server.host?" in msg
    for known in ("server.host", "server.port", "server.auth_user", "server.auth_password", "server.max_upload_mb"):
        assert known in msg


def test_unknown_section_names_it(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[egnine]\ndefault_nfe = 8\n")
    with pytest.raises(ConfigError, match=r"\[egnine\].*did you mean \[engine\]\?"):
        load_settings(cfg, environ={})


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[server]\nhost = "127.0.0.1"\nport = = 7860\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    msg = str(info.value)
    assert str(cfg) in msg
    assert "line 3" in msg


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_missing_file_from_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings(environ={CONFIG_ENV_VAR: str(tmp_path / "nope.toml")})


def test_settings_are_frozen_and_validate_on_construction() -> None:
    s = ServerSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"^server\.port = 0 is out of range"):
        ServerSettings(port=0)
    with pytest.raises(ConfigError, match=r"^engine\.max_batch"):
        EngineSettings(max_batch=65)


# --------------------------------------------------------------------------------------------
# file selection and overrides


def test_env_var_selects_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[server]\nport = 9001\n")
    s = load_settings(environ={CONFIG_ENV_VAR: str(cfg)})
    assert s.server.port == 9001
    assert s.config_path == cfg


def test_explicit_path_wins_over_env(tmp_path: Path) -> None:
    env_cfg = write(tmp_path, "[server]\nport = 9001\n", "env.toml")
    arg_cfg = write(tmp_path, "[server]\nport = 9002\n", "arg.toml")
    s = load_settings(arg_cfg, environ={CONFIG_ENV_VAR: str(env_cfg)})
    assert s.server.port == 9002
    assert s.config_path == arg_cfg


def test_no_path_no_env_gives_defaults() -> None:
    s = load_settings(environ={})
    assert s.config_path is None
    assert s.server == ServerSettings() and s.engine == EngineSettings()


def test_process_environment_is_used_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path, '[engine]\nprecision = "fp16"\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(cfg))
    assert load_settings().engine.precision == "fp16"


def test_overrides_apply_after_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[server]\nhost = "127.0.0.1"\nport = 9001\n[engine]\ndefault_nfe = 8\n')
    s = load_settings(cfg, overrides={"server.host": "0.0.0.0", "server.port": 8080}, environ={}, smoke=True)
    assert (s.server.host, s.server.port) == ("0.0.0.0", 8080)
    assert s.engine.default_nfe == 8  # untouched keys keep the file's value
    assert s.smoke is True


def test_overrides_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^server\.port = 99999 is out of range.*\(override\)"):
        load_settings(overrides={"server.port": 99999}, environ={})
    with pytest.raises(ConfigError, match=r"^server\.port = \"80\" has the wrong type"):
        load_settings(overrides={"server.port": "80"}, environ={})
    with pytest.raises(ConfigError, match=r"engine\.nfe.*did you mean engine\.default_nfe\?"):
        load_settings(overrides={"engine.nfe": 8}, environ={})
    with pytest.raises(ConfigError, match=r"key port is not a known setting"):
        load_settings(overrides={"port": 8080}, environ={})


def test_float_setting_accepts_integer() -> None:
    s = load_settings(overrides={"engine.cfg_strength": 3, "engine.speed": 2}, environ={})
    assert s.engine.cfg_strength == 3.0 and isinstance(s.engine.cfg_strength, float)


def test_auth_needs_both_user_and_password() -> None:
    assert not ServerSettings(auth_user="alice").auth_enabled
    assert not ServerSettings(auth_password="secret").auth_enabled
    both = ServerSettings(auth_user="alice", auth_password="secret")
    assert both.auth_enabled and both.auth == ("alice", "secret")


def test_hf_and_local_weights_accepted(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        '[f5]\nmodel = "F5TTS_v1_Small"\ncheckpoint = "/models/F5/model.safetensors"\n'
        'vocab = "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt"\nvocoder = "hf://charactr/vocos-mel-24khz"\n',
    )
    if not f5_model_names():
        pytest.skip("f5-tts is not installed, so model names cannot be validated")
    s = load_settings(cfg, environ={})
    assert s.f5.model == "F5TTS_v1_Small"
    assert s.f5.checkpoint == "/models/F5/model.safetensors"
    assert s.f5.vocab == "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt"


def test_relative_weight_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[f5]\ncheckpoint = "models/model.safetensors"\nvocoder = "~/vocos"\n')
    s = load_settings(cfg, environ={})
    assert s.f5.checkpoint == str(tmp_path / "models" / "model.safetensors")
    assert s.f5.vocoder == str(Path.home() / "vocos")


# --------------------------------------------------------------------------------------------
# paths


def test_relative_paths_resolve_against_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = write(conf_dir, '[paths]\nvoices = "data/voices"\ndatabase = "db/studio.db"\ncache = "/abs/cache"\n')
    s = load_settings(cfg, environ={})
    assert s.paths.voices == conf_dir / "data" / "voices"
    assert s.paths.database == str(conf_dir / "db" / "studio.db")
    assert s.paths.cache == Path("/abs/cache")
    # An unset path keeps its default, also relative to the config folder.
    assert s.paths.samples == conf_dir / "samples"


def test_relative_config_path_still_resolves_absolutely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", '[paths]\nvoices = "v"\n')
    monkeypatch.chdir(tmp_path)
    s = load_settings("conf/config.toml", environ={})
    assert s.paths.voices == tmp_path / "conf" / "v"
    assert s.config_path == tmp_path / "conf" / "config.toml"


def test_paths_without_file_resolve_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.paths.voices == tmp_path / "voices"
    assert s.paths.database == str(tmp_path / "samples" / "studio.db")


def test_tilde_expands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = write(tmp_path, '[paths]\ncache = "~/my-cache"\n')
    assert load_settings(cfg, environ={}).paths.cache == tmp_path / "my-cache"


def test_database_url_is_kept(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[paths]\ndatabase = "postgresql://studio@db/studio"\n')
    p = load_settings(cfg, environ={}).paths
    assert p.database == "postgresql://studio@db/studio"
    assert p.database_url == "postgresql://studio@db/studio"
    sqlite = PathSettings(database="/x/studio.db")
    assert sqlite.database_url == "sqlite:////x/studio.db"


def test_readme_documents_every_key() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [key for key, _, _ in settings_reference() if f"| `{key}` |" not in readme]
    assert not missing, f"README's configuration reference lacks: {missing}"
