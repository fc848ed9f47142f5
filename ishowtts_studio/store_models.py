"""The database's tables (SQLAlchemy models) and the typed records `Store` returns for them.

To change the schema: change the model here (and its record), then add an Alembic revision under
``migrations/versions/`` that makes the same change; tests/unit/test_migrations.py checks that the migrated
database and the models agree, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, DateTime, Dialect, Float, Index, Integer, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones, and comparisons need one convention."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # naive input is taken to be UTC already
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


# ---------------------------------------------------------------------------------------------- tables


class SynthesisRow(Base):
    __tablename__ = "syntheses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    text: Mapped[str] = mapped_column(Text)
    voice_name: Mapped[str] = mapped_column(String(200))
    voice_slug: Mapped[str] = mapped_column(String(100), index=True)
    engine: Mapped[str] = mapped_column(String(64))
    nfe: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    cfg_strength: Mapped[float] = mapped_column(Float, default=2.0)
    audio_path: Mapped[str] = mapped_column(String(500))
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    ttfa_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    rtf: Mapped[float | None] = mapped_column(Float, nullable=True)
    device: Mapped[str] = mapped_column(String(200), default="")
    smoke: Mapped[bool] = mapped_column(Boolean, default=False)
    # who asked: ui (a tab or the named Gradio endpoints), api (/v1/audio/speech), cli (`say`); rows written
    # before the column existed were all from the page, hence the server default
    origin: Mapped[str] = mapped_column(String(32), default="ui", server_default="ui", index=True)
    # starred in the History panel, for its "favourites only" filter (Alembic 0002: false for older rows)
    favourite: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class PreferenceRow(Base):
    __tablename__ = "preferences"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MetricSampleRow(Base):
    __tablename__ = "metric_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64), default="request", index=True)
    engine: Mapped[str | None] = mapped_column(String(64), nullable=True)
    voice_slug: Mapped[str | None] = mapped_column(String(100), nullable=True)
    nfe: Mapped[int | None] = mapped_column(Integer, nullable=True)
    batch_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    queue_wait_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    ttfa_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    audio_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    rtf: Mapped[float | None] = mapped_column(Float, nullable=True)
    origin: Mapped[str | None] = mapped_column(String(32), nullable=True)


class BenchmarkRunRow(Base):
    __tablename__ = "benchmark_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    device: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON


class NfeRenderRow(Base):
    """One render of a text at one NFE, aligned with its reference render (same seed and duration)."""

    __tablename__ = "nfe_renders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # hash of everything that shapes the audio
    group_key: Mapped[str] = mapped_column(String(64), index=True)  # same text/voice/seed/reference
    voice_slug: Mapped[str] = mapped_column(String(100))
    voice_hash: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    nfe: Mapped[int] = mapped_column(Integer)
    reference_nfe: Mapped[int] = mapped_column(Integer)
    speed: Mapped[float] = mapped_column(Float)
    cfg_strength: Mapped[float] = mapped_column(Float)
    sway_coef: Mapped[float] = mapped_column(Float)
    duration_frames: Mapped[str] = mapped_column(Text)  # JSON list, one per chunk
    audio_path: Mapped[str] = mapped_column(String(500))  # raw render, relative to samples/
    clip_path: Mapped[str] = mapped_column(String(500))  # loudness-matched listening clip
    sample_rate: Mapped[int] = mapped_column(Integer)
    audio_seconds: Mapped[float] = mapped_column(Float)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    rtf: Mapped[float | None] = mapped_column(Float, nullable=True)
    pesq_wb: Mapped[float | None] = mapped_column(Float, nullable=True)
    stoi: Mapped[float | None] = mapped_column(Float, nullable=True)
    estoi: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    smoke: Mapped[bool] = mapped_column(Boolean, default=False)


class AbTrialRow(Base):
    """A blind trial: which render is on which side lives only here until the vote is in."""

    __tablename__ = "ab_trials"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, not guessable
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    render_a_id: Mapped[int] = mapped_column(Integer)
    render_b_id: Mapped[int] = mapped_column(Integer)
    nfe_a: Mapped[int] = mapped_column(Integer)
    nfe_b: Mapped[int] = mapped_column(Integer)
    clip_a: Mapped[str] = mapped_column(String(500))  # served copies with neutral names, relative to samples/
    clip_b: Mapped[str] = mapped_column(String(500))
    # set when the reviewer skipped the trial: no vote, never offered to them again, not in the results
    skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AbVoteRow(Base):
    __tablename__ = "ab_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    trial_id: Mapped[str] = mapped_column(String(64), unique=True)  # one vote per trial
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    nfe_a: Mapped[int] = mapped_column(Integer)
    nfe_b: Mapped[int] = mapped_column(Integer)
    reference_nfe: Mapped[int] = mapped_column(Integer)
    choice: Mapped[str] = mapped_column(String(8))
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


# A baseline name is unique; ordinary runs may share names. Partial indexes exist in SQLite and PostgreSQL only,
# elsewhere the replace-under-lock in add_benchmark_run is the only guard.
Index(
    "uq_benchmark_baseline_name",
    BenchmarkRunRow.name,
    unique=True,
    sqlite_where=BenchmarkRunRow.is_baseline.is_(True),
    postgresql_where=BenchmarkRunRow.is_baseline.is_(True),
).ddl_if(dialect=("sqlite", "postgresql"))


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, kw_only=True)
class SynthesisRecord:
    """One history entry; ``id`` and ``created_at`` are None until the row is written."""

    text: str
    voice_name: str
    voice_slug: str
    engine: str
    nfe: int
    audio_path: str  # relative to the samples folder
    seed: int | None = None
    speed: float = 1.0
    cfg_strength: float = 2.0
    audio_seconds: float = 0.0
    latency_s: float = 0.0
    ttfa_s: float | None = None
    rtf: float | None = None
    device: str = ""
    smoke: bool = False
    origin: str = "ui"
    favourite: bool = False
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class MetricSample:
    id: int
    created_at: datetime
    kind: str
    engine: str | None = None
    voice_slug: str | None = None
    nfe: int | None = None
    batch_size: int | None = None
    text_chars: int | None = None
    queue_wait_s: float | None = None
    latency_s: float | None = None
    ttfa_s: float | None = None
    audio_seconds: float | None = None
    rtf: float | None = None
    origin: str | None = None


@dataclass(frozen=True, kw_only=True)
class BenchmarkRun:
    id: int
    created_at: datetime
    name: str | None
    is_baseline: bool
    device: str | None
    payload: dict[str, Any]


class _Record:
    """Typed rows of the NFE and A/B tables; `to_dict()` gives the JSON/CSV form (times as ISO strings)."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat(timespec="seconds")
        return out


