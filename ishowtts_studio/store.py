"""The studio database: synthesis history, preferences, metric samples and benchmark runs.

SQLite (WAL mode) by default, through the SQLAlchemy 2.x ORM so a PostgreSQL URL works as well.
Every public method opens its own short session, so one ``Store`` is safe to share between threads.
Audio lives on disk; rows only hold paths relative to the samples folder.

To add a table: declare a model on ``Base`` in this module; ``create_all`` runs when a Store opens.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
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


class BenchmarkRunRow(Base):
    __tablename__ = "benchmark_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    device: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON


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


@dataclass(frozen=True, kw_only=True)
class BenchmarkRun:
    id: int
    created_at: datetime
    name: str | None
    is_baseline: bool
    device: str | None
    payload: dict[str, Any]


_SYNTHESIS_FIELDS = tuple(c.key for c in SynthesisRow.__table__.columns)
_METRIC_FIELDS = tuple(c.key for c in MetricSampleRow.__table__.columns)
_METRIC_SETTABLE = frozenset(_METRIC_FIELDS) - {"id"}


def _synthesis_record(row: SynthesisRow) -> SynthesisRecord:
    return SynthesisRecord(**{k: getattr(row, k) for k in _SYNTHESIS_FIELDS})


def _metric_sample(row: MetricSampleRow) -> MetricSample:
    return MetricSample(**{k: getattr(row, k) for k in _METRIC_FIELDS})


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        log.warning("Ignoring unreadable JSON in %s", what)
        return None


def _benchmark_run(row: BenchmarkRunRow) -> BenchmarkRun:
    payload = _load_json(row.payload, f"benchmark run {row.id}")
    return BenchmarkRun(
        id=row.id,
        created_at=row.created_at,
        name=row.name,
        is_baseline=row.is_baseline,
        device=row.device,
        payload=payload if isinstance(payload, dict) else {},
    )


# -------------------------------------------------------------------------------------------- store


def _to_url(url: str | Path) -> URL:
    """A bare filesystem path means a SQLite file; anything with a scheme is a SQLAlchemy URL."""
    if isinstance(url, Path) or "://" not in url:
        path = Path(url).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(path))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not _is_sqlite_memory(parsed):
        Path(parsed.database or "").expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return parsed


def _is_sqlite_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url.query.get("mode", ""))


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    memory = _is_sqlite_memory(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # every connection to :memory: would otherwise be a fresh, empty database
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout=5000")  # first, so the WAL switch itself waits for other writers
            cur.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")  # readers never block the GPU worker's writes
                cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL against app crashes, far fewer fsyncs
        finally:
            cur.close()

    return engine


class Store:
    """Thread-safe access to the studio database. Each method uses its own short transaction."""

    def __init__(self, url: str | Path) -> None:
        self.url: URL = _to_url(url)
        self.engine: Engine = _make_engine(self.url)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._baseline_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # ------------------------------------------------------------------------------ synthesis history

    def add_synthesis(self, rec: SynthesisRecord) -> int:
        """Write one history row and return its id (``rec.id`` is ignored; the database assigns it)."""
        values = {k: getattr(rec, k) for k in _SYNTHESIS_FIELDS if k != "id"}
        if values["created_at"] is None:
            values["created_at"] = utcnow()
        row = SynthesisRow(**values)
        with self._session() as s:
            s.add(row)
            s.flush()
            return row.id

    def list_syntheses(self, limit: int = 50, offset: int = 0) -> list[SynthesisRecord]:
        """Newest first."""
        stmt = (
            select(SynthesisRow)
            .order_by(SynthesisRow.created_at.desc(), SynthesisRow.id.desc())
            .limit(max(0, limit))
            .offset(max(0, offset))
        )
        with self._session() as s:
            return [_synthesis_record(r) for r in s.scalars(stmt)]

    def delete_synthesis(self, synthesis_id: int) -> SynthesisRecord | None:
        """Remove one history row; returns it (None when there was none)."""
        with self._session() as s:
            row = s.get(SynthesisRow, synthesis_id)
            if row is None:
                return None
            rec = _synthesis_record(row)
            s.delete(row)
            return rec

    def get_synthesis(self, synthesis_id: int) -> SynthesisRecord | None:
        with self._session() as s:
            row = s.get(SynthesisRow, synthesis_id)
            return _synthesis_record(row) if row is not None else None

    def count_syntheses(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(SynthesisRow)) or 0)

    def voice_usage_counts(self) -> dict[str, int]:
        """Number of history rows per voice slug."""
        stmt = select(SynthesisRow.voice_slug, func.count(SynthesisRow.id)).group_by(SynthesisRow.voice_slug)
        with self._session() as s:
            return {slug: int(n) for slug, n in s.execute(stmt)}

    # ------------------------------------------------------------------------------------ preferences

    def get_pref(self, key: str, default: Any = None) -> Any:
        with self._session() as s:
            row = s.get(PreferenceRow, key)
            if row is None:
                return default
            value = _load_json(row.value, f"preference {key!r}")
            return default if value is None else value

    def set_pref(self, key: str, value: Any) -> None:
        """Insert or replace; ``value`` must be JSON-serialisable (TypeError otherwise)."""
        encoded = json.dumps(value, ensure_ascii=False)
        dialect = self.engine.dialect.name
        with self._session() as s:
            if dialect in ("sqlite", "postgresql"):
                # A real upsert, so two processes setting the same new key cannot collide.
                if dialect == "sqlite":
                    from sqlalchemy.dialects.sqlite import insert
                else:
                    from sqlalchemy.dialects.postgresql import insert
                ins = insert(PreferenceRow).values(key=key, value=encoded, updated_at=utcnow())
                s.execute(
                    ins.on_conflict_do_update(
                        index_elements=[PreferenceRow.key],
                        set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
                    )
                )
            else:
                s.merge(PreferenceRow(key=key, value=encoded, updated_at=utcnow()))

    # --------------------------------------------------------------------------------- metric samples

    def add_metric_sample(self, **fields: Any) -> int:
        """Record one measurement; accepted keywords are the ``metric_samples`` columns except ``id``."""
        unknown = set(fields) - _METRIC_SETTABLE
        if unknown:
            raise TypeError(f"Unknown metric sample field(s): {', '.join(sorted(unknown))}")
        if fields.get("created_at") is None:
            fields["created_at"] = utcnow()
        row = MetricSampleRow(**fields)
        with self._session() as s:
            s.add(row)
            s.flush()
            return row.id

    def list_metric_samples(
        self, since: datetime | None = None, limit: int = 1000, *, kind: str | None = None
    ) -> list[MetricSample]:
        """The newest ``limit`` samples (optionally at or after ``since``), returned oldest first for plotting."""
        stmt = select(MetricSampleRow)
        if since is not None:
            stmt = stmt.where(MetricSampleRow.created_at >= since)
        if kind is not None:
            stmt = stmt.where(MetricSampleRow.kind == kind)
        stmt = stmt.order_by(MetricSampleRow.created_at.desc(), MetricSampleRow.id.desc()).limit(max(0, limit))
        with self._session() as s:
            rows = [_metric_sample(r) for r in s.scalars(stmt)]
        rows.reverse()
        return rows

    # --------------------------------------------------------------------------------- benchmark runs

    def add_benchmark_run(
        self,
        payload: dict[str, Any],
        *,
        name: str | None = None,
        baseline: bool = False,
        device: str | None = None,
    ) -> int:
        """Save a run. Saving a baseline under an existing baseline name replaces it (the old run stays as an
        ordinary run, so no measurement is lost). ``device`` defaults to ``payload["device"]``."""
        if baseline and not (name and name.strip()):
            raise ValueError("A baseline needs a name")
        name = name.strip() if name else None
        encoded = json.dumps(payload, ensure_ascii=False)
        if device is None and isinstance(payload.get("device"), str):
            device = payload["device"]
        row = BenchmarkRunRow(created_at=utcnow(), name=name, is_baseline=baseline, device=device, payload=encoded)
        if not baseline:
            with self._session() as s:
                s.add(row)
                s.flush()
                return row.id
        with self._baseline_lock, self._session() as s:
            # Demote first (same transaction), so the partial unique index never sees two baselines.
            s.execute(
                BenchmarkRunRow.__table__.update()
                .where(BenchmarkRunRow.name == name, BenchmarkRunRow.is_baseline.is_(True))
                .values(is_baseline=False)
            )
            s.add(row)
            s.flush()
            return row.id

    def get_baseline_run(self, name: str) -> BenchmarkRun | None:
        stmt = select(BenchmarkRunRow).where(
            BenchmarkRunRow.name == name.strip(), BenchmarkRunRow.is_baseline.is_(True)
        )
        with self._session() as s:
            row = s.scalars(stmt.order_by(BenchmarkRunRow.id.desc()).limit(1)).first()
            return _benchmark_run(row) if row is not None else None

    def get_baseline(self, name: str) -> dict[str, Any] | None:
        """The payload of the baseline saved under ``name``."""
        run = self.get_baseline_run(name)
        return run.payload if run is not None else None

    def list_baseline_names(self) -> list[str]:
        stmt = select(BenchmarkRunRow.name).where(BenchmarkRunRow.is_baseline.is_(True)).order_by(BenchmarkRunRow.name)
        with self._session() as s:
            return [n for n in s.scalars(stmt) if n]

    def list_benchmark_runs(self, limit: int = 20) -> list[BenchmarkRun]:
        """Newest first."""
        stmt = (
            select(BenchmarkRunRow)
            .order_by(BenchmarkRunRow.created_at.desc(), BenchmarkRunRow.id.desc())
            .limit(max(0, limit))
        )
        with self._session() as s:
            return [_benchmark_run(r) for r in s.scalars(stmt)]

    def delete_benchmark_run(self, run_id: int) -> bool:
        with self._session() as s:
            return bool(s.execute(delete(BenchmarkRunRow).where(BenchmarkRunRow.id == run_id)).rowcount)

    # ---------------------------------------------------------------------- NFE renders and A/B votes

    def get_nfe_render(self, key: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.scalars(select(NfeRenderRow).where(NfeRenderRow.key == key)).first()
            return _row_dict(row) if row is not None else None

    def get_nfe_render_by_id(self, render_id: int) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(NfeRenderRow, render_id)
            return _row_dict(row) if row is not None else None

    def add_nfe_render(self, **fields: Any) -> int:
        """Insert a render's metadata; a render already stored under the same key wins (its id is returned)."""
        from sqlalchemy.exc import IntegrityError

        try:
            with self._session() as s:
                row = NfeRenderRow(created_at=utcnow(), **fields)
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:
            existing = self.get_nfe_render(fields["key"])
            if existing is None:
                raise
            return int(existing["id"])

    def list_nfe_renders(self, group: str | None = None) -> list[dict[str, Any]]:
        stmt = select(NfeRenderRow).order_by(NfeRenderRow.id)
        if group is not None:
            stmt = stmt.where(NfeRenderRow.group_key == group)
        with self._session() as s:
            return [_row_dict(r) for r in s.scalars(stmt)]

    def add_ab_trial(self, **fields: Any) -> str:
        with self._session() as s:
            row = AbTrialRow(created_at=utcnow(), **fields)
            s.add(row)
            s.flush()
            return row.id

    def get_ab_trial(self, trial_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(AbTrialRow, str(trial_id))
            return _row_dict(row) if row is not None else None

    def open_ab_trial(self, reviewer: str) -> dict[str, Any] | None:
        """The reviewer's oldest trial that has no vote yet (so a reload gets the same trial back)."""
        voted = select(AbVoteRow.trial_id)
        stmt = (select(AbTrialRow).where(AbTrialRow.reviewer == reviewer, AbTrialRow.id.not_in(voted))
                .order_by(AbTrialRow.created_at, AbTrialRow.id).limit(1))
        with self._session() as s:
            row = s.scalars(stmt).first()
            return _row_dict(row) if row is not None else None

    def ab_pairs_seen(self, reviewer: str) -> set[tuple[int, int]]:
        """(lower render id, higher render id) pairs this reviewer has been given."""
        stmt = select(AbTrialRow.render_a_id, AbTrialRow.render_b_id).where(AbTrialRow.reviewer == reviewer)
        with self._session() as s:
            return {(min(a, b), max(a, b)) for a, b in s.execute(stmt)}

    def ab_pair_counts(self) -> dict[tuple[int, int], dict[str, int]]:
        """Per render pair (lower id, higher id): trials given, and how often the lower id was on side A."""
        stmt = select(AbTrialRow.render_a_id, AbTrialRow.render_b_id)
        out: dict[tuple[int, int], dict[str, int]] = {}
        with self._session() as s:
            for a, b in s.execute(stmt):
                c = out.setdefault((min(a, b), max(a, b)), {"trials": 0, "low_on_a": 0})
                c["trials"] += 1
                c["low_on_a"] += int(a < b)
        return out

    def add_ab_vote(self, **fields: Any) -> int:
        """Record a vote; raises ``ValueError`` when the trial already has one."""
        from sqlalchemy.exc import IntegrityError

        try:
            with self._session() as s:
                row = AbVoteRow(created_at=utcnow(), **fields)
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:
            raise ValueError("This trial has already been voted on.") from None

    def list_ab_votes(self) -> list[dict[str, Any]]:
        with self._session() as s:
            return [_row_dict(r) for r in s.scalars(select(AbVoteRow).order_by(AbVoteRow.id))]


def _row_dict(row: Any) -> dict[str, Any]:
    out = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat(timespec="seconds")
    return out


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
