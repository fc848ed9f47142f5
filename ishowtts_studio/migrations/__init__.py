"""Alembic migrations of the studio database; `ishowtts_studio.migrate` runs them when a Store opens."""