@dataclass(frozen=True, kw_only=True)
class NfeRender(_Record):
    """One stored render of a text at one NFE, aligned with its reference render (same seed and duration)."""

    id: int
    created_at: datetime | None
    key: str
    group_key: str
    voice_slug: str
    voice_hash: str
    text: str
    seed: int
    nfe: int
    reference_nfe: int
    speed: float
    cfg_strength: float
    sway_coef: float
    duration_frames: str  # JSON list, one per chunk
    audio_path: str  # relative to the samples folder
    clip_path: str
    sample_rate: int
    audio_seconds: float
    latency_s: float | None = None
    rtf: float | None = None
    pesq_wb: float | None = None
    stoi: float | None = None
    estoi: float | None = None
    error: str | None = None
    smoke: bool = False


@dataclass(frozen=True, kw_only=True)
class AbTrial(_Record):
    id: str
    created_at: datetime | None
    reviewer: str
    render_a_id: int
    render_b_id: int
    nfe_a: int
    nfe_b: int
    clip_a: str
    clip_b: str
    skipped_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AbVote(_Record):
    id: int
    created_at: datetime | None
    trial_id: str
    reviewer: str
    nfe_a: int
    nfe_b: int
    reference_nfe: int
    choice: str
    seconds: float | None = None


R = TypeVar("R")


def record_of(cls: type[R], row: Any) -> R:
    """The typed record of an ORM row: every column by name."""
    return cls(**{c.key: getattr(row, c.key) for c in row.__table__.columns})


SYNTHESIS_FIELDS = tuple(c.key for c in SynthesisRow.__table__.columns)
METRIC_FIELDS = tuple(c.key for c in MetricSampleRow.__table__.columns)
METRIC_SETTABLE = frozenset(METRIC_FIELDS) - {"id"}


def synthesis_record(row: SynthesisRow) -> SynthesisRecord:
    return record_of(SynthesisRecord, row)


def metric_sample_record(row: MetricSampleRow) -> MetricSample:
    return record_of(MetricSample, row)


def load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        log.warning("Ignoring unreadable JSON in %s", what)
        return None


def benchmark_run_record(row: BenchmarkRunRow) -> BenchmarkRun:
    payload = load_json(row.payload, f"benchmark run {row.id}")
    return BenchmarkRun(
        id=row.id,
        created_at=row.created_at,
        name=row.name,
        is_baseline=row.is_baseline,
        device=row.device,
        payload=payload if isinstance(payload, dict) else {},
    )
