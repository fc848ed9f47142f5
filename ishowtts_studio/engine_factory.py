"""The F5-TTS engine for one device from the settings, and the runtime over every configured device: the studio
and the device benchmark build them the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ishowtts_studio.device_routing import device_labels, parse_devices
from ishowtts_studio.engines.base import Engine
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.runtime_devices import DeviceRuntimes
from ishowtts_studio.settings import Settings


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def configured_devices(settings: Settings) -> list[str]:
    """`engine.devices` resolved ("all" asks PyTorch how many GPUs it sees); one entry = today's single worker."""
    eng = settings.engine
    return parse_devices(eng.devices, eng.device, cuda_count)


def f5_engine(settings: Settings, device: str, random_weights: str | None, cache_dir: Path | None = None,
              **overrides: Any) -> F5Engine:
    """An F5Engine on `device` with the [engine] and [f5] settings; `overrides` replace constructor arguments."""
    eng, f5 = settings.engine, settings.f5
    args: dict[str, Any] = dict(
        checkpoint=f5.checkpoint, vocab=f5.vocab, vocoder=f5.vocoder, model_name=f5.model,
        device=device, precision=eng.precision, cache_dir=cache_dir or settings.paths.cache,
        random_weights=random_weights, cuda_graphs=eng.cuda_graphs, compile_model=eng.compile,
        ref_cache_items=eng.ref_cache_items, bucket_frames=eng.bucket_frames, attention=eng.attention,
        fused_kernels=eng.fused_kernels, prepare_min_frames=eng.prepare_min_frames,
        prepare_max_frames=eng.prepare_max_frames, exact_graphs=eng.exact_graphs,
        share_graph_memory=eng.share_graph_memory, cudnn_benchmark=eng.cudnn_benchmark,
        idle_before_prepare_s=eng.idle_prepare_after_s, fp8_gemms=eng.fp8_gemms,
    )
    args.update(overrides)
    return F5Engine(**args)


def build_runtime(devices: list[str], make_engine: Callable[[str], Engine], *,
                  extra_engines: dict[str, Engine] | None = None, **runtime_args: Any,
                  ) -> EngineRuntime | DeviceRuntimes:
    """One device: a plain EngineRuntime, exactly as before. Several: one engine and worker per device behind
    DeviceRuntimes; the extra engines (IndexTTS, its own process) are registered on the first worker only."""
    labels = device_labels(devices)
    if len(devices) == 1:
        return EngineRuntime(make_engine(devices[0]), extra_engines=extra_engines, device=labels[0], **runtime_args)
    return DeviceRuntimes([
        EngineRuntime(make_engine(dev), extra_engines=extra_engines if i == 0 else None, device=label,
                      **runtime_args)
        for i, (dev, label) in enumerate(zip(devices, labels))
    ])
