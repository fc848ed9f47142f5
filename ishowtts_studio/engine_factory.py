"""The engines and the runtime built from settings, in one place for everything that needs them: the studio
(`Studio`), a Ray Serve engine replica (`ishowtts_studio.serve.replica`) and the device benchmark, so all build the
very same engine. One F5-TTS engine per configured device (`engine.devices`); the runtime is local (one worker per
device) or, with `serve.address` set, the adapter to the Ray Serve replicas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ishowtts_studio.device_routing import device_labels, parse_devices
from ishowtts_studio.engines.base import Engine
from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.indextts import IndexTTSEngine
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
        padded_attention=eng.padded_attention,
        prepare_exact_bytes=eng.prepare_exact_bytes, prepare_exact_voices=eng.prepare_exact_voices,
        compile_vocoder=eng.compile and eng.compile_vocoder,
        batch_padding=eng.batch_padding, batch_bucket_frames=eng.batch_bucket_frames,
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


def _weights_kind(settings: Settings, random_weights: str | None) -> str | None:
    return random_weights or ("smoke" if settings.smoke else None)


def f5_from_settings(settings: Settings, random_weights: str | None = None) -> F5Engine:
    """The studio's own F5-TTS engine, on the first configured device (not loaded yet: its worker loads it).
    `random_weights` is "smoke" / "full" for random weights; None follows settings.smoke."""
    return f5_engine(settings, configured_devices(settings)[0], _weights_kind(settings, random_weights))


def indextts_from_settings(settings: Settings) -> IndexTTSEngine:
    idx = settings.indextts
    return IndexTTSEngine(
        model_dir=idx.model_dir, version=idx.version, python=idx.python, aux_dir=idx.aux_dir, device=idx.device,
        use_fp16=idx.use_fp16, use_cuda_kernel=idx.use_cuda_kernel, use_deepspeed=idx.use_deepspeed,
    )


def local_runtime(settings: Settings, engine: F5Engine, extra_engines: dict[str, Any],
                  random_weights: str | None = None) -> EngineRuntime | DeviceRuntimes:
    """The runtime of this process: `engine` serves the first configured device, and every further device gets
    an engine of its own built the same way (the extras, e.g. IndexTTS, stay on the first worker)."""
    eng = settings.engine
    kind = _weights_kind(settings, random_weights)
    first = iter([engine])

    def engine_on(device: str) -> F5Engine:
        return next(first, None) or f5_engine(settings, device, kind)

    return build_runtime(
        configured_devices(settings), engine_on, extra_engines=extra_engines, queue_size=eng.queue_size,
        max_batch=eng.max_batch, batch_wait_s=eng.batch_wait_ms / 1000, max_loaded=eng.max_loaded_engines,
    )


def runtime_from_settings(settings: Settings, engine: F5Engine, extra_engines: dict[str, Any],
                          random_weights: str | None = None) -> Any:
    """The studio's runtime: the local one, or, with `serve.address` set, the adapter that sends every request to
    the Ray Serve engine replicas (same interface; ray is imported only then, it is an optional extra)."""
    if not settings.serve.address:
        return local_runtime(settings, engine, extra_engines, random_weights)
    from ishowtts_studio.serve.client import connect

    return connect(settings, engine, extra_engines)
