"""Value checks shared by the settings sections: each returns None or the problem, worded to follow the key."""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
from pathlib import Path

from ishowtts_studio.settings.fields import HF_NAME, URL_SCHEME, fmt


def non_empty(value: str) -> str | None:
    return "must not be empty" if not str(value).strip() else None


def check_weights(value: str) -> str | None:
    """A local path or hf://owner/repo[/file/in/repo]."""
    if not value.strip():
        return "must not be empty; give a local path or hf://owner/repo/file"
    if not value.startswith("hf://"):
        if URL_SCHEME.match(value):
            return (
                "uses an unsupported scheme; give a local path or a Hugging Face reference such as "
                '"hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors"'
            )
        return None
    parts = value[len("hf://") :].split("/")
    if len(parts) < 2 or not all(parts) or not (HF_NAME.match(parts[0]) and HF_NAME.match(parts[1])):
        return (
            "is not a valid Hugging Face reference; use hf://owner/repo or hf://owner/repo/path/to/file, "
            'e.g. "hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors"'
        )
    return None


@functools.cache
def f5_model_names() -> tuple[str, ...]:
    """Model config names shipped in the installed f5-tts package (the yaml files in f5_tts/configs).

    Located with find_spec instead of importlib.resources.files so that loading settings never
    imports f5_tts (and with it torch). Empty when f5-tts is not installed.
    """
    try:
        spec = importlib.util.find_spec("f5_tts")
    except (ImportError, ValueError):
        return ()
    if spec is None or not spec.submodule_search_locations:
        return ()
    names: set[str] = set()
    for root in spec.submodule_search_locations:
        folder = Path(root) / "configs"
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return tuple(sorted(names))


def check_model(value: str) -> str | None:
    names = f5_model_names()
    if not names:
        # Without f5-tts the engine reports that itself; only reject obviously bad names here.
        return None if HF_NAME.match(value) else "is not a model config name such as F5TTS_v1_Base"
    if value in names:
        return None
    hint = difflib.get_close_matches(value, names, n=1)
    extra = f" (did you mean {fmt(hint[0])}?)" if hint else ""
    return f"is not allowed; use one of: {', '.join(names)}{extra}"


def check_database(value: str) -> str | None:
    if not value.strip():
        return "must not be empty; give a file path such as samples/studio.db or an SQLAlchemy URL"
    if "://" in value and not URL_SCHEME.match(value):
        return 'is not a valid SQLAlchemy URL; use e.g. "sqlite:///path/to/studio.db" or "postgresql://user@host/db"'
    return None

# Path resolution: relative paths in a config file mean its folder, on the command line the current one.


def abs_path(value: str | os.PathLike[str], base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def resolve_database(value: str, base: Path) -> str:
    # SQLAlchemy URLs are passed through untouched; plain paths become absolute file paths.
    return value if "://" in value else str(abs_path(value, base))


def resolve_weights(value: str, base: Path) -> str:
    # hf:// references stay as they are; local weight paths resolve like every other path.
    return value if URL_SCHEME.match(value) else str(abs_path(value, base))


def check_devices(value: str) -> str | None:
    # imported here: device_routing imports nothing from settings, but keep the settings package free of runtime modules
    from ishowtts_studio.device_routing import check_devices as check

    return check(value)
