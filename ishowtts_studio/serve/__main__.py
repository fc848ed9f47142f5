"""`python -m ishowtts_studio.serve`: deploy the engine replicas on a Ray cluster and keep them running.

    ray start --head                                   # once per cluster (ray start --address=HEAD:6379 on workers)
    python -m ishowtts_studio.serve --config config.toml --address auto
    # then in the studio's config.toml:  [serve] address = "auto"   and start the studio as usual

Without --address a local Ray instance starts inside this command and lives as long as it does (for one machine:
a studio on the same machine then connects with serve.address = "auto"). The replica count, autoscaling and GPUs
per replica come from [serve] in the config file; the flags below override them for one run. Ctrl-C (or SIGTERM)
takes the application down again unless --detach was given.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from ishowtts_studio.settings import ConfigError, default_config_path, load_settings

log = logging.getLogger("ishowtts_studio.serve")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ishowtts_studio.serve",
                                description="Deploy iShowTTS engine replicas with Ray Serve (docs/scaling.md).")
    p.add_argument("--config", default=None, metavar="PATH",
                   help="settings file (default: $ISHOWTTS_CONFIG, else config.toml beside app.py if present, "
                   "else the built-in defaults)")
    p.add_argument("--smoke", action="store_true", help="tiny random model on the CPU, for tests and trials")
    p.add_argument("--address", default=None,
                   help='Ray cluster to deploy on ("auto" = the one this machine joined); default: a local instance')
    p.add_argument("--replicas", type=int, default=None, help="serve.replicas for this run")
    p.add_argument("--max-replicas", type=int, default=None, help="serve.max_replicas (autoscaling) for this run")
    p.add_argument("--gpus-per-replica", type=float, default=None, help="serve.gpus_per_replica for this run")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (without --address)")
    p.add_argument("--detach", action="store_true", help="leave the application running on the cluster and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, object] = {}
    for key, value in (("serve.replicas", args.replicas), ("serve.max_replicas", args.max_replicas),
                       ("serve.gpus_per_replica", args.gpus_per_replica)):
        if value is not None:
            overrides[key] = value
    if args.smoke and args.gpus_per_replica is None:
        overrides["serve.gpus_per_replica"] = 0.0  # the smoke model runs on the CPU
        overrides["engine.device"] = "cpu"
    try:
        settings = load_settings(default_config_path(args.config), overrides=overrides, smoke=args.smoke)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    try:
        import ray
        from ray import serve
    except ImportError:
        print("Ray Serve is not installed: run .venv/bin/pip install -r requirements-ray.txt "
              "(or bash install.sh --with-ray)", file=sys.stderr)
        return 2
    from ishowtts_studio.serve.app import build_app

    if args.detach and args.address is None:
        print("--detach needs --address: a local Ray instance ends with this command", file=sys.stderr)
        return 2
    ray.init(address=args.address, num_cpus=args.num_cpus if args.address is None else None,
             namespace="ishowtts", include_dashboard=False)
    # no HTTP proxy: the studio is the ingress and reaches the replicas through deployment handles
    serve.start(proxy_location="Disabled")
    sv = settings.serve
    log.info("deploying %s: %d replica(s)%s, %g GPU(s) each", sv.app_name, sv.replicas,
             f" (autoscaling up to {sv.max_replicas})" if sv.max_replicas > sv.replicas else "", sv.gpus_per_replica)
    serve.run(build_app(settings), name=sv.app_name, route_prefix=None, blocking=False)
    report(serve.status().applications.get(sv.app_name))
    if args.detach:
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f'Engine replicas running. Studios connect with [serve] address = "auto" on this machine '
          f'(app {sv.app_name}). Ctrl-C stops them.', flush=True)
    while not stop.wait(30):
        report(serve.status().applications.get(sv.app_name))
    serve.delete(sv.app_name)
    serve.shutdown()
    ray.shutdown()
    return 0


def report(app: Any) -> None:
    if app is None:
        log.warning("the application is not deployed")
        return
    for name, dep in app.deployments.items():
        counts = {str(state.value if hasattr(state, "value") else state): n
                  for state, n in dep.replica_states.items()}
        log.info("%s: %s %s (%s)", name, dep.status, counts, time.strftime("%H:%M:%S"))


if __name__ == "__main__":
    sys.exit(main())
