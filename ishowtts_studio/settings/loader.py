"""The whole Settings, the generated reference of every key, and loading: defaults, config file, overrides."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from ishowtts_studio.settings.chat import ChatSettings
from ishowtts_studio.settings.checks import abs_path, resolve_database, resolve_weights
from ishowtts_studio.settings.engine import EngineSettings, F5Settings, IndexTTSSettings
from ishowtts_studio.settings.fields import ConfigError, check_value, field_hints, fmt, range_text, type_label
from ishowtts_studio.settings.serve import ServeSettings
from ishowtts_studio.settings.server import ApiSettings, ServerSettings
from ishowtts_studio.settings.storage import NfeSettings, PathSettings, VoiceSettings

CONFIG_ENV_VAR = "ISHOWTTS_CONFIG"
# the repository's own config.toml, beside app.py: the settings every command line uses when none is named
PROJECT_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"


SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "engine": EngineSettings,
    "f5": F5Settings,
    "indextts": IndexTTSSettings,
    "paths": PathSettings,
    "voices": VoiceSettings,
    "nfe": NfeSettings,
    "chat": ChatSettings,
    "api": ApiSettings,
    "serve": ServeSettings,
}


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    f5: F5Settings = field(default_factory=F5Settings)
    indextts: IndexTTSSettings = field(default_factory=IndexTTSSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    voices: VoiceSettings = field(default_factory=VoiceSettings)
    nfe: NfeSettings = field(default_factory=NfeSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    smoke: bool = False
    config_path: Path | None = None


# --------------------------------------------------------------------------------------------
# reference


def _shown_default(f: Any) -> str:
    shown = f.metadata.get("shown_default")
    if shown is not None:
        return fmt(shown)
    assert f.default is not MISSING
    return fmt(f.default)


def _allowed_text(cls: type, f: Any) -> str:
    typ = field_hints(cls)[f.name]
    meta = f.metadata
    if meta.get("choices"):
        return "One of: " + ", ".join(meta["choices"]) + "."
    if meta.get("lo") is not None or meta.get("hi") is not None:
        return "Allowed: " + range_text(typ, meta.get("lo"), meta.get("hi")) + "."
    if typ is bool:
        return "true or false."
    return ""


def settings_reference() -> list[tuple[str, str, str]]:
    """(dotted key, default as written in TOML, description with allowed values) for every setting."""
    out: list[tuple[str, str, str]] = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            desc = f.metadata["doc"]
            allowed = _allowed_text(cls, f)
            out.append((f"{section}.{f.name}", _shown_default(f), f"{desc} {allowed}".strip()))
    return out


# --------------------------------------------------------------------------------------------
# loading


def _suggest(name: str, known: list[str]) -> str | None:
    """The known name closest to a mistyped one, comparing the last dotted part (so "nfe" finds "default_nfe")."""
    short = {k.rsplit(".", 1)[-1].strip("[]"): k for k in known}
    wanted = name.rsplit(".", 1)[-1].strip("[]").lower()
    hint = difflib.get_close_matches(wanted, list(short), n=1, cutoff=0.6)
    if hint:
        return short[hint[0]]
    partial = [k for s, k in short.items() if len(wanted) >= 3 and (wanted in s or s in wanted)]
    return partial[0] if len(partial) == 1 else None


def _unknown(kind: str, name: str, known: list[str]) -> str:
    hint = _suggest(name, known)
    extra = f"; did you mean {hint}?" if hint else "."
    return f"{kind} {name} is not a known setting{extra} Known: {', '.join(known)}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the path or ${CONFIG_ENV_VAR}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; point to a .toml file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute; the line is in the message.
        m = re.search(r"line (\d+)", str(exc))
        where = f" at line {m.group(1)}" if m else ""
        raise ConfigError(f"config file {path} has a TOML syntax error{where}: {exc}") from None


def _with_source(exc: ConfigError, source: str) -> ConfigError:
    return ConfigError(f"{exc} ({source})")


def default_config_path(arg: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The settings file a command line loads: `arg` (its --config), else $ISHOWTTS_CONFIG, else the project's
    config.toml beside app.py when it exists, else None (the built-in defaults). Every CLI (app.py, say, db, bench,
    serve) resolves its --config through this, so they all read the same file."""
    env = os.environ if environ is None else environ
    if arg is not None and str(arg) != "":
        return Path(arg).expanduser()
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR]).expanduser()
    return PROJECT_CONFIG if PROJECT_CONFIG.is_file() else None


def load_settings(
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, object] | None = None,
    smoke: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings: defaults, then the config file, then `overrides` (dotted keys).

    The file is `path` if given, else $ISHOWTTS_CONFIG if set, else none (pure defaults; the command lines pass
    `default_config_path(...)`, which also falls back to the project's config.toml).
    Relative paths in the file resolve against the file's folder; relative paths in `overrides`
    (which come from the command line) resolve against the current directory.
    """
    env = os.environ if environ is None else environ
    chosen: Path | None = None
    if path is not None and str(path) != "":
        chosen = Path(path).expanduser()
    elif env.get(CONFIG_ENV_VAR):
        chosen = Path(env[CONFIG_ENV_VAR]).expanduser()

    # values[section][key] = (value, source, base folder for relative paths)
    values: dict[str, dict[str, tuple[object, str, Path]]] = {name: {} for name in SECTIONS}
    cwd = Path.cwd()
    config_path: Path | None = None
    if chosen is not None:
        config_path = chosen.absolute()
        data = _read_toml(config_path)
        source = str(chosen)
        for section, table in data.items():
            if section not in SECTIONS:
                msg = _unknown("section", f"[{section}]", [f"[{s}]" for s in SECTIONS])
                raise ConfigError(f"{msg} ({source})")
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{section} = {fmt(table)} must be a [{section}] table, got {type_label(table)} ({source})"
                )
            known = [f.name for f in fields(SECTIONS[section])]
            for key, value in table.items():
                if key not in known:
                    msg = _unknown("key", f"{section}.{key}", [f"{section}.{k}" for k in known])
                    raise ConfigError(f"{msg} ({source})")
                values[section][key] = (value, source, config_path.parent)

    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if section not in SECTIONS or not key:
            all_keys = [k for k, _, _ in settings_reference()]
            raise ConfigError(f"{_unknown('key', dotted, all_keys)} (override)")
        known = [f.name for f in fields(SECTIONS[section])]
        if key not in known:
            raise ConfigError(f"{_unknown('key', dotted, [f'{section}.{k}' for k in known])} (override)")
        values[section][key] = (value, "override", cwd)

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        kwargs: dict[str, object] = {}
        for key, (value, source, base) in values[section].items():
            try:
                checked = check_value(cls, key, value)
            except ConfigError as exc:
                raise _with_source(exc, source) from None
            if cls is PathSettings:
                checked = resolve_database(checked, base) if key == "database" else abs_path(checked, base)
            elif cls is F5Settings and key != "model":
                checked = resolve_weights(checked, base)
            elif cls is IndexTTSSettings and key in ("model_dir", "python", "aux_dir") and checked:
                checked = str(abs_path(checked, base))
            kwargs[key] = checked
        if cls is PathSettings and config_path is not None:
            # Defaults of unset paths also live next to the config file.
            for f in fields(PathSettings):
                if f.name not in kwargs:
                    shown = f.metadata["shown_default"]
                    base = config_path.parent
                    kwargs[f.name] = resolve_database(shown, base) if f.name == "database" else abs_path(shown, base)
        built[section] = cls(**kwargs)

    return Settings(**built, smoke=smoke, config_path=config_path)
