"""`python -m ishowtts_studio db {check,backup,restore} [FILE] [--config PATH]`: the database's maintenance.

    db check            is the studio database sound (SQLite integrity_check)?
    db backup FILE      consistent copy of the database (works while the studio runs); never overwrites FILE
    db restore FILE     put a backup in place (stop the studio first); the replaced file is kept beside it

The database is the one the studio would use: `paths.database` from --config, else $ISHOWTTS_CONFIG, else
config.toml beside app.py (when present), else the default samples/studio.db (`settings.default_config_path`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ishowtts_studio.dbfile import DatabaseDamaged, backup_database, check_database_file, restore_database


def _database_path(config: str | None) -> Path:
    from sqlalchemy.engine import make_url

    from ishowtts_studio.settings import default_config_path, load_settings

    url = load_settings(default_config_path(config)).paths.database_url
    if "://" not in str(url):
        return Path(url)
    parsed = make_url(str(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise SystemExit("Backup and restore here are for SQLite files; back up other databases with their own "
                         "tools (e.g. pg_dump).")
    return Path(parsed.database)


def build_parser(db: argparse.ArgumentParser) -> argparse.ArgumentParser:
    db.add_argument("action", choices=("check", "backup", "restore"))
    db.add_argument("file", nargs="?", help="the backup file (backup: a new file; restore: an existing backup)")
    db.add_argument("--config", metavar="PATH",
                    help="settings file whose paths.database is meant (default: $ISHOWTTS_CONFIG, else config.toml "
                    "beside app.py if present, else the built-in defaults)")
    return db


def main_with(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ishowtts_studio.settings import ConfigError

    try:
        target = _database_path(args.config)
        if args.action == "check":
            check_database_file(target, full=True)
            print(f"{target}: {'sound' if target.exists() else 'does not exist yet (a new studio)'}")
        elif not args.file:
            parser.error(f"db {args.action} needs a FILE")
        elif args.action == "backup":
            out = backup_database(target, Path(args.file))
            print(f"Backed up {target} to {out} (verified).")
        else:
            kept = restore_database(Path(args.file), target)
            print(f"Restored {target} from {args.file}."
                  + (f" The replaced file is kept as {kept}." if kept else ""))
    except (ConfigError, DatabaseDamaged, FileNotFoundError, FileExistsError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0
