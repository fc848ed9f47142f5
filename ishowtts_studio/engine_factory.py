"""The engines and the runtime built from settings, in one place for the two processes that need them: the studio
(`Studio`) and a Ray Serve engine replica (`ishowtts_studio.serve.replica`), so both build the very same engine."""

from __future__ import annotations

from typing import Any

from ishowtts_studio.engines.f5 import F5Engine
from ishowtts_studio.engines.indextts import IndexTTSEngine
from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.settings import Settings


def f5_from_settings(settings: Settings, random_weights: str | None = None) -> F5Engine:
    """The F5-TTS engine (not loaded yet: the runtime's worker loads it). `random_weights` is "smoke" / "full"
    for random weights; None follows settings.smoke."""
    kind = random_weights or ("smoke" if settings.smoke else None)
    eng, f5 = settings.engine, settings.f5
    return F5Engine(
        checkpoint=f5.checkpoint, vocab=f5.vocab, vocoder=f5.vocoder, model_name=f5.model,
        device=eng.device, precision=eng.precision, cache_dir=settings.paths.cache, random_weights=kind,
        cuda_graphs=eng.cuda_graphs, compile_model=eng.compile, ref_cache_items=eng.ref_cache_items,
        bucket_frames=eng.bucket_frames, attention=eng.attention, fused_kernels=eng.fused_kernels,
        prepare_min_frames=eng.prepare_min_frames, prepare_max_frames=eng.prepare_max_frames,
        exact_graphs=eng.exact_graphs, share_graph_memory=eng.share_graph_memory,
        cudnn_benchmark=eng.cudnn_benchmark, idle_before_prepare_s=eng.idle_prepare_after_s,
    )


def indextts_from_settings(settings: Settings) -> IndexTTSEngine:
    idx = settings.indextts
    return IndexTTSEngine(
        model_dir=idx.model_dir, version=idx.version, python=idx.python, aux_dir=idx.aux_dir, device=idx.device,
        use_fp16=idx.use_fp16, use_cuda_kernel=idx.use_cuda_kernel, use_deepspeed=idx.use_deepspeed,
    )


def local_runtime(settings: Settings, engine: Any, extra_engines: dict[str, Any]) -> EngineRuntime:
    """The runtime that runs `engine` (and the extras) on this process's GPU worker."""
    eng = settings.engine
    return EngineRuntime(
        engine, queue_size=eng.queue_size, max_batch=eng.max_batch, batch_wait_s=eng.batch_wait_ms / 1000,
        extra_engines=extra_engines, max_loaded=eng.max_loaded_engines,
    )


def runtime_from_settings(settings: Settings, engine: Any, extra_engines: dict[str, Any]) -> Any:
    """The studio's runtime: the local one, or, with `serve.address` set, the adapter that sends every request to
    the Ray Serve engine replicas (same interface; ray is imported only then, it is an optional extra)."""
    if not settings.serve.address:
        return local_runtime(settings, engine, extra_engines)
    from ishowtts_studio.serve.client import connect

    return connect(settings, engine, extra_engines)
