#!/usr/bin/env python3
"""iShowTTS Studio: command line entry point.

    python app.py [--config PATH] [--host HOST] [--port PORT] [--allow-no-login] [--smoke] [--log-level LEVEL]

Settings come from --config, else $ISHOWTTS_CONFIG, else config.toml next to this file (when
present), else the built-in defaults. The engine loads in the background: the page comes up at
once and shows the loading progress.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")

log = logging.getLogger("ishowtts_studio.app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description="iShowTTS Studio: on-device zero-shot voice cloning.")
    parser.add_argument(
        "--config", metavar="PATH",
        help="settings file (TOML); default: $ISHOWTTS_CONFIG, else config.toml next to app.py if present, "
        "else the built-in defaults",
    )
    parser.add_argument("--host", help="interface to bind (overrides server.host), e.g. 127.0.0.1 or 0.0.0.0")
    parser.add_argument("--port", type=int, help="TCP port (overrides server.port)")
    parser.add_argument(
        "--allow-no-login", action="store_true",
        help="start even though --host listens beyond this machine and login is off (sets server.allow_no_login)",
    )
    parser.add_argument(
        "--smoke", action="store_true",
        help="use a tiny randomly initialised model (no downloads; the audio is noise) for tests and demos",
    )
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS, type=str.lower, help="default: info")
    return parser.parse_args(argv)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True
    )
    # Before gradio is imported: no usage analytics, no telemetry.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

    from ishowtts_studio.settings import ConfigError, default_config_path, load_settings

    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["server.host"] = args.host
    if args.port is not None:
        overrides["server.port"] = args.port
    if args.allow_no_login:
        overrides["server.allow_no_login"] = True
    try:
        settings = load_settings(default_config_path(args.config), overrides=overrides, smoke=args.smoke)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2

    from ishowtts_studio.startup import exposure_problem

    server = settings.server
    problem = exposure_problem(server)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if server.allow_no_login and not server.auth_enabled:
        log.warning("listening on %s without a login (server.allow_no_login): anyone who can reach this machine "
                    "can use the studio", server.host)

    from ishowtts_studio.api import mount_api
    from ishowtts_studio.api.chat import mount_chat_routes
    from ishowtts_studio.dbfile import DatabaseUnusable
    from ishowtts_studio.studio import Studio
    from ishowtts_studio.ui import build_ui, launch_options, server_options
    from ishowtts_studio.ui.chat import gradio_session_user
    from ishowtts_studio.ui.performance import mount_prometheus

    try:
        studio = Studio(settings)
    except DatabaseUnusable as exc:  # damaged, too new or unreachable: kept untouched; the message says what to do
        print(str(exc), file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a folder in [paths] that cannot be created or written
        print(f"Cannot set up the studio's folders: {exc}", file=sys.stderr)
        return 2
    from ishowtts_studio.recovery import recover

    paths = settings.paths  # before serving: what a crashed run left behind (temp files, audio without a row)
    recover(voices=paths.voices, samples=paths.samples, cache=paths.cache, store=studio.store)
    studio.start()  # the engine loads on its own thread; the page shows the progress
    try:
        demo = build_ui(studio)
        # bounded: when this many requests already wait, the next one is told "busy" at once
        demo.queue(max_size=settings.engine.queue_size)
        try:
            server_app, local_url, _ = demo.launch(
                server_name=server.host,
                server_port=server.port,
                auth=server.auth,
                share=False,
                prevent_thread_lock=True,
                quiet=True,
                ssr_mode=False,
                **launch_options(),
                **server_options(settings),
            )
        except OSError as exc:
            print(
                f"Cannot start the web server on {server.host}:{server.port}: {exc}\n"
                "Pick another port with --port or server.port in config.toml.",
                file=sys.stderr,
            )
            return 1
        # after launch: launch() builds the FastAPI app anew; login does not cover added routes, so pass it
        mount_prometheus(server_app, studio.metrics, basic_auth=server.auth)
        api_auth = mount_api(server_app, studio)  # /v1/...: the OpenAI-compatible speech API (its own API key)
        if settings.api.enabled and api_auth.locked:
            log.warning("%s", api_auth.describe())
        # /overlay, /chat/events, /chat/audio/...: the live chat players (the page's login or basic auth)
        chat_routes = mount_chat_routes(server_app, studio.chat, basic_auth=server.auth,
                                        session_user=gradio_session_user(server_app))
        where = local_url.rstrip("/") if local_url else f"http://{server.host}:{server.port}"
        print(f"iShowTTS Studio is running at {where}  (Ctrl+C to stop)", flush=True)
        if settings.smoke:
            print("Smoke mode: a tiny randomly initialised model; the audio is noise.", flush=True)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        demo.block_thread()
        log.info("stopping the web server")
        chat_routes.close()  # ends open /chat/events streams, so the server can stop at once
        demo.close()
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping the engine")
        studio.close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
