"""The schema of the last release before Alembic (commit 9492ccd): every table the studio had then.

On an empty database this creates everything. On a database made before Alembic existed (no alembic_version
table) it only fills what is missing, so such a database ends exactly at this revision with every row kept:
the tables a release without some feature never made (e.g. chat), and the two `origin` columns that releases
before them lacked (rows from then all came from the page, hence the server default "ui").

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# (index name, columns, unique); created with their table, or added when a pre-Alembic table lacks them
Index = tuple[str, list[str], bool]


def _ensure(name: str, columns: Sequence[sa.Column], indexes: Sequence[Index] = (), *extra: sa.SchemaItem,
            late_columns: Sequence[str] = ()) -> None:
    """Create table `name`, or on a pre-Alembic database add the `late_columns` and indexes it lacks."""
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(name):
        op.create_table(name, *columns, *extra)
    else:
        have = {c["name"] for c in inspector.get_columns(name)}
        for column in columns:
            if column.name not in have:
                if column.name not in late_columns:  # anything else missing is not a studio database we know
                    raise RuntimeError(f"table {name} has no column {column.name}; it was not made by the studio")
                op.add_column(name, column)  # not yet bound to a table: create_table was skipped
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(name)}
    for ix_name, cols, unique in indexes:
        if ix_name not in existing:
            op.create_index(ix_name, name, cols, unique=unique)


def upgrade() -> None:
    _ensure("syntheses", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("voice_name", sa.String(200), nullable=False),
        sa.Column("voice_slug", sa.String(100), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("nfe", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=True),
        sa.Column("speed", sa.Float, nullable=False),
        sa.Column("cfg_strength", sa.Float, nullable=False),
        sa.Column("audio_path", sa.String(500), nullable=False),
        sa.Column("audio_seconds", sa.Float, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("ttfa_s", sa.Float, nullable=True),
        sa.Column("rtf", sa.Float, nullable=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("smoke", sa.Boolean, nullable=False),
        sa.Column("origin", sa.String(32), server_default="ui", nullable=False),
    ], [("ix_syntheses_created_at", ["created_at"], False), ("ix_syntheses_voice_slug", ["voice_slug"], False),
        ("ix_syntheses_origin", ["origin"], False)], late_columns=["origin"])

    _ensure("preferences", [
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    ])

    _ensure("metric_samples", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(64), nullable=True),
        sa.Column("voice_slug", sa.String(100), nullable=True),
        sa.Column("nfe", sa.Integer, nullable=True),
        sa.Column("batch_size", sa.Integer, nullable=True),
        sa.Column("text_chars", sa.Integer, nullable=True),
        sa.Column("queue_wait_s", sa.Float, nullable=True),
        sa.Column("latency_s", sa.Float, nullable=True),
        sa.Column("ttfa_s", sa.Float, nullable=True),
        sa.Column("audio_seconds", sa.Float, nullable=True),
        sa.Column("rtf", sa.Float, nullable=True),
        sa.Column("origin", sa.String(32), nullable=True),
    ], [("ix_metric_samples_created_at", ["created_at"], False), ("ix_metric_samples_kind", ["kind"], False)],
        late_columns=["origin"])

    _ensure("benchmark_runs", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("is_baseline", sa.Boolean, nullable=False),
        sa.Column("device", sa.String(200), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
    ], [("ix_benchmark_runs_created_at", ["created_at"], False)])
    dialect = op.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):  # a baseline name is unique: a partial index (these two have them)
        if "uq_benchmark_baseline_name" not in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(
                "benchmark_runs")}:
            where = sa.column("is_baseline", sa.Boolean).is_(sa.true())
            op.create_index("uq_benchmark_baseline_name", "benchmark_runs", ["name"], unique=True,
                            **{f"{dialect}_where": where})

    _ensure("nfe_renders", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("voice_slug", sa.String(100), nullable=False),
        sa.Column("voice_hash", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("nfe", sa.Integer, nullable=False),
        sa.Column("reference_nfe", sa.Integer, nullable=False),
        sa.Column("speed", sa.Float, nullable=False),
        sa.Column("cfg_strength", sa.Float, nullable=False),
        sa.Column("sway_coef", sa.Float, nullable=False),
        sa.Column("duration_frames", sa.Text, nullable=False),
        sa.Column("audio_path", sa.String(500), nullable=False),
        sa.Column("clip_path", sa.String(500), nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        sa.Column("audio_seconds", sa.Float, nullable=False),
        sa.Column("latency_s", sa.Float, nullable=True),
        sa.Column("rtf", sa.Float, nullable=True),
        sa.Column("pesq_wb", sa.Float, nullable=True),
        sa.Column("stoi", sa.Float, nullable=True),
        sa.Column("estoi", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("smoke", sa.Boolean, nullable=False),
    ], [("ix_nfe_renders_group_key", ["group_key"], False)])

    _ensure("ab_trials", [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("render_a_id", sa.Integer, nullable=False),
        sa.Column("render_b_id", sa.Integer, nullable=False),
        sa.Column("nfe_a", sa.Integer, nullable=False),
        sa.Column("nfe_b", sa.Integer, nullable=False),
        sa.Column("clip_a", sa.String(500), nullable=False),
        sa.Column("clip_b", sa.String(500), nullable=False),
    ], [("ix_ab_trials_reviewer", ["reviewer"], False)])

    _ensure("ab_votes", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("trial_id", sa.String(64), nullable=False, unique=True),  # one vote per trial
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("nfe_a", sa.Integer, nullable=False),
        sa.Column("nfe_b", sa.Integer, nullable=False),
        sa.Column("reference_nfe", sa.Integer, nullable=False),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
    ], [("ix_ab_votes_reviewer", ["reviewer"], False)])

    _ensure("chat_messages", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("arrived_at", sa.Float, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("clean_text", sa.Text, nullable=False),
        sa.Column("spoken_text", sa.Text, nullable=False),
        sa.Column("voice", sa.String(200), nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("first_audio_at", sa.Float, nullable=True),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("extra", sa.Text, nullable=False),
    ], [("ix_chat_messages_arrived_at", ["arrived_at"], False), ("ix_chat_messages_state", ["state"], False)])

    _ensure("chat_viewer_voices", [
        sa.Column("author_key", sa.String(200), primary_key=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("voice", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    ])


def downgrade() -> None:
    for name in ("chat_viewer_voices", "chat_messages", "ab_votes", "ab_trials", "nfe_renders", "benchmark_runs",
                 "metric_samples", "preferences", "syntheses"):
        op.drop_table(name)
