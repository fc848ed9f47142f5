"""A reviewer can skip an A/B trial: ab_trials.skipped_at (empty for every existing trial).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ab_trials", sa.Column("skipped_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ab_trials") as batch:  # SQLite rebuilds the table; PostgreSQL drops the column
        batch.drop_column("skipped_at")
