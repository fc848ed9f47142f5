"""Typed, validated studio settings loaded from a TOML file.

Every option lives in one frozen dataclass per TOML section. The field metadata carries the
documentation and the allowed values, so validation, error messages and the generated reference
(`settings_reference`) can never drift apart.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

__all__ = [
    "API_KEY_ENV_VAR",
    "CONFIG_ENV_VAR",
    "ChatSettings",
    "ApiSettings",
    "ConfigError",
    "EngineSettings",
    "F5Settings",
    "IndexTTSSettings",
    "PathSettings",
    "ServerSettings",
    "VoiceSettings",
    "Settings",
    "f5_model_names",
    "load_settings",
    "settings_reference",
]

CONFIG_ENV_VAR = "ISHOWTTS_CONFIG"

# Owner and repo names on the Hugging Face Hub: letters, digits, '-', '_' and '.'.
_HF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# ODE steps (NFE) a request, a default or a comparison may use; services/inputs.py reads them from the fields
NFE_LO, NFE_HI = 1, 64


class ConfigError(ValueError):
    """A setting is missing, unknown, of the wrong type or out of range."""


# --------------------------------------------------------------------------------------------
# field helpers


def _meta(
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


def _opt(default: Any, doc: str, **constraints: Any) -> Any:
    """A dataclass field with an immutable default whose metadata documents and constrains it; a secret one is
    left out of the dataclass's repr as well."""
    return field(default=default, metadata=_meta(doc, **constraints), repr=not constraints.get("secret", False))


SECRET_SHOWN = "(hidden)"


def _fmt(value: object) -> str:
    """Render a value the way it would be written in TOML, so messages can be pasted back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    return repr(value)


def _type_label(value: object) -> str:
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


_EXPECTED = {
    bool: "true or false (without quotes)",
    int: "a whole number (without quotes)",
    float: "a number (without quotes)",
    str: "a string in double quotes",
    Path: "a path string in double quotes",
}


def _range_text(typ: type, lo: float | None, hi: float | None) -> str:
    kind = "a whole number" if typ is int else "a number"
    if lo is not None and hi is not None:
        return f"{kind} from {_fmt(lo)} to {_fmt(hi)}"
    if lo is not None:
        return f"{kind} of at least {_fmt(lo)}"
    return f"{kind} of at most {_fmt(hi)}"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _check_value(cls: type, name: str, value: object) -> object:
    """Validate one field of a section dataclass; return the value coerced to the field's type."""
    section: str = cls._section  # type: ignore[attr-defined]
    key = f"{section}.{name}"
    typ = _hints(cls)[name]
    meta = {f.name: f.metadata for f in fields(cls)}[name]
    if meta.get("secret"):
        try:  # a message about a secret names the key and the problem, never the value
            return _check_value_shown(cls, name, value, typ, meta, key)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(_fmt(value), SECRET_SHOWN)) from None
    return _check_value_shown(cls, name, value, typ, meta, key)


def _check_value_shown(cls: type, name: str, value: object, typ: Any, meta: Any, key: str) -> object:

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
            f"{key} = {_fmt(value)} has the wrong type: expected {_EXPECTED[typ]}, got {_type_label(value)}"
        )
    if typ is float:
        value = float(value)  # type: ignore[arg-type]
    elif typ is Path:
        if not os.fspath(value).strip():  # type: ignore[arg-type]
            # Path("") would silently mean the current folder.
            raise ConfigError(f"{key} = {_fmt(value)} must not be empty; give a folder path")
        value = Path(value)  # type: ignore[arg-type]

    choices = meta.get("choices")
    if choices is not None and value not in choices:
        hint = difflib.get_close_matches(str(value).lower(), choices, n=1)
        extra = f" (did you mean {_fmt(hint[0])}?)" if hint else ""
        raise ConfigError(f"{key} = {_fmt(value)} is not allowed; use one of: {', '.join(choices)}{extra}")

    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None or hi is not None:
        assert isinstance(value, (int, float))
        bad = not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi)
        if bad:
            raise ConfigError(f"{key} = {_fmt(value)} is out of range; use {_range_text(typ, lo, hi)}")

    check = meta.get("check")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"{key} = {_fmt(value)} {problem}")
    return value


