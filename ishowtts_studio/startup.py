"""Checks that run before the studio starts serving: refuse a start that would expose it, explain why and how
to fix it. Each returns a message (or None); app.py prints it and exits without a traceback."""

from __future__ import annotations

import ipaddress

from ishowtts_studio.settings import ServerSettings

__all__ = ["exposure_problem", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True when `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name or an interface name: it may resolve to anything
        return False


def exposure_problem(server: ServerSettings) -> str | None:
    """Why the studio must not start with these server settings, or None.

    Listening beyond this machine without login hands the GPU, the cloned voices, the history and the votes to
    anyone on the network, so it is refused unless asked for explicitly (server.allow_no_login)."""
    if is_loopback(server.host) or server.auth_enabled or server.allow_no_login:
        return None
    return (
        f"Refusing to start: server.host = {server.host!r} listens beyond this machine, and login is off, so "
        "anyone who can reach it could use the studio and read its history, voices and votes.\n"
        "Fix it one of these ways:\n"
        "  - set server.auth_user and server.auth_password in config.toml (login), or\n"
        "  - listen on this machine only: server.host = \"127.0.0.1\" (or --host 127.0.0.1), or\n"
        "  - if the network is yours alone and you accept the risk: server.allow_no_login = true, "
        "or --allow-no-login for one run."
    )
