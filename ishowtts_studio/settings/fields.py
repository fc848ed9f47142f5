"""Field helpers of the settings: metadata that documents and constrains a setting, and the value check.

The metadata of each field is at once its documentation, its validation and its entry in the generated reference,
so the three cannot drift apart.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field, fields
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

# Owner and repo names on the Hugging Face Hub: letters, digits, '-', '_' and '.'.
HF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# ODE steps (NFE) a request, a default or a comparison may use; services/inputs.py reads them from the fields
NFE_LO, NFE_HI = 1, 64


class ConfigError(ValueError):
    """A setting is missing, unknown, of the wrong type or out of range."""


def meta(
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    lo: float | None = None,
    hi: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    shown_default: str | None = None,
    secret: bool = False,
) -> dict[str, Any]:
    """Field metadata: the documentation and the constraints of one setting (`secret`: never shown)."""
    return {"doc": doc, "choices": choices, "lo": lo, "hi": hi, "check": check, "shown_default": shown_default,
            "secret": secret}


def opt(default: Any, doc: str, **constraints: Any) -> Any:
    """A dataclass field with an immutable default whose metadata documents and constrains it; a secret one is
    left out of the dataclass's repr as well."""
    return field(default=default, metadata=meta(doc, **constraints), repr=not constraints.get("secret", False))


SECRET_SHOWN = "(hidden)"


def fmt(value: object) -> str:
    """Render a value the way it would be written in TOML, so messages can be pasted back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    return repr(value)


def type_label(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (dict, Mapping)):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


EXPECTED = {
    bool: "true or false (without quotes)",
    int: "a whole number (without quotes)",
    float: "a number (without quotes)",
    str: "a string in double quotes",
    Path: "a path string in double quotes",
}


def range_text(typ: type, lo: float | None, hi: float | None) -> str:
    kind = "a whole number" if typ is int else "a number"
    if lo is not None and hi is not None:
        return f"{kind} from {fmt(lo)} to {fmt(hi)}"
    if lo is not None:
        return f"{kind} of at least {fmt(lo)}"
    return f"{kind} of at most {fmt(hi)}"


@functools.cache
def field_hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def check_value(cls: type, name: str, value: object) -> object:
    """Validate one field of a section dataclass; return the value coerced to the field's type."""
    section: str = cls.toml_section  # type: ignore[attr-defined]
    key = f"{section}.{name}"
    typ = field_hints(cls)[name]
    field_meta = {f.name: f.metadata for f in fields(cls)}[name]
    if field_meta.get("secret"):
        try:  # a message about a secret names the key and the problem, never the value
            return _check_value_shown(cls, name, value, typ, field_meta, key)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(fmt(value), SECRET_SHOWN)) from None
    return _check_value_shown(cls, name, value, typ, field_meta, key)


def _check_value_shown(cls: type, name: str, value: object, typ: Any, field_meta: Any, key: str) -> object:

    # Strict types: TOML distinguishes 8080 from "8080", and bool is a subclass of int in Python.
    ok = (
        (typ is bool and isinstance(value, bool))
        or (typ is int and isinstance(value, int) and not isinstance(value, bool))
        or (typ is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (typ is str and isinstance(value, str))
        or (typ is Path and isinstance(value, (str, os.PathLike)))
    )
    if not ok:
        raise ConfigError(
            f"{key} = {fmt(value)} has the wrong type: expected {EXPECTED[typ]}, got {type_label(value)}"
        )
    if typ is float:
        value = float(value)  # type: ignore[arg-type]
    elif typ is Path:
        if not os.fspath(value).strip():  # type: ignore[arg-type]
            # Path("") would silently mean the current folder.
            raise ConfigError(f"{key} = {fmt(value)} must not be empty; give a folder path")
        value = Path(value)  # type: ignore[arg-type]

    choices = field_meta.get("choices")
    if choices is not None and value not in choices:
        hint = difflib.get_close_matches(str(value).lower(), choices, n=1)
        extra = f" (did you mean {fmt(hint[0])}?)" if hint else ""
        raise ConfigError(f"{key} = {fmt(value)} is not allowed; use one of: {', '.join(choices)}{extra}")

    lo, hi = field_meta.get("lo"), field_meta.get("hi")
    if lo is not None or hi is not None:
        assert isinstance(value, (int, float))
        bad = not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi)
        if bad:
            raise ConfigError(f"{key} = {fmt(value)} is out of range; use {range_text(typ, lo, hi)}")

    check = field_meta.get("check")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"{key} = {fmt(value)} {problem}")
    return value


class Section:
    """Mixin: validate every field on construction, so hand-built settings are as safe as loaded ones."""

    toml_section: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = check_value(type(self), f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