class _Section:
    """Mixin: validate every field on construction, so hand-built settings are as safe as loaded ones."""

    _section: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = _check_value(type(self), f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)


# --------------------------------------------------------------------------------------------
# validators


def _non_empty(value: str) -> str | None:
    return "must not be empty" if not str(value).strip() else None


def _check_weights(value: str) -> str | None:
    """A local path or hf://owner/repo[/file/in/repo]."""
    if not value.strip():
        return "must not be empty; give a local path or hf://owner/repo/file"
    if not value.startswith("hf://"):
        if _URL_SCHEME.match(value):
            return (
                "uses an unsupported scheme; give a local path or a Hugging Face reference such as "
                '"hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors"'
            )
        return None
    parts = value[len("hf://") :].split("/")
    if len(parts) < 2 or not all(parts) or not (_HF_NAME.match(parts[0]) and _HF_NAME.match(parts[1])):
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


def _check_model(value: str) -> str | None:
    names = f5_model_names()
    if not names:
        # Without f5-tts the engine reports that itself; only reject obviously bad names here.
        return None if _HF_NAME.match(value) else "is not a model config name such as F5TTS_v1_Base"
    if value in names:
        return None
    hint = difflib.get_close_matches(value, names, n=1)
    extra = f" (did you mean {_fmt(hint[0])}?)" if hint else ""
    return f"is not allowed; use one of: {', '.join(names)}{extra}"


def _check_database(value: str) -> str | None:
    if not value.strip():
        return "must not be empty; give a file path such as samples/studio.db or an SQLAlchemy URL"
    if "://" in value and not _URL_SCHEME.match(value):
        return 'is not a valid SQLAlchemy URL; use e.g. "sqlite:///path/to/studio.db" or "postgresql://user@host/db"'
    return None


# --------------------------------------------------------------------------------------------
# sections


@dataclass(frozen=True)
class ServerSettings(_Section):
    _section: ClassVar[str] = "server"

    host: str = _opt(
        "127.0.0.1",
        "Interface the web server binds to. 127.0.0.1 is this machine only; "
        "use 0.0.0.0 to listen on the network, and only with auth_user and auth_password set.",
        check=_non_empty,
    )
    port: int = _opt(7860, "TCP port of the web server.", lo=1, hi=65535)
    auth_user: str = _opt("", "Login name. Login is required only when both auth_user and auth_password are set.")
    auth_password: str = _opt(
        "", "Login password. Login is required only when both auth_user and auth_password are set.", secret=True
    )
    allow_no_login: bool = _opt(
        False,
        "Start even when host listens beyond this machine and login is off (anyone on the network can then use "
        "the studio). Without it such a start is refused; --allow-no-login sets it for one run.",
    )
    max_upload_mb: int = _opt(50, "Largest accepted upload, in megabytes.", lo=1, hi=10000)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_user and self.auth_password)

    @property
    def auth(self) -> tuple[str, str] | None:
        """(user, password) for the web server, or None when login is off."""
        return (self.auth_user, self.auth_password) if self.auth_enabled else None


