"""[paths], [voices] and [nfe] sections: where files live, how voice clips are kept, how NFE is compared."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ishowtts_studio.settings.checks import abs_path, check_database, resolve_database
from ishowtts_studio.settings.fields import NFE_HI, NFE_LO, ConfigError, Section, meta, opt


@dataclass(frozen=True)
class VoiceSettings(Section):
    toml_section: ClassVar[str] = "voices"

    target_lufs: float = opt(
        -20.0, "Loudness that new voice clips are normalised to (ITU-R BS.1770), in LUFS.", lo=-40.0, hi=-10.0
    )
    max_seconds: float = opt(
        12.0, "Longest voice clip kept; longer clips are cut at a pause (F5-TTS works best under 12 s).",
        lo=3.0, hi=30.0,
    )
    min_seconds: float = opt(
        2.0, "Shortest voice clip accepted after trimming silence, in seconds.", lo=0.5, hi=10.0
    )
    whisper_model: str = opt(
        "", "Local Whisper model folder for auto-transcription of voice clips; empty = none (type the transcript)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_seconds >= self.max_seconds:
            raise ConfigError(
                f"voices.min_seconds = {self.min_seconds:g} must be less than voices.max_seconds = {self.max_seconds:g}"
            )


@dataclass(frozen=True)
class PathSettings(Section):
    toml_section: ClassVar[str] = "paths"

    # Defaults depend on the current directory, so they are factories; shown_default is what docs show.
    voices: Path = field(
        default_factory=lambda: Path.cwd() / "voices",
        metadata=meta(
            "Folder holding the saved voices. Relative paths are relative to the config file's folder.",
            shown_default="voices",
        ),
    )
    samples: Path = field(
        default_factory=lambda: Path.cwd() / "samples",
        metadata=meta("Folder for generated audio (history, NFE comparisons, benchmarks).", shown_default="samples"),
    )
    database: str = field(
        default_factory=lambda: str(Path.cwd() / "samples" / "studio.db"),
        metadata=meta(
            "SQLite database file, or an SQLAlchemy URL when it contains :// (e.g. postgresql://user@host/db).",
            check=check_database,
            shown_default="samples/studio.db",
        ),
        repr=False,  # a database URL may carry a password: never in a repr (logs, tracebacks)
    )
    cache: Path = field(
        default_factory=lambda: Path("~/.cache/ishowtts-studio").expanduser(),
        metadata=meta(
            "Cache folder for prepared reference audio and smoke-mode model files.",
            shown_default="~/.cache/ishowtts-studio",
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # Hand-built settings resolve like a config without a file: against the current directory.
        cwd = Path.cwd()
        for name in ("voices", "samples", "cache"):
            object.__setattr__(self, name, abs_path(getattr(self, name), cwd))
        object.__setattr__(self, "database", resolve_database(self.database, cwd))

    @property
    def database_url(self) -> str:
        """An SQLAlchemy URL for `database` (plain paths become sqlite URLs)."""
        return self.database if "://" in self.database else f"sqlite:///{self.database}"


def check_nfe_list(value: str) -> str | None:
    parts = [p.strip() for p in value.split(",")]
    if not value.strip() or not all(p.isdigit() and NFE_LO <= int(p) <= NFE_HI for p in parts):
        return (f"must be a comma-separated list of whole numbers from {NFE_LO} to {NFE_HI}, "
                "such as \"5,6,7,8,10,12,16\"")
    return None


@dataclass(frozen=True)
class NfeSettings(Section):
    """NFE compare tab: reference render, default candidates and the verdict rule."""

    toml_section: ClassVar[str] = "nfe"

    reference_nfe: int = opt(32, "NFE of the reference render every candidate is compared with.", lo=NFE_LO,
                              hi=NFE_HI)
    candidates: str = opt(
        "5,6,7,8,10,12,16", "Candidate NFEs offered by default, comma-separated.", check=check_nfe_list
    )
    margin: float = opt(
        0.60, "A candidate is indistinguishable only when the upper bound of preferring the reference (95% split "
        "over the looks at which verdicts are read) is below this margin.", lo=0.5, hi=1.0,
    )
    pesq_min: float = opt(3.5, "Lowest mean PESQ-WB (against the reference) for an indistinguishable verdict.",
                           lo=1.0, hi=4.64)
    stoi_min: float = opt(0.90, "Lowest mean STOI for an indistinguishable verdict.", lo=0.0, hi=1.0)
    estoi_min: float = opt(0.80, "Lowest mean ESTOI for an indistinguishable verdict.", lo=0.0, hi=1.0)
    min_votes: int = opt(10, "Fewest A/B votes on a pair before any verdict is given: the first look; later looks "
                              "at 50, 100, 200 and 400 votes.", lo=1, hi=10000)
    listen_slack_s: float = opt(
        0.5, "A blind A/B vote is refused when it arrives sooner after the trial was handed out than the two clips "
        "last together, less these seconds (both clips cannot have been heard).", lo=0.0, hi=86400.0,
    )

    @property
    def candidate_list(self) -> list[int]:
        return sorted({int(p) for p in self.candidates.split(",")})
