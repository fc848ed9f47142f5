"""The store's NFE-study tables: renders at each NFE, blind A/B trials and their votes.

A mixin of `Store` (which provides `_session` and `_insert`), kept apart so each file stays small. One vote per
trial is the database's own rule (a unique trial id), so it holds across studio processes sharing a database.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ishowtts_studio.store_models import (
    AbTrial,
    AbTrialRow,
    AbVote,
    AbVoteRow,
    NfeRender,
    NfeRenderRow,
    record_of,
    utcnow,
)


class NfeStudyQueries:
    """NFE renders, A/B trials and votes (mixed into `Store`, whose short transactions these use)."""

    _session: Callable[[], AbstractContextManager[Session]]
    _insert: Callable[..., Any]

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
        try:
            return self._insert(AbVoteRow(created_at=utcnow(), **fields))
        except IntegrityError:
            raise ValueError("This trial has already been voted on.") from None

    def list_ab_votes(self) -> list[AbVote]:
        with self._session() as s:
            return [record_of(AbVote, r) for r in s.scalars(select(AbVoteRow).order_by(AbVoteRow.id))]