@dataclass(frozen=True)
class EngineSettings(_Section):
    _section: ClassVar[str] = "engine"

    device: str = _opt(
        "auto",
        "Where the model runs: auto picks cuda when a GPU is present, else cpu.",
        choices=("auto", "cuda", "cpu"),
    )
    precision: str = _opt(
        "auto",
        "Numeric precision of the model: auto picks bf16 on GPUs that support it, fp16 on other GPUs, fp32 on cpu.",
        choices=("auto", "bf16", "fp16", "fp32"),
    )
    default_nfe: int = _opt(
        16, "Default number of ODE steps (NFE) per synthesis: fewer is faster, more is cleaner.", lo=NFE_LO, hi=NFE_HI
    )
    cfg_strength: float = _opt(2.0, "Classifier-free guidance strength.", lo=0.0, hi=10.0)
    sway_coef: float = _opt(
        -1.0, "Sway sampling coefficient for the ODE timesteps (-1 favours early steps).", lo=-1.0, hi=1.0
    )
    speed: float = _opt(1.0, "Speaking speed multiplier (changes the generated duration).", lo=0.3, hi=3.0)
    max_text_chars: int = _opt(2000, "Longest text accepted for one synthesis, in characters.", lo=1, hi=20000)
    queue_size: int = _opt(32, "Requests that may wait for the GPU before new ones are refused.", lo=1, hi=1024)
    max_batch: int = _opt(8, "Most requests sampled together in one GPU batch.", lo=1, hi=64)
    batch_wait_ms: float = _opt(
        4.0, "How long the GPU worker waits for more requests to fill a batch, in milliseconds.", lo=0.0, hi=1000.0
    )
    crossfade_ms: int = _opt(150, "Crossfade between consecutive text chunks, in milliseconds.", lo=0, hi=1000)
    first_chunk_chars: int = _opt(
        60, "Byte limit of the first text chunk, kept short so streaming starts early.", lo=10, hi=500
    )
    chunk_chars: int = _opt(
        135, "Byte limit of the other text chunks (UTF-8 bytes, as F5-TTS measures).", lo=20, hi=1000
    )
    cuda_graphs: bool = _opt(True, "Capture the sampler in CUDA graphs (GPU only) to cut launch overhead.")
    bucket_frames: int = _opt(
        32,
        "Length buckets in mel frames for requests of a length not met before: such a request runs padded "
        "(masked) to a multiple of this, in a CUDA graph prepared ahead, so it waits for no capture "
        "(1 = every length gets its own graph, captured on first use).",
        lo=1,
        hi=512,
    )
    prepare_min_frames: int = _opt(
        256, "Shortest total length (reference + new speech, in mel frames) whose bucket is prepared at start-up.",
        lo=1, hi=65536,
    )
    prepare_max_frames: int = _opt(
        2048,
        "Longest total length (mel frames; 2048 is about 22 s with the reference) whose bucket graph is prepared "
        "at start-up, about 0.1 s per bucket on an H200; longer requests prepare theirs on first use. 0 = none.",
        lo=0, hi=65536,
    )
    exact_graphs: bool = _opt(
        True,
        "A length met a second time gets its own unpadded CUDA graph, prepared while the GPU is idle, and runs "
        "unpadded after that.",
    )
    share_graph_memory: bool = _opt(
        True, "All CUDA graphs share one memory pool and one set of input buffers (they never run at once).",
    )
    idle_prepare_after_s: float = _opt(
        2.0,
        "Seconds without requests before the engine prepares exact graphs for repeated lengths (a capture takes "
        "about 0.1 s, and a request arriving meanwhile waits for it).",
        lo=0.0, hi=3600.0,
    )
    cudnn_benchmark: bool = _opt(
        False,
        "Let cuDNN time its algorithms for every new input shape (GPU only). Live requests nearly all have new "
        "lengths, and the timing then sits on their path (about 20 ms each on an H200).",
    )
    compile: bool = _opt(
        True, "Run torch.compile on the model's step pieces (GPU only; ~20 s on the first start, cached after; "
        "turn off on a Jetson).",
    )
    attention: str = _opt(
        "cudnn",
        "Attention kernel on the GPU: cudnn (cuDNN's fused attention, PyTorch's own choice where cuDNN cannot run "
        "it) or flash (PyTorch's own choice).",
        choices=("cudnn", "flash"),
    )
    fused_kernels: bool = _opt(
        True,
        "Hand-written GPU kernels in the sampler: the position convolutions in Triton and the feed-forward's GELU "
        "in the GEMM epilogue (GPU only).",
    )
    warmup: bool = _opt(True, "Run a short synthesis at start-up so the first real request is fast.")
    ref_cache_items: int = _opt(64, "Reference voices whose prepared audio is kept in memory.", lo=1, hi=10000)
    max_loaded_engines: int = _opt(
        2, "Engines (F5-TTS, IndexTTS) kept loaded at once; the least recently used is unloaded to make room.",
        lo=1, hi=4,
    )


