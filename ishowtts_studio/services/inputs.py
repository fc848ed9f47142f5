"""Input limits and parsing in one place: NFE, seed, speed, CFG and lists of whole numbers.

The limits are the settings' own (`EngineSettings` field metadata `lo`/`hi`), so a limit is written once:
what config.toml accepts is what a request accepts.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import fields
from typing import Any

from ishowtts_studio.services.errors import InputError
from ishowtts_studio.settings import EngineSettings
from ishowtts_studio.validation import brief


def _limits(name: str) -> tuple[Any, Any]:
    meta = {f.name: f.metadata for f in fields(EngineSettings)}[name]
    return meta["lo"], meta["hi"]


NFE_MIN, NFE_MAX = _limits("default_nfe")
SPEED_MIN, SPEED_MAX = _limits("speed")
CFG_MIN, CFG_MAX = _limits("cfg_strength")
SEED_MAX = 2**31 - 1  # torch.manual_seed takes any 64-bit value; 31 bits keep seeds portable (JSON, numpy)


def list_items(value: Any) -> list[Any]:
    """A list typed as text ("5, 6;7 8"), one number, or an actual list, as its items."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p for p in re.split(r"[,;\s]+", value) if p]
    if isinstance(value, (int, float)):
        return [value]
    return list(value)


def _whole(value: Any) -> int | None:
    """`value` as an int when it is a whole number (3, 3.0, "3"), else None; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value) if isinstance(value, str) else value
    except ValueError:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def int_list(values: Any, what: str) -> list[int]:
    """Whole numbers from text or a list; InputError naming `what` otherwise."""
    out = []
    for v in list_items(values):
        whole = _whole(v)
        if whole is None:
            raise InputError(f"{what} must be whole numbers, not {brief(v)}.")
        out.append(whole)
    return out


def check_nfe(nfe: Any) -> int:
    value = _whole(nfe)
    if value is None:
        raise InputError(f"NFE must be a whole number from {NFE_MIN} to {NFE_MAX}, not {brief(nfe)}.")
    if not NFE_MIN <= value <= NFE_MAX:
        raise InputError(f"NFE {value} is out of range: use {NFE_MIN} to {NFE_MAX} steps (16 is a good default).")
    return value


def check_speed(speed: Any) -> float:
    try:
        if isinstance(speed, bool):  # True is not 1.0 times normal speed
            raise TypeError
        value = float(speed)
    except (TypeError, ValueError):
        raise InputError(f"Speed must be a number from {SPEED_MIN} to {SPEED_MAX}, not {brief(speed)}.") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"Speed must be positive: use {SPEED_MIN} to {SPEED_MAX} (1.0 is normal speed).")
    if not SPEED_MIN <= value <= SPEED_MAX:
        raise InputError(f"Speed {value:g} is out of range: use {SPEED_MIN} to {SPEED_MAX} (1.0 is normal).")
    return value


def check_cfg(cfg: Any) -> float:
    try:
        value = float(cfg)
    except (TypeError, ValueError):
        raise InputError(f"CFG strength must be a number from {CFG_MIN} to {CFG_MAX}.") from None
    if not (math.isfinite(value) and CFG_MIN <= value <= CFG_MAX):
        raise InputError(f"CFG strength {value:g} is out of range: use {CFG_MIN} to {CFG_MAX} (2.0 is the default).")
    return value


def check_seed(seed: Any) -> int:
    """A seed to use: None, "" or a negative whole number = a random one; otherwise a whole number up to SEED_MAX
    (given as a number or as text, like NFE; never a boolean, a fraction or infinity)."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return random.randint(0, SEED_MAX)
    value = _whole(seed.strip() if isinstance(seed, str) else seed)
    if value is None:
        raise InputError(f"Seed must be a whole number (or -1 for random), not {brief(seed)}.")
    if value < 0:
        return random.randint(0, SEED_MAX)
    if value > SEED_MAX:
        raise InputError(f"Seed must be at most {SEED_MAX} (or -1 for random).")
    return value


def parse_nfes(nfes: Any, default: list[int]) -> list[int]:
    """Candidate NFEs from text or a list (empty = `default`), sorted and without repeats."""
    parts = list_items(nfes)
    if not parts:
        return list(default)
    if len(parts) > NFE_MAX:
        raise InputError(f"Too many candidate NFEs ({len(parts)}); pick at most {NFE_MAX}.")
    values = []
    for p in parts:
        if isinstance(p, str) and _whole(p) is None:
            try:
                float(p)
            except ValueError:
                raise InputError(f"Candidate NFEs must be whole numbers from {NFE_MIN} to {NFE_MAX}, "
                                 f"not {brief(p)}.") from None
        values.append(check_nfe(float(p) if isinstance(p, str) else p))
    return sorted(set(values))


def parse_fixed_seeds(seeds: Any, most: int) -> list[int]:
    """Fixed seeds (0 or more, at most `most` of them) from text or a list; empty = [0]."""
    parts = list_items(seeds)
    if not parts:
        return [0]
    if len(parts) > most:
        raise InputError(f"Too many seeds ({len(parts)}); use at most {most}.")
    out = []
    for p in parts:
        v = _whole(p)
        if v is None:
            raise InputError(f"Seeds must be whole numbers from 0 to {SEED_MAX}, not {brief(p)}.")
        if v < 0:
            raise InputError("NFE comparisons need fixed seeds (0 or more), so every render is aligned; "
                             "random seeds (-1) cannot be used here.")
        if v > SEED_MAX:
            raise InputError(f"Seeds must be at most {SEED_MAX}.")
        out.append(v)
    return sorted(set(out))
