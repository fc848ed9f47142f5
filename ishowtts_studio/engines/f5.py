"""The F5-TTS engine: f5-tts's own model classes and loaders, our fast sampler, a reference cache.

Weights come from local paths or `hf://owner/repo/file` ids (resolved with huggingface_hub, which
honours HF_HUB_OFFLINE). When they cannot be had, `load` raises `EngineUnavailable` with a message
that says exactly what is missing and how to fix it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ishowtts_studio.engines import base
from ishowtts_studio.engines.base import ChunkAudio, ChunkJob, EngineInfo, EngineUnavailable, ReadyCallback, VoiceRef
from ishowtts_studio.engines.f5_batching import plan_runs, sample_runs
from ishowtts_studio.engines.f5_prepare import total_frames, warmup
from ishowtts_studio.engines.f5_refs import HOP, SAMPLE_RATE, PreparedVoice, RefCache
from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem, to_device
from ishowtts_studio.engines.f5_vocoder import PendingWaves, VocosDecoder, hand_over
from ishowtts_studio.engines.f5_weights import locate_weights
from ishowtts_studio.engines.gpu_memory import pool_breakdown
from ishowtts_studio.engines.smoke import ensure_random_weights, full_arch

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


def resolve_precision(device: torch.device, precision: str) -> torch.dtype:
    if precision == "fp32" or device.type != "cuda":
        if precision in ("bf16", "fp16") and device.type != "cuda":
            log.warning("precision %s asked for on %s; using fp32", precision, device)
        return torch.float32
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def resolve_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailable(
            "engine.device is 'cuda' but PyTorch sees no CUDA GPU. Set engine.device = \"auto\" or \"cpu\" in "
            "config.toml, or install a CUDA build of PyTorch."
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def configure_cuda(cudnn_benchmark: bool, inductor_cache: Path | None) -> None:
    """Process-wide CUDA switches the engine relies on (set at load, before anything runs on the GPU)."""
    # cuDNN autotuning times its algorithms for every new input shape: the text embedding's and the vocoder's
    # convolutions meet a new length with nearly every live request, and the tuning then sits on that request's
    # path (measured ~20 ms each, benchmarks/h200-2026-11-30/run3). Off by default; the sampler's position
    # convolutions are Triton kernels or a bmm and do not use cuDNN.
    torch.backends.cudnn.benchmark = cudnn_benchmark
    # cuDNN's attention kernel has faulted on broadcast (stride-0) masks; flash and memory-efficient attention
    # cover every case we need
    torch.backends.cuda.enable_cudnn_sdp(False)
    if inductor_cache is not None:
        # compiled kernels and FX graphs persist under the studio's cache folder, so a restart reuses them instead
        # of compiling again (an explicit TORCHINDUCTOR_CACHE_DIR wins)
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor_cache / "inductor"))


def weight_files(engine: F5Engine, say: Progress) -> tuple[Path, Path, Path, dict[str, Any]]:
    """Checkpoint, vocabulary, vocoder folder and architecture: random weights written to the cache, or the
    configured files found (all three looked up at once, so one message names every missing file)."""
    if engine.random_weights:
        say(0.05, f"writing {engine.random_weights} random-weight checkpoint files")
        rw = ensure_random_weights(engine.cache_dir, engine.random_weights, engine.model_name)
        return rw.checkpoint, rw.vocab, rw.vocoder_dir, rw.arch
    say(0.05, "locating F5-TTS weights")
    found = locate_weights(engine.checkpoint, engine.vocab, engine.vocoder_spec)
    return found.checkpoint, found.vocab, found.vocoder_dir, full_arch(engine.model_name)


def fast_path(engine: F5Engine) -> dict[str, Any]:
    """Which parts of the fast path are on, for /health and the Performance tab."""
    sampler = engine.sampler
    return {
        "cuda_graphs": bool(sampler and sampler.use_graphs),
        "compile": bool(sampler and sampler.compiled),
        "attention": engine.attention,
        "triton_attention": bool(sampler and sampler.triton_attention),  # the kernel in use (GPU, half precision)
        "triton_conv": bool(sampler and sampler.triton_conv),
        "gelu_epilogue": bool(sampler and sampler.gelu_epilogue),
        "bucket_frames": sampler.bucket_frames if sampler else engine.bucket_frames,
        "graphs_captured": sampler.graph_count if sampler else 0,
        "shapes_pending": sampler.pending if sampler else 0,
        "prepare_frames": [engine.prepare_min_frames, engine.prepare_max_frames],
        "exact_graphs": engine.exact_graphs,
        "share_graph_memory": engine.share_graph_memory,
        "fp8_gemms": bool(sampler and sampler.fp8),
        "prepare_exact_bytes": engine.prepare_exact_bytes,
        "compiled_vocoder": bool(engine.decoder and engine.decoder.compiled),
        "padded_attention": ("triton" if sampler.padded_triton else "varlen_flash" if sampler.varlen else "bias")
        if sampler else "bias",
        "batch_grid": engine.batch_grid,
    }


class F5Engine:
    name = "f5"
    label = "F5-TTS"
    sample_rate = SAMPLE_RATE
    hop_length = HOP
    # the sampler batches any number of jobs; the runtime's engine.max_batch is the limit that applies
    max_batch = 64

    def __init__(
        self,
        *,
        checkpoint: str,
        vocab: str,
        vocoder: str,
        model_name: str = "F5TTS_v1_Base",
        device: str = "auto",
        precision: str = "auto",
        cache_dir: Path,
        random_weights: str | None = None,
        cuda_graphs: bool = True,
        compile_model: bool = False,
        attention: str = "flash",
        fused_kernels: bool = False,
        bucket_frames: int = 1,
        ref_cache_items: int = 64,
        prepare_min_frames: int = 256,
        prepare_max_frames: int = 0,
        exact_graphs: bool = True,
        share_graph_memory: bool = True,
        cudnn_benchmark: bool = False,
        idle_before_prepare_s: float = 2.0,
        fp8_gemms: bool = False,
        padded_attention: str = "bias",
        prepare_exact_bytes: int = 0,
        prepare_exact_voices: int = 2,
        compile_vocoder: bool = False,
        batch_padding: bool = False,
        batch_bucket_frames: int = 64,
    ) -> None:
        self.checkpoint, self.vocab, self.vocoder_spec = checkpoint, vocab, vocoder
        self.model_name = model_name
        self.device_spec, self.precision_spec = device, precision
        self.cache_dir = Path(cache_dir).expanduser()
        self.random_weights = random_weights
        self.cuda_graphs, self.compile_model, self.bucket_frames = cuda_graphs, compile_model, bucket_frames
        self.attention, self.fused_kernels = attention, fused_kernels
        self.ref_cache_items = ref_cache_items
        # live traffic: padded bucket graphs prepared at warm-up for this range of total frames (0 = none), exact
        # graphs for lengths met again prepared between requests, all graphs sharing one memory pool
        self.prepare_min_frames, self.prepare_max_frames = prepare_min_frames, prepare_max_frames
        self.exact_graphs, self.share_graph_memory = exact_graphs, share_graph_memory
        self.cudnn_benchmark = cudnn_benchmark
        # idle preparation waits for a quiet moment this long: a capture (~0.1 s) started in a short gap would
        # delay the next live request by up to that much (at 4 requests a second, 2 s of quiet is rare: live
        # traffic is left alone and a pause gets the work; run 5 measured the cost of a shorter wait)
        self.idle_before_prepare_s = idle_before_prepare_s
        self._last_busy = 0.0
        self.fp8_gemms = fp8_gemms
        self.padded_attention = padded_attention
        # unpadded graphs prepared at warm-up for every length a short text (a chat line, one chunk) can have with
        # the first warm-up voices: such a request never runs padded (the masked attention costs ~10-15%)
        self.prepare_exact_bytes, self.prepare_exact_voices = prepare_exact_bytes, prepare_exact_voices
        self.compile_vocoder = compile_vocoder
        # a burst's lone lengths of one cell of this many frames run as one padded batch (0: off); the runtime's
        # scheduler also fills a late burst's batches by these cells (`engines.base.batch_grid`)
        self.batch_grid = max(1, batch_bucket_frames) if batch_padding else 0
        self.decoder: VocosDecoder | None = None
        self.cfm: Any = None
        self.vocoder: Any = None
        self.sampler: F5Sampler | None = None
        self.vocab_char_map: dict[str, int] = {}
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        # references are analysed once per voice: memory LRU + disk (the mel needs the loaded model)
        self.refs = RefCache(self.cache_dir, ref_cache_items, lambda wave: self.cfm.mel_spec(wave), self.device)

    # ---- loading ------------------------------------------------------------------------------
    def load(self, progress: Progress | None = None) -> EngineInfo:
        from f5_tts.infer.utils_infer import load_model, load_vocoder
        from f5_tts.model import DiT
        from f5_tts.model.utils import get_tokenizer

        say = progress or (lambda f, m: log.info("%3.0f%% %s", f * 100, m))
        self.device = resolve_device(self.device_spec)
        self.dtype = resolve_precision(self.device, self.precision_spec)
        self.refs.device = self.device
        if self.device.type == "cuda":
            configure_cuda(self.cudnn_benchmark, self.cache_dir if self.compile_model else None)
        ckpt, vocab, vocoder_dir, arch = weight_files(self, say)
        say(0.3, f"loading {ckpt.name}")
        # load on the CPU in fp32 (f5-tts picks fp16 itself on CUDA), then move once in our precision
        cfm = load_model(DiT, arch, str(ckpt), mel_spec_type="vocos", vocab_file=str(vocab), device="cpu")
        self.cfm = cfm.to(self.device, self.dtype).eval()
        self.vocab_char_map, _ = get_tokenizer(str(vocab), "custom")
        say(0.6, "loading Vocos vocoder")
        self.vocoder = load_vocoder("vocos", is_local=True, local_path=str(vocoder_dir), device=str(self.device))
        self.decoder = VocosDecoder(self.vocoder, compile_backbone=self.compile_vocoder and self.device.type == "cuda")
        self.sampler = self.new_sampler()
        say(0.7, "model ready")
        return self.info()

    def new_sampler(self) -> F5Sampler:
        """A sampler over the loaded model with this engine's settings. Each holds its own graphs, graph memory
        pool and input buffers (the weights are shared), so two can run on two CUDA streams at once
        (benchmarks/probe_streams.py measures whether that pays)."""
        return F5Sampler(
            self.cfm,
            bucket_frames=self.bucket_frames if self.device.type == "cuda" else 1,
            cuda_graphs=self.cuda_graphs,
            compile_model=self.compile_model,
            attention=self.attention,
            triton_conv=self.fused_kernels,
            gelu_epilogue=self.fused_kernels,
            share_graph_memory=self.share_graph_memory,
            # on the CPU FP8 would only be emulated (slower): the switch is for FP8 tensor cores
            fp8_gemms=self.fp8_gemms and self.device.type == "cuda",
            padded_attention=self.padded_attention,
        )

    @property
    def loaded(self) -> bool:
        return self.cfm is not None

    def check(self) -> str:
        """Nothing to check cheaply: missing weights are found (and explained) by `load`."""
        return self.model_name

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            device=str(self.device) if self.device.type != "cuda" else torch.cuda.get_device_name(self.device),
            precision=str(self.dtype).replace("torch.", ""),
            sample_rate=SAMPLE_RATE,
            smoke=self.random_weights == "smoke",
            random_weights=bool(self.random_weights),
            fast_path=fast_path(self),
        )

    # ---- references ---------------------------------------------------------------------------
    def prepare_voice(self, voice: VoiceRef) -> bool:
        return self.refs.get(voice)[1]

    def forget_voice(self, voice: VoiceRef) -> None:
        self.refs.forget(voice)

    # ---- synthesis ----------------------------------------------------------------------------
    def estimate_frames(self, voice: VoiceRef, text: str, speed: float) -> tuple[int, int]:
        """f5-tts's duration rule: reference frames plus the reference's frames-per-byte times the new
        text's bytes, over the speed (very short texts are slowed to 0.3, as f5-tts does)."""
        prepared, _ = self.refs.get(voice)
        return total_frames(prepared, len(text.encode("utf-8")), speed), prepared.ref_frames

    def _text_ids(self, text: str) -> torch.Tensor:
        from f5_tts.model.utils import convert_char_to_pinyin, list_str_to_idx

        tokens = convert_char_to_pinyin([text])
        return to_device(list_str_to_idx(tokens, self.vocab_char_map)[0], self.device)

    def sample_item(self, voice: VoiceRef, text: str, *, speed: float = 1.0, seed: int = 0,
                    duration: int | None = None) -> tuple[SampleItem, PreparedVoice]:
        """The sampler's input for one chunk (reference mel, reference + chunk text ids, total frames by the
        duration rule unless given) and the prepared reference it used. The benchmark's profile and mel check
        call this too, so they time and check exactly what a request runs."""
        prepared, _ = self.refs.get(voice)
        total = duration if duration is not None else self.estimate_frames(voice, text, speed)[0]
        limit = self.max_frames()
        if total > limit:
            raise base.RequestRefused(
                f"This text would need {total * HOP / SAMPLE_RATE:.0f} s of audio (with the voice's reference) in one "
                f"piece; the model holds at most {limit * HOP / SAMPLE_RATE:.0f} s. If ordinary sentences come out "
                "far too long in this voice, its transcript leaves out words spoken in its clip: fix it in the Voices "
                "tab. Otherwise split the text into shorter sentences, or raise the speed.")
        ids = self._text_ids(prepared.ref_text + text)
        return SampleItem(cond_mel=prepared.mel, text_ids=ids, duration=total, seed=seed), prepared

    def max_frames(self) -> int:
        """The most frames (reference + new speech) one request may have: the text embedding's position table
        (8192 frames, ~87 s, for the published models); past it the model fails on a shape mismatch."""
        text_embed = self.cfm.transformer.text_embed if self.cfm is not None else None
        return int(getattr(text_embed, "precompute_max_pos", 0) or 65536)

    def synthesize(self, jobs: list[ChunkJob], on_ready: ReadyCallback | None = None) -> list[ChunkAudio]:
        """Sample and vocode the jobs; with `on_ready`, one length group at a time, shortest first, each group's
        audio handed over as soon as it is ready (the sampler runs different lengths one after another anyway,
        so a short line need not wait for the batch's longest)."""
        if self.cfm is None or self.sampler is None:
            raise EngineUnavailable("The F5-TTS engine is not loaded yet.")
        params = jobs[0].params
        if any(j.params.batch_key() != params.batch_key() for j in jobs):
            raise ValueError("a batch must share NFE, CFG strength and sway coefficient")
        items, refs = [], []
        for job in jobs:
            item, prepared = self.sample_item(job.voice, job.text, speed=job.params.speed, seed=job.seed,
                                              duration=job.duration_frames)
            items.append(item)
            refs.append(prepared)
        if on_ready is None:  # one call: sampled by length inside, vocoded together, one copy to the host
            groups = [list(range(len(jobs)))]
        else:
            frames = [self.sampler.duration_of(it) for it in items]
            groups = [list(run.idx) for run in plan_runs(frames, self.batch_grid)]
        out: list[ChunkAudio | None] = [None] * len(jobs)
        # on a GPU, one group ahead: the next group's work is queued before this one's audio is waited for and
        # handed over, so the GPU goes from group to group without waiting for the host in between (on the CPU,
        # launching is running: a short group would wait for the next one)
        late: list[Callable[[], None]] = []
        for idx in groups:
            pending, mels = self._launch([items[i] for i in idx], [refs[i] for i in idx], params)
            late.append(partial(hand_over, idx, pending, mels, refs, out, on_ready))
            while len(late) > (1 if self.device.type == "cuda" else 0):
                late.pop(0)()
        for rest in late:
            rest()
        return out  # type: ignore[return-value]

    def _launch(self, items: list[SampleItem], refs: list[PreparedVoice],
                params: Any) -> tuple[PendingWaves, list[torch.Tensor]]:
        """Queue sampling and vocoding of these items: their waveforms on their way to the host, and their mels."""
        mels = self.sample_mels(items, params)
        assert self.decoder is not None
        pending = self.decoder.launch([mel[p.ref_frames:] for mel, p in zip(mels, refs)])
        self._last_busy = time.monotonic()
        return pending, mels

    def sample_mels(self, items: list[SampleItem], params: Any) -> list[torch.Tensor]:
        """Sample the items in the runs `f5_batching.plan_runs` makes of them (`f5_batching.sample_runs`): one
        exact length per batch, and with `batch_padding` the lone lengths of one cell as a padded batch."""
        assert self.sampler is not None
        return sample_runs(self.sampler, items, params, self.batch_grid, self.exact_graphs)

    def pending_shapes(self) -> int:
        """Shapes queued for preparation between requests (exact graphs): 0 once the engine has settled."""
        return self.sampler.pending if self.sampler is not None else 0

    def idle_work(self) -> bool:
        """The runtime's idle hook (the `Engine` protocol): one queued shape, see `prepare_next_shape`."""
        return self.prepare_next_shape()

    def prepare_next_shape(self, min_idle_s: float | None = None) -> bool:
        """Prepare one shape queued for an exact graph once the engine has had no work for `min_idle_s` (default
        `idle_before_prepare_s`); True while more are queued and it may go on. The runtime calls this when its
        queue is empty, so the capture never sits on a request's path."""
        wait = self.idle_before_prepare_s if min_idle_s is None else min_idle_s
        if self.sampler is None or not self.sampler.pending or time.monotonic() - self._last_busy < wait:
            return False
        more = self.sampler.prepare_pending()
        if not more:
            self.release_cached_memory()
        return more

    def release_cached_memory(self) -> None:
        """Give the GPU memory that preparation used as scratch (compiling, capturing) back to the driver, so the
        memory the studio holds is what its model, caches and graphs need."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def warmup(self, voices: list[VoiceRef], nfe: int, progress: Progress | None = None) -> None:
        """Compile and capture what live traffic needs (`f5_prepare.warmup`)."""
        warmup(self, voices, nfe, progress)

    def memory_stats(self) -> dict[str, float]:
        if self.device.type != "cuda":
            return {}
        mib = 1024 * 1024
        return {
            "allocated_mib": torch.cuda.memory_allocated(self.device) / mib,
            "reserved_mib": torch.cuda.memory_reserved(self.device) / mib,
            "peak_mib": torch.cuda.max_memory_allocated(self.device) / mib,
        }

    def memory_pools(self) -> dict[str, float]:
        """Reserved memory split by the allocator's pools and streams (gpu_memory.py; slow: benchmarks only)."""
        return pool_breakdown(self.device)

    def cache_stats(self) -> dict[str, int]:
        shapes = dict(self.sampler.shape_stats) if self.sampler is not None else {}
        return dict(self.refs.counts(), **shapes)

    def unload(self) -> None:
        """Drop the model, vocoder and captured graphs so another engine can have the GPU memory; `load`
        brings them back (the reference cache on disk survives)."""
        self.cfm = self.vocoder = self.sampler = self.decoder = None
        self.refs.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
