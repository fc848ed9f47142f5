"""Typed, validated studio settings loaded from a TOML file.

Every option lives in one frozen dataclass per TOML section. The field metadata carries the
documentation and the allowed values, so validation, error messages and the generated reference
(`settings_reference`) can never drift apart.

Modules: `fields` (field helpers and the value check), `checks` (shared value checks, path resolution),
one module per group of sections (`server`, `engine`, `storage`, `chat`, `serve`) and `loader` (Settings,
the reference, load_settings, default_config_path: the file a command line reads). Import public names from
this package, not from the modules.
"""

from ishowtts_studio.settings.chat import ChatSettings
from ishowtts_studio.settings.checks import f5_model_names
from ishowtts_studio.settings.engine import EngineSettings, F5Settings, IndexTTSSettings
from ishowtts_studio.settings.fields import ConfigError
from ishowtts_studio.settings.loader import (
    CONFIG_ENV_VAR,
    PROJECT_CONFIG,
    Settings,
    default_config_path,
    load_settings,
    settings_reference,
)
from ishowtts_studio.settings.serve import ServeSettings
from ishowtts_studio.settings.server import API_KEY_ENV_VAR, ApiSettings, ServerSettings
from ishowtts_studio.settings.storage import NfeSettings, PathSettings, VoiceSettings

__all__ = [
    "API_KEY_ENV_VAR",
    "CONFIG_ENV_VAR",
    "PROJECT_CONFIG",
    "ChatSettings",
    "ApiSettings",
    "ConfigError",
    "EngineSettings",
    "F5Settings",
    "IndexTTSSettings",
    "NfeSettings",
    "PathSettings",
    "ServeSettings",
    "ServerSettings",
    "VoiceSettings",
    "Settings",
    "default_config_path",
    "f5_model_names",
    "load_settings",
    "settings_reference",
]
