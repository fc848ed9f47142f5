"""`python -m ishowtts_studio COMMAND`: command-line tools around the studio (the web app is `app.py`).

    say     speak a text in a voice of the library and write the audio (see ishowtts_studio/say.py)
    db      check, back up or restore the studio database (see ishowtts_studio/dbcli.py)
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from ishowtts_studio import dbcli, say

    parser = argparse.ArgumentParser(prog="python -m ishowtts_studio",
                                     description="iShowTTS Studio command-line tools (the web studio is app.py).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    say.build_parser(commands.add_parser("say", help="speak a text in a voice and write the audio"))
    db = dbcli.build_parser(commands.add_parser("db", help="check, back up or restore the studio database"))
    args = parser.parse_args(argv)
    if args.command == "say":
        return say.main_with(args)
    if args.command == "db":
        return dbcli.main_with(args, db)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