@dataclass(frozen=True)
class F5Settings(_Section):
    _section: ClassVar[str] = "f5"

    model: str = _opt(
        "F5TTS_v1_Base",
        "Model architecture: the name of a config shipped with f5-tts (f5_tts/configs/NAME.yaml).",
        check=_check_model,
    )
    checkpoint: str = _opt(
        "hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors",
        "Model weights (.safetensors or .pt): a local path or hf://owner/repo/file.",
        check=_check_weights,
    )
    vocab: str = _opt(
        "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt",
        "Vocabulary file of the checkpoint: a local path or hf://owner/repo/file.",
        check=_check_weights,
    )
    vocoder: str = _opt(
        "hf://charactr/vocos-mel-24khz",
        "Vocos vocoder: a local folder (config.yaml + pytorch_model.bin) or hf://owner/repo.",
        check=_check_weights,
    )


@dataclass(frozen=True)
class IndexTTSSettings(_Section):
    """The optional IndexTTS engine (its own environment, a worker process; see docs/architecture.md)."""

    _section: ClassVar[str] = "indextts"

    model_dir: str = _opt(
        "", "IndexTTS model folder (config.yaml, gpt.pth, bpe.model, ...); empty = IndexTTS not configured."
    )
    version: str = _opt(
        "auto", "IndexTTS model version: auto reads it from the model folder's config.yaml.",
        choices=("auto", "1.5", "2"),
    )
    python: str = _opt(
        "", "Python of IndexTTS's own environment; empty = .venv-indextts/bin/python in the studio's folder."
    )
    aux_dir: str = _opt(
        "", "IndexTTS 2 only: a local Hugging Face cache folder holding its auxiliary models (w2v-bert-2.0, "
        "MaskGCT semantic codec, CAMPPlus, BigVGAN); nothing is downloaded.",
    )
    device: str = _opt("auto", "Where IndexTTS runs: auto picks cuda when a GPU is present.",
                       choices=("auto", "cuda", "cpu"))
    use_fp16: bool = _opt(True, "Run IndexTTS in fp16 on the GPU (ignored on cpu).")
    use_cuda_kernel: bool = _opt(False, "Use BigVGAN's fused CUDA activation kernel (compiled on first use).")
    use_deepspeed: bool = _opt(False, "Use DeepSpeed for the GPT stage when it is installed (IndexTTS 2).")


