"""History entries can be marked as favourites: syntheses.favourite (false for every existing row).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a server default, so the rows already there get false and the NOT NULL holds at once
    op.add_column("syntheses", sa.Column("favourite", sa.Boolean, server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("syntheses") as batch:  # SQLite rebuilds the table; PostgreSQL drops the column
        batch.drop_column("favourite")
