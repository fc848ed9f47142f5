"""Alembic's environment for the studio: always run with a connection handed in by `ishowtts_studio.migrate`
(programmatic use), or with `-x url=...` from the alembic command line (`alembic.ini` at the repository root)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config


def _run(connection: object) -> None:
    # target_metadata stays None: each revision states its own schema change; a test compares the result with
    # the models (tests/unit/test_migrations.py), so the two cannot drift apart unnoticed
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("Name the database: alembic -x url=sqlite:///samples/studio.db upgrade head")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
