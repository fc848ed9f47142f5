"""The studio database: synthesis history, preferences, metric samples and benchmark runs (NFE renders, A/B
trials and votes in `store_ab.py`).

SQLite (WAL mode) by default, or PostgreSQL for a team (`store_engine.py`), through the SQLAlchemy 2.x ORM.
Every public method opens its own short session, so one ``Store`` is safe to share between threads, and every
rule that must hold across studio processes (one vote per trial, one baseline per name, preference upserts) is
the database's own. Audio lives on disk; rows only hold paths relative to the samples folder.

Tables and typed records live in ``store_models.py``; Alembic (`migrate.py`) brings the schema up to date when a
Store opens.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import delete, func, select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ishowtts_studio.dbfile import check_database_file, create_database_file
from ishowtts_studio.migrate import upgrade_database
from ishowtts_studio.store_ab import NfeStudyQueries
from ishowtts_studio.store_engine import describe, is_sqlite_memory, make_engine, to_url, unreachable
from ishowtts_studio.store_models import (  # noqa: F401 - the records are part of the store's interface
    METRIC_SETTABLE,
    SYNTHESIS_FIELDS,
    AbTrial,
    AbTrialRow,
    AbVote,
    AbVoteRow,
    Base,
    BenchmarkRun,
    BenchmarkRunRow,
    MetricSample,
    MetricSampleRow,
    NfeRender,
    NfeRenderRow,
    PreferenceRow,
    SynthesisRecord,
    SynthesisRow,
    benchmark_run_record,
    load_json,
    metric_sample_record,
    synthesis_record,
    utcnow,
)

log = logging.getLogger(__name__)


class Store(NfeStudyQueries):
    """Thread-safe access to the studio database. Each method uses its own short transaction."""

    def __init__(self, url: str | Path) -> None:
        self.url: URL = to_url(url)
        sqlite = self.url.get_backend_name() == "sqlite"
        if sqlite and not is_sqlite_memory(self.url):
            # refuse a damaged file before SQLAlchemy touches it: an empty file would silently become a new database
            if not create_database_file(self.url.database or ""):
                check_database_file(self.url.database or "")
        self.engine: Engine = make_engine(self.url)
        try:
            upgrade_database(self.engine, describe(self.url))
        except OperationalError as exc:
            self.engine.dispose()
            if sqlite:
                raise
            raise unreachable(self.url, exc) from None
        except BaseException:
            self.engine.dispose()
            raise
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

    def _insert(self, row: Any, session: Session | None = None) -> Any:
        """Write one new row (in `session`, or a transaction of its own) and return its primary key."""
        if session is not None:
            session.add(row)
            session.flush()
            return row.id
        with self._session() as s:
            return self._insert(row, s)

    # ------------------------------------------------------------------------------ synthesis history

    def add_synthesis(self, rec: SynthesisRecord) -> int:
        """Write one history row and return its id (``rec.id`` is ignored; the database assigns it)."""
        values = {k: getattr(rec, k) for k in SYNTHESIS_FIELDS if k != "id"}
        if values["created_at"] is None:
            values["created_at"] = utcnow()
        return self._insert(SynthesisRow(**values))

    def list_syntheses(self, limit: int = 50, offset: int = 0, *, favourites_only: bool = False
                       ) -> list[SynthesisRecord]:
        """Newest first; only the starred takes when `favourites_only`."""
        stmt = select(SynthesisRow)
        if favourites_only:
            stmt = stmt.where(SynthesisRow.favourite.is_(True))
        stmt = (
            stmt.order_by(SynthesisRow.created_at.desc(), SynthesisRow.id.desc())
            .limit(max(0, limit))
            .offset(max(0, offset))
        )
        with self._session() as s:
            return [synthesis_record(r) for r in s.scalars(stmt)]

    def delete_synthesis(self, synthesis_id: int) -> SynthesisRecord | None:
        """Remove one history row; returns it (None when there was none)."""
        with self._session() as s:
            row = s.get(SynthesisRow, synthesis_id)
            if row is None:
                return None
            rec = synthesis_record(row)
            s.delete(row)
            return rec

    def set_favourite(self, history_id: int, on: bool) -> SynthesisRecord | None:
        """Star (or unstar) one take; returns it as it now is (None when there is no such take)."""
        with self._session() as s:
            row = s.get(SynthesisRow, history_id)
            if row is None:
                return None
            row.favourite = bool(on)
            s.flush()
            return synthesis_record(row)

    def get_synthesis(self, synthesis_id: int) -> SynthesisRecord | None:
        with self._session() as s:
            row = s.get(SynthesisRow, synthesis_id)
            return synthesis_record(row) if row is not None else None

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
            value = load_json(row.value, f"preference {key!r}")
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
        unknown = set(fields) - METRIC_SETTABLE
        if unknown:
            raise TypeError(f"Unknown metric sample field(s): {', '.join(sorted(unknown))}")
        if fields.get("created_at") is None:
            fields["created_at"] = utcnow()
        return self._insert(MetricSampleRow(**fields))

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
            rows = [metric_sample_record(r) for r in s.scalars(stmt)]
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
            return self._insert(row)
        with self._baseline_lock, self._session() as s:
            # Demote first (same transaction), so the partial unique index never sees two baselines.
            s.execute(
                BenchmarkRunRow.__table__.update()
                .where(BenchmarkRunRow.name == name, BenchmarkRunRow.is_baseline.is_(True))
                .values(is_baseline=False)
            )
            return self._insert(row, s)

    def get_baseline_run(self, name: str) -> BenchmarkRun | None:
        stmt = select(BenchmarkRunRow).where(
            BenchmarkRunRow.name == name.strip(), BenchmarkRunRow.is_baseline.is_(True)
        )
        with self._session() as s:
            row = s.scalars(stmt.order_by(BenchmarkRunRow.id.desc()).limit(1)).first()
            return benchmark_run_record(row) if row is not None else None

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
            return [benchmark_run_record(r) for r in s.scalars(stmt)]

    def delete_benchmark_run(self, run_id: int) -> bool:
        with self._session() as s:
            return bool(s.execute(delete(BenchmarkRunRow).where(BenchmarkRunRow.id == run_id)).rowcount)