@dataclass(frozen=True)
class VoiceSettings(_Section):
    _section: ClassVar[str] = "voices"

    target_lufs: float = _opt(
        -20.0, "Loudness that new voice clips are normalised to (ITU-R BS.1770), in LUFS.", lo=-40.0, hi=-10.0
    )
    max_seconds: float = _opt(
        12.0, "Longest voice clip kept; longer clips are cut at a pause (F5-TTS works best under 12 s).",
        lo=3.0, hi=30.0,
    )
    min_seconds: float = _opt(
        2.0, "Shortest voice clip accepted after trimming silence, in seconds.", lo=0.5, hi=10.0
    )
    whisper_model: str = _opt(
        "", "Local Whisper model folder for auto-transcription of voice clips; empty = none (type the transcript)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_seconds >= self.max_seconds:
            raise ConfigError(
                f"voices.min_seconds = {self.min_seconds:g} must be less than voices.max_seconds = {self.max_seconds:g}"
            )


def _abs_path(value: str | os.PathLike[str], base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _resolve_database(value: str, base: Path) -> str:
    # SQLAlchemy URLs are passed through untouched; plain paths become absolute file paths.
    return value if "://" in value else str(_abs_path(value, base))


def _resolve_weights(value: str, base: Path) -> str:
    # hf:// references stay as they are; local weight paths resolve like every other path.
    return value if _URL_SCHEME.match(value) else str(_abs_path(value, base))


@dataclass(frozen=True)
class PathSettings(_Section):
    _section: ClassVar[str] = "paths"

    # Defaults depend on the current directory, so they are factories; shown_default is what docs show.
    voices: Path = field(
        default_factory=lambda: Path.cwd() / "voices",
        metadata=_meta(
            "Folder holding the saved voices. Relative paths are relative to the config file's folder.",
            shown_default="voices",
        ),
    )
    samples: Path = field(
        default_factory=lambda: Path.cwd() / "samples",
        metadata=_meta("Folder for generated audio (history, NFE comparisons, benchmarks).", shown_default="samples"),
    )
    database: str = field(
        default_factory=lambda: str(Path.cwd() / "samples" / "studio.db"),
        metadata=_meta(
            "SQLite database file, or an SQLAlchemy URL when it contains :// (e.g. postgresql://user@host/db).",
            check=_check_database,
            shown_default="samples/studio.db",
        ),
    )
    cache: Path = field(
        default_factory=lambda: Path("~/.cache/ishowtts-studio").expanduser(),
        metadata=_meta(
            "Cache folder for prepared reference audio and smoke-mode model files.",
            shown_default="~/.cache/ishowtts-studio",
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # Hand-built settings resolve like a config without a file: against the current directory.
        cwd = Path.cwd()
        for name in ("voices", "samples", "cache"):
            object.__setattr__(self, name, _abs_path(getattr(self, name), cwd))
        object.__setattr__(self, "database", _resolve_database(self.database, cwd))

    @property
    def database_url(self) -> str:
        """An SQLAlchemy URL for `database` (plain paths become sqlite URLs)."""
        return self.database if "://" in self.database else f"sqlite:///{self.database}"


def _check_nfe_list(value: str) -> str | None:
    parts = [p.strip() for p in value.split(",")]
    if not value.strip() or not all(p.isdigit() and NFE_LO <= int(p) <= NFE_HI for p in parts):
        return (f"must be a comma-separated list of whole numbers from {NFE_LO} to {NFE_HI}, "
                "such as \"5,6,7,8,10,12,16\"")
    return None


@dataclass(frozen=True)
class NfeSettings(_Section):
    """NFE compare tab: reference render, default candidates and the verdict rule."""

    _section: ClassVar[str] = "nfe"

    reference_nfe: int = _opt(32, "NFE of the reference render every candidate is compared with.", lo=NFE_LO,
                              hi=NFE_HI)
    candidates: str = _opt(
        "5,6,7,8,10,12,16", "Candidate NFEs offered by default, comma-separated.", check=_check_nfe_list
    )
    margin: float = _opt(
        0.60, "A candidate is indistinguishable only when the upper 95% bound of preferring the reference is "
        "below this margin.", lo=0.5, hi=1.0,
    )
    pesq_min: float = _opt(3.5, "Lowest mean PESQ-WB (against the reference) for an indistinguishable verdict.",
                           lo=1.0, hi=4.64)
    stoi_min: float = _opt(0.90, "Lowest mean STOI for an indistinguishable verdict.", lo=0.0, hi=1.0)
    estoi_min: float = _opt(0.80, "Lowest mean ESTOI for an indistinguishable verdict.", lo=0.0, hi=1.0)
    min_votes: int = _opt(10, "Fewest A/B votes on a pair before any verdict is given.", lo=1, hi=10000)
    listen_slack_s: float = _opt(
        0.5, "A blind A/B vote is refused when it arrives sooner after the trial was handed out than the two clips "
        "last together, less these seconds (both clips cannot have been heard).", lo=0.0, hi=86400.0,
    )

    @property
    def candidate_list(self) -> list[int]:
        return sorted({int(p) for p in self.candidates.split(",")})


_TEMPLATE_FIELDS = ("author", "text", "amount")


def _check_template(value: str) -> str | None:
    import string

    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc}); write placeholders as {{author}}, {{text}}, {{amount}}"
    bad = [n for n in names if n not in _TEMPLATE_FIELDS]
    if bad:
        return f"uses {{{bad[0]}}}; only {{author}}, {{text}} and {{amount}} can be used"
    if value.strip() and "text" not in names and "amount" not in names:
        return "must contain {text} (or be empty to switch this kind of message off)"
    return None


@dataclass(frozen=True)
class ChatSettings(_Section):
    """Live chat (issue 14): queue policy, text filters, read-out templates, voice, outputs, Twitch source."""

    _section: ClassVar[str] = "chat"

    max_queue: int = _opt(
        50, "Most messages waiting to be spoken; when full, the lowest-priority oldest one is dropped (a paid "
        "message never while a plain one waits).", lo=1, hi=10000,
    )
    max_wait_s: float = _opt(
        60.0, "A message that has waited longer than this many seconds is dropped as stale.", lo=1.0, hi=86400.0
    )
    paid_exempt_stale: bool = _opt(True, "Paid messages (superchat, gift, member) are never dropped as stale.")
    cooldown_s: float = _opt(
        2.0, "Per-author cooldown: a plain message within this many seconds of the author's last accepted one "
        "is dropped (0 = off; paid messages exempt).", lo=0.0, hi=3600.0,
    )
    dedupe_window_s: float = _opt(
        10.0, "A message with the same text as one accepted within this many seconds is merged into it "
        "(0 = off).", lo=0.0, hi=3600.0,
    )
    hold: bool = _opt(
        False, "Start in moderator hold mode: messages wait for approve/reject before being spoken (once the tab "
        "switches it, that choice is kept across restarts).",
    )
    prefetch: int = _opt(
        2, "Messages synthesised ahead while the current one plays (they batch on the GPU).", lo=1, hi=16
    )
    crossfade_ms: int = _opt(
        30, "Overlap between consecutive messages on the playout timeline, in milliseconds.", lo=0, hi=1000
    )
    banned_words: str = _opt("", "Comma-separated words or phrases (case-insensitive); see banned_action.")
    banned_action: str = _opt(
        "drop", "What a banned word does: drop the message, or replace the word with banned_replacement.",
        choices=("drop", "replace"),
    )
    banned_replacement: str = _opt("beep", "Word spoken instead of a banned word when banned_action is replace.")
    links: str = _opt(
        "say", "Links in a message: say replaces each with link_word, drop drops the message.", choices=("say", "drop")
    )
    link_word: str = _opt("link", "Word spoken instead of a link when links is say.")
    emoji: str = _opt(
        "strip", "Emoji in a message: strip removes them, drop drops the message, keep leaves them.",
        choices=("strip", "drop", "keep"),
    )
    drop_symbol_only: bool = _opt(True, "Drop messages made only of symbols and punctuation (no letter or digit).")
    drop_commands: bool = _opt(True, "Drop bot commands (messages starting with !).")
    bots: str = _opt(
        "nightbot,streamelements,streamlabs,moobot,fossabot",
        "Comma-separated accounts whose messages are never read (case-insensitive).",
    )
    min_chars: int = _opt(1, "Shortest message read, in characters after filtering.", lo=1, hi=1000)
    max_chars: int = _opt(
        200, "Longest message read, in characters; longer ones are cut at a word boundary.", lo=1, hi=2000
    )
    collapse_repeats: int = _opt(
        3, "Runs of a repeated character or syllable are cut to this many repeats (\"666666\" -> \"666\"; "
        "0 = off).", lo=0, hi=100,
    )
    template_chat: str = _opt(
        "{author} says: {text}", "Read-out of a plain message ({author}, {text}; empty = plain chat is not read).",
        check=_check_template,
    )
    template_mention: str = _opt(
        "{author} says: {text}", "Read-out of a message that mentions the streamer (empty = not read).",
        check=_check_template,
    )
    template_gift: str = _opt(
        "{author} sent {amount}: {text}", "Read-out of a gift or bits ({amount}; empty = not read).",
        check=_check_template,
    )
    template_superchat: str = _opt(
        "{author} sent {amount}: {text}", "Read-out of a superchat (empty = not read).", check=_check_template
    )
    template_member: str = _opt(
        "{author} is now a member: {text}", "Read-out of a new membership (empty = not read).",
        check=_check_template,
    )
    template_continued: str = _opt(
        "{text}", "Read-out of a plain message or mention when the previous spoken message was by the same author "
        "(the name is said only once).", check=_check_template,
    )
    default_voice: str = _opt(
        "", "Voice for viewers without their own; empty = the first voice in the library (a voice picked in the "
        "tab wins).",
    )
    nfe: int = _opt(
        0, "NFE for chat lines; 0 = the studio's adopted default NFE (an NFE set in the tab wins).", lo=0, hi=64
    )
    audio_keep_s: float = _opt(
        900.0, "How long a spoken segment's audio stays fetchable by players, in seconds.", lo=10.0, hi=86400.0
    )
    sounddevice: bool = _opt(
        False, "Also play chat audio on a local sound device through the sounddevice package (pip install "
        "sounddevice).",
    )
    output_device: str = _opt("", "Sound device name or index for sounddevice; empty = the system default.")
    twitch_channel: str = _opt("", "Twitch channel whose chat is read (without #); empty = Twitch off.")
    twitch_server: str = _opt("irc.chat.twitch.tv", "Twitch IRC server host.", check=_non_empty)
    twitch_port: int = _opt(6697, "Twitch IRC server port.", lo=1, hi=65535)
    twitch_tls: bool = _opt(True, "Connect to the IRC server over TLS.")
    twitch_nick: str = _opt(
        "", "Twitch login name for an OAuth login; empty = anonymous read-only login (justinfan).",
    )
    twitch_token_env: str = _opt(
        "TWITCH_OAUTH_TOKEN", "Environment variable holding the OAuth token (used only with twitch_nick; the token "
        "is never stored or logged).", check=_non_empty,
    )
    reconnect_max_s: float = _opt(
        60.0, "Longest wait between reconnect attempts of a chat source (the wait doubles from 1 s).",
        lo=1.0, hi=3600.0,
    )

    @property
    def banned_list(self) -> list[str]:
        return [w.strip() for w in self.banned_words.split(",") if w.strip()]

    @property
    def bot_list(self) -> list[str]:
        return [w.strip().lower() for w in self.bots.split(",") if w.strip()]

    def template(self, kind: str) -> str:
        return str(getattr(self, f"template_{kind}"))
API_KEY_ENV_VAR = "ISHOWTTS_API_KEY"


@dataclass(frozen=True)
class ApiSettings(_Section):
    """The OpenAI-compatible speech API (/v1/audio/speech, /v1/models, /v1/audio/voices) on the studio's server."""

    _section: ClassVar[str] = "api"

    enabled: bool = _opt(True, "Serve the OpenAI-compatible speech API (/v1/...) on the studio's own server.")
    key: str = _opt(
        "", "API key clients send as 'Authorization: Bearer KEY' (the ISHOWTTS_API_KEY environment variable wins "
        "over it). Empty = no key, allowed only while the server listens on 127.0.0.1 without a login; otherwise "
        "the API refuses every request until a key is set.",
    )

    def __repr__(self) -> str:  # the key never reaches a log line or a traceback
        return f"ApiSettings(enabled={self.enabled}, key={'***' if self.key else ''!r})"


@dataclass(frozen=True)
class ServeSettings(_Section):
    """Ray Serve (issue 16, optional extra requirements-ray.txt): engine replicas on a Ray cluster instead of the
    engine in the studio's own process. `python -m ishowtts_studio.serve` deploys them; docs/scaling.md."""

    _section: ClassVar[str] = "serve"

    address: str = _opt(
        "", "Ray cluster whose Serve replicas run the engine for this studio: \"auto\" (a cluster this machine is "
        "part of, started with ray start) or HOST:6379. Empty = the engine runs in the studio's own process.",
    )
    app_name: str = _opt("ishowtts", "Name of the Ray Serve application that holds the engine replicas.",
                         check=_non_empty)
    replicas: int = _opt(1, "Engine replicas the deployment starts with (its fixed count without autoscaling).",
                         lo=1, hi=1024)
    max_replicas: int = _opt(
        0, "Autoscaling ceiling: above replicas, Serve adds replicas while each has more than "
        "target_ongoing_requests requests and removes them again down to replicas. 0 = fixed count.", lo=0, hi=1024,
    )
    target_ongoing_requests: float = _opt(
        4.0, "Requests per replica (queued or in a batch) that autoscaling aims for.", lo=0.1, hi=1000.0
    )
    gpus_per_replica: float = _opt(
        1.0, "GPUs Ray reserves for each replica: 1 = one replica per GPU, 0.5 = two per GPU, 0 = CPU replicas.",
        lo=0.0, hi=8.0,
    )
    cpus_per_replica: float = _opt(1.0, "CPU cores Ray reserves for each replica.", lo=0.0, hi=256.0)
    stall_timeout_s: float = _opt(
        60.0, "A request fails (or is retried) when no audio arrives from its replica for this long: a replica that "
        "died or hangs never leaves a client waiting.", lo=0.1, hi=3600.0,
    )
    request_timeout_s: float = _opt(600.0, "Longest a request may take from submit to its last audio.", lo=1.0,
                                    hi=86400.0)
    retries: int = _opt(
        1, "Times a request whose replica stopped before sending any audio is sent again (to another replica).",
        lo=0, hi=10,
    )


_SECTIONS: dict[str, type] = {
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
        return _fmt(shown)
    assert f.default is not MISSING
    return _fmt(f.default)


def _allowed_text(cls: type, f: Any) -> str:
    typ = _hints(cls)[f.name]
    meta = f.metadata
    if meta.get("choices"):
        return "One of: " + ", ".join(meta["choices"]) + "."
    if meta.get("lo") is not None or meta.get("hi") is not None:
        return "Allowed: " + _range_text(typ, meta.get("lo"), meta.get("hi")) + "."
    if typ is bool:
        return "true or false."
    return ""


def settings_reference() -> list[tuple[str, str, str]]:
    """(dotted key, default as written in TOML, description with allowed values) for every setting."""
    out: list[tuple[str, str, str]] = []
    for section, cls in _SECTIONS.items():
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


def load_settings(
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, object] | None = None,
    smoke: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings: defaults, then the config file, then `overrides` (dotted keys).

    The file is `path` if given, else $ISHOWTTS_CONFIG if set, else none (pure defaults).
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
    values: dict[str, dict[str, tuple[object, str, Path]]] = {name: {} for name in _SECTIONS}
    cwd = Path.cwd()
    config_path: Path | None = None
    if chosen is not None:
        config_path = chosen.absolute()
        data = _read_toml(config_path)
        source = str(chosen)
        for section, table in data.items():
            if section not in _SECTIONS:
                msg = _unknown("section", f"[{section}]", [f"[{s}]" for s in _SECTIONS])
                raise ConfigError(f"{msg} ({source})")
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{section} = {_fmt(table)} must be a [{section}] table, got {_type_label(table)} ({source})"
                )
            known = [f.name for f in fields(_SECTIONS[section])]
            for key, value in table.items():
                if key not in known:
                    msg = _unknown("key", f"{section}.{key}", [f"{section}.{k}" for k in known])
                    raise ConfigError(f"{msg} ({source})")
                values[section][key] = (value, source, config_path.parent)

    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if section not in _SECTIONS or not key:
            all_keys = [k for k, _, _ in settings_reference()]
            raise ConfigError(f"{_unknown('key', dotted, all_keys)} (override)")
        known = [f.name for f in fields(_SECTIONS[section])]
        if key not in known:
            raise ConfigError(f"{_unknown('key', dotted, [f'{section}.{k}' for k in known])} (override)")
        values[section][key] = (value, "override", cwd)

    built: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        kwargs: dict[str, object] = {}
        for key, (value, source, base) in values[section].items():
            try:
                checked = _check_value(cls, key, value)
            except ConfigError as exc:
                raise _with_source(exc, source) from None
            if cls is PathSettings:
                checked = _resolve_database(checked, base) if key == "database" else _abs_path(checked, base)
            elif cls is F5Settings and key != "model":
                checked = _resolve_weights(checked, base)
            elif cls is IndexTTSSettings and key in ("model_dir", "python", "aux_dir") and checked:
                checked = str(_abs_path(checked, base))
            kwargs[key] = checked
        if cls is PathSettings and config_path is not None:
            # Defaults of unset paths also live next to the config file.
            for f in fields(PathSettings):
                if f.name not in kwargs:
                    shown = f.metadata["shown_default"]
                    base = config_path.parent
                    kwargs[f.name] = _resolve_database(shown, base) if f.name == "database" else _abs_path(shown, base)
        built[section] = cls(**kwargs)

    return Settings(**built, smoke=smoke, config_path=config_path)
