"""The Serve application: the `EngineReplica` deployment with its scaling and resources taken from `[serve]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ishowtts_studio.serve.replica import EngineReplica
from ishowtts_studio.settings import Settings

DEPLOYMENT = "EngineReplica"
REPO = Path(__file__).resolve().parents[2]  # the checkout holding ishowtts_studio; the same path on every node


def deployment_options(settings: Settings) -> dict[str, Any]:
    """`serve.deployment` options: a fixed replica count, or autoscaling between replicas and max_replicas."""
    sv, eng = settings.serve, settings.engine
    options: dict[str, Any] = {
        "name": DEPLOYMENT,
        # the runtime's own bounded queue (queue_size) refuses what it cannot hold with BusyError; Serve may
        # hand a replica that many plus a full batch, and keeps the rest waiting at the caller's router
        "max_ongoing_requests": eng.queue_size + eng.max_batch,
        "ray_actor_options": {
            "num_gpus": sv.gpus_per_replica, "num_cpus": sv.cpus_per_replica,
            # the replica imports ishowtts_studio from the checkout it was deployed from
            "runtime_env": {"env_vars": {"PYTHONPATH": str(REPO)}},
        },
        "health_check_period_s": 5.0,
        "health_check_timeout_s": 30.0,
        # loading the model (and warm-up) is the constructor: leave it time before Serve gives up on a replica
        "graceful_shutdown_timeout_s": 10.0,
    }
    if sv.max_replicas > sv.replicas:
        options["autoscaling_config"] = {
            "min_replicas": sv.replicas, "initial_replicas": sv.replicas, "max_replicas": sv.max_replicas,
            "target_ongoing_requests": sv.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = sv.replicas
    return options


def build_app(settings: Settings) -> Any:
    """The bound application `serve.run` deploys. Every replica gets these settings, paths included, so weights,
    the model cache and voices must be at those paths on every node (docs/scaling.md)."""
    from ray import serve

    if settings.smoke:  # write the tiny random checkpoint once here, not from every replica at the same time
        from ishowtts_studio.engines.smoke import ensure_random_weights

        ensure_random_weights(settings.paths.cache, "smoke", settings.f5.model)
    deployment = serve.deployment(EngineReplica, **deployment_options(settings))
    return deployment.bind(engine_only(settings))


def engine_only(settings: Settings) -> Settings:
    """What a replica needs of the settings; the rest (login, API key, chat tokens) never leaves the studio."""
    return Settings(engine=settings.engine, f5=settings.f5, indextts=settings.indextts, paths=settings.paths,
                    voices=settings.voices, serve=settings.serve, smoke=settings.smoke)
