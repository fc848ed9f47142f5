"""[serve] section: Ray Serve engine replicas (the optional extra requirements-ray.txt; docs/scaling.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ishowtts_studio.settings.checks import non_empty
from ishowtts_studio.settings.fields import Section, opt


@dataclass(frozen=True)
class ServeSettings(Section):
    """Ray Serve (issue 16, optional extra requirements-ray.txt): engine replicas on a Ray cluster instead of the
    engine in the studio's own process. `python -m ishowtts_studio.serve` deploys them; docs/scaling.md."""

    toml_section: ClassVar[str] = "serve"

    address: str = opt(
        "", "Ray cluster whose Serve replicas run the engine for this studio: \"auto\" (a cluster this machine is "
        "part of, started with ray start) or HOST:6379. Empty = the engine runs in the studio's own process.",
    )
    app_name: str = opt("ishowtts", "Name of the Ray Serve application that holds the engine replicas.",
                        check=non_empty)
    replicas: int = opt(1, "Engine replicas the deployment starts with (its fixed count without autoscaling).",
                        lo=1, hi=1024)
    max_replicas: int = opt(
        0, "Autoscaling ceiling: above replicas, Serve adds replicas while each has more than "
        "target_ongoing_requests requests and removes them again down to replicas. 0 = fixed count.", lo=0, hi=1024,
    )
    target_ongoing_requests: float = opt(
        4.0, "Requests per replica (queued or in a batch) that autoscaling aims for.", lo=0.1, hi=1000.0
    )
    gpus_per_replica: float = opt(
        1.0, "GPUs Ray reserves for each replica: 1 = one replica per GPU, 0.5 = two per GPU, 0 = CPU replicas.",
        lo=0.0, hi=8.0,
    )
    cpus_per_replica: float = opt(1.0, "CPU cores Ray reserves for each replica.", lo=0.0, hi=256.0)
    stall_timeout_s: float = opt(
        60.0, "A request fails (or is retried) when no audio arrives from its replica for this long: a replica that "
        "died or hangs never leaves a client waiting.", lo=0.1, hi=3600.0,
    )
    request_timeout_s: float = opt(600.0, "Longest a request may take from submit to its last audio.", lo=1.0,
                                   hi=86400.0)
    retries: int = opt(
        1, "Times a request whose replica stopped before sending any audio is sent again (to another replica).",
        lo=0, hi=10,
    )
