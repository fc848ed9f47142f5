"""Which devices the engine runs on, and which device's worker takes the next request. Pure functions: no torch
at import, no threads, so the policy has unit tests of its own.

A request goes to the worker with the least queued audio: the seconds of audio its requests still have to
produce. A worker that has accepted a request knows that request's length from the engine's duration rule; one
still waiting in the queue is estimated from its text (speech runs at about 14 characters a second)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

# seconds of speech per UTF-8 byte of text: ~14 letters a second in English; a Chinese character is 3 bytes and
# ~0.2 s, as in F5-TTS's duration rule (which counts bytes). Only used to compare workers' queues, so its scale
# matters less than being the same for every request
SECONDS_PER_BYTE = 0.07


def parse_devices(spec: str, single: str, cuda_count: Callable[[], int]) -> list[str]:
    """The devices `engine.devices` names: "" = the one `engine.device` (today's single worker), "all" = every
    CUDA GPU PyTorch sees (`cuda_count()`; the single device when there is none), else a comma list."""
    spec = spec.strip()
    if not spec:
        return [single]
    if spec == "all":
        n = cuda_count()
        return [f"cuda:{i}" for i in range(n)] if n > 0 else [single]
    return [part.strip() for part in spec.split(",") if part.strip()]


def check_devices(spec: str) -> str | None:
    """A settings check: None when `spec` is "", "all" or a comma list of cpu / cuda / cuda:N, else the problem."""
    if not spec.strip() or spec.strip() == "all":
        return None
    for part in spec.split(","):
        name = part.strip()
        if name in ("cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()):
            continue
        return (f"has {name!r}, which is not a device: use \"all\" or a comma-separated list such as "
                "\"cuda:0,cuda:1\" (cpu and cuda are allowed too)")
    return None


def device_labels(devices: Sequence[str]) -> list[str]:
    """One distinct name per worker, for metrics and /health: the device itself, or `device#i` when the same
    device runs more than one worker (two CPU workers in tests)."""
    return [d if list(devices).count(d) == 1 else f"{d}#{i}" for i, d in enumerate(devices)]


def queued_audio_s(pending: Sequence[tuple[float, float, int]]) -> float:
    """Seconds of audio a worker still has to produce, on one scale for every request: its text's UTF-8 bytes x
    SECONDS_PER_BYTE, times the share not yet produced. `pending` holds one (estimated_audio_s, produced_s,
    UTF-8 bytes of text) per unfinished request; estimated_audio_s is 0 until the worker has accepted it.

    One scale matters: a burst arrives before any worker has produced anything, and mixing the engine's estimate
    (accepted requests) with a text-length guess (waiting ones) made the worker that had accepted more look
    heavier than it was (two H200s, a burst of 96 lines: 35 / 61 lines)."""
    total = 0.0
    for estimated, produced, text_bytes in pending:
        left = 1.0 if estimated <= 0 else max(0.0, 1.0 - produced / estimated)
        total += text_bytes * SECONDS_PER_BYTE * left
    return total


def pick_worker(queued: Sequence[float], usable: Sequence[bool]) -> int | None:
    """Index of the usable worker with the least queued audio (the lowest index on a tie), None if none is
    usable."""
    best: int | None = None
    for i, (load, ok) in enumerate(zip(queued, usable)):
        if ok and (best is None or load < queued[best]):
            best = i
    return best
