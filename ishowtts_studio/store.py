"""The studio database: synthesis history, preferences, metric samples and benchmark runs.

SQLite (WAL mode) by default, through the SQLAlchemy 2.x ORM so a PostgreSQL URL works as well.
Every public method opens its own short session, so one ``Store`` is safe to share between threads.
Audio lives on disk; rows only hold paths relative to the samples folder.

Tables and typed records live in ``store_models.py``; ``create_all`` runs when a Store opens.
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

from sqlalchemy import (
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from ishowtts_studio.dbfile import check_database_file
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
    record_of,
    synthesis_record,
    utcnow,
)

log = logging.getLogger(__name__)



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


def add_missing_columns(engine: Engine, metadata: Any) -> list[str]:
    """Add columns declared on the models but missing from an existing database (``create_all`` only creates
    whole tables). Only additive changes, each a column with a server default or nullable, so old rows stay
    valid; returns "table.column" for each column added."""
    from sqlalchemy import inspect, text

    inspector = inspect(engine)
    existing_tables = set(inspector.get_table_names())
    added = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name not in existing_tables:
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable and column.server_default is None:
                    raise RuntimeError(f"cannot add {table.name}.{column.name} to an existing database: it needs a "
                                       "server default or must be nullable")
                preparer = engine.dialect.identifier_preparer
                ddl = (f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} "
                       f"{column.type.compile(engine.dialect)}")
                if column.server_default is not None:
                    default = column.server_default.arg
                    quoted = "'" + default.replace("'", "''") + "'" if isinstance(default, str) else str(default)
                    ddl += f" DEFAULT {quoted}"
                    if not column.nullable:
                        ddl += " NOT NULL"
                conn.execute(text(ddl))
                added.append(f"{table.name}.{column.name}")
        for table in metadata.sorted_tables:  # indexes of the new columns (create_all skipped existing tables)
            for index in table.indexes:
                if any(f"{table.name}.{c.name}" in added for c in index.columns):
                    index.create(conn, checkfirst=True)
    if added:
        log.info("database upgraded: added %s", ", ".join(added))
    return added


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
    def _sqlite_pragmas(dbapi_conn: Any, record_of: Any) -> None:
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
        if self.url.get_backend_name() == "sqlite" and not _is_sqlite_memory(self.url):
            # refuse a damaged file before SQLAlchemy touches it: an empty file would silently become a new database
            check_database_file(self.url.database or "")
        self.engine: Engine = _make_engine(self.url)
        Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine, Base.metadata)
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

    # ---------------------------------------------------------------------- NFE renders and A/B votes

    def get_nfe_render(self, key: str) -> NfeRender | None:
        with self._session() as s:
            row = s.scalars(select(NfeRenderRow).where(NfeRenderRow.key == key)).first()
            return record_of(NfeRender, row) if row is not None else None

    def get_nfe_render_by_id(self, render_id: int) -> NfeRender | None:
        with self._session() as s:
            row = s.get(NfeRenderRow, render_id)
            return record_of(NfeRender, row) if row is not None else None

    def add_nfe_render(self, **fields: Any) -> int:
        """Insert a render's metadata; a render already stored under the same key wins (its id is returned)."""
        from sqlalchemy.exc import IntegrityError

        try:
            return self._insert(NfeRenderRow(created_at=utcnow(), **fields))
        except IntegrityError:
            existing = self.get_nfe_render(fields["key"])
            if existing is None:
                raise
            return existing.id

    def list_nfe_renders(self, group: str | None = None) -> list[NfeRender]:
        stmt = select(NfeRenderRow).order_by(NfeRenderRow.id)
        if group is not None:
            stmt = stmt.where(NfeRenderRow.group_key == group)
        with self._session() as s:
            return [record_of(NfeRender, r) for r in s.scalars(stmt)]

    def add_ab_trial(self, **fields: Any) -> str:
        return self._insert(AbTrialRow(created_at=utcnow(), **fields))

    def get_ab_trial(self, trial_id: str) -> AbTrial | None:
        with self._session() as s:
            row = s.get(AbTrialRow, str(trial_id))
            return record_of(AbTrial, row) if row is not None else None

    def open_ab_trial(self, reviewer: str) -> AbTrial | None:
        """The reviewer's oldest trial that has no vote yet and was not skipped (so a reload gets the same trial
        back)."""
        voted = select(AbVoteRow.trial_id)
        stmt = (select(AbTrialRow).where(AbTrialRow.reviewer == reviewer, AbTrialRow.id.not_in(voted),
                                         AbTrialRow.skipped_at.is_(None))
                .order_by(AbTrialRow.created_at, AbTrialRow.id).limit(1))
        with self._session() as s:
            row = s.scalars(stmt).first()
            return record_of(AbTrial, row) if row is not None else None

    def skip_ab_trial(self, trial_id: str) -> bool:
        """Mark an unvoted trial skipped; False when it has a vote already (a skip never undoes a vote)."""
        with self._session() as s:
            row = s.get(AbTrialRow, str(trial_id))
            if row is None:
                return False
            if s.scalar(select(func.count()).select_from(AbVoteRow).where(AbVoteRow.trial_id == row.id)):
                return False
            if row.skipped_at is None:
                row.skipped_at = utcnow()
            return True

    def ab_pairs_seen(self, reviewer: str) -> set[tuple[int, int]]:
        """(lower render id, higher render id) pairs this reviewer has been given."""
        stmt = select(AbTrialRow.render_a_id, AbTrialRow.render_b_id).where(AbTrialRow.reviewer == reviewer)
        with self._session() as s:
            return {(min(a, b), max(a, b)) for a, b in s.execute(stmt)}

    def ab_pairs_skipped(self, reviewer: str) -> set[tuple[int, int]]:
        """(lower render id, higher render id) pairs this reviewer skipped: never offered to them again."""
        stmt = select(AbTrialRow.render_a_id, AbTrialRow.render_b_id).where(
            AbTrialRow.reviewer == reviewer, AbTrialRow.skipped_at.is_not(None))
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
            return self._insert(AbVoteRow(created_at=utcnow(), **fields))
        except IntegrityError:
            raise ValueError("This trial has already been voted on.") from None

    def list_ab_votes(self) -> list[AbVote]:
        with self._session() as s:
            return [record_of(AbVote, r) for r in s.scalars(select(AbVoteRow).order_by(AbVoteRow.id))]

