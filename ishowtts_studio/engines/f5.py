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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ishowtts_studio.engines.base import (
    ChunkAudio,
    ChunkJob,
    EngineInfo,
    EngineUnavailable,
    ReadyCallback,
    VoiceRef,
)
from ishowtts_studio.engines.f5_refs import HOP, SAMPLE_RATE, TARGET_RMS, PreparedVoice, RefCache
from ishowtts_studio.engines.f5_sampler import F5Sampler, SampleItem, round_up
from ishowtts_studio.engines.f5_weights import locate_weights
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


def total_frames(prepared: PreparedVoice, gen_bytes: int, speed: float) -> int:
    """f5-tts's duration rule for a text of `gen_bytes` UTF-8 bytes after this reference."""
    local_speed = 0.3 if gen_bytes < 10 else speed
    ref_bytes = len(prepared.ref_text.encode("utf-8"))
    return prepared.ref_frames + int(prepared.ref_frames / ref_bytes * gen_bytes / local_speed)


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
        "compiled_vocoder": engine._vocoder_backbone is not None and engine.vocoder is not None
        and engine._vocoder_backbone is not engine.vocoder.backbone,
        "padded_attention": f"varlen_{sampler.varlen}" if sampler and sampler.varlen else "bias",
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
        self._vocoder_backbone: Any = None
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
        # Vocos is ~80 small kernels a call, launch-bound at ~2.7 ms whatever the length (probe_path.json): its
        # ConvNeXt backbone compiled (dynamic batch and length, so no recompile per length) launches far fewer
        self._vocoder_backbone = self.vocoder.backbone
        if self.compile_vocoder and self.device.type == "cuda":
            self._vocoder_backbone = torch.compile(self.vocoder.backbone, dynamic=None)
        self.sampler = F5Sampler(
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
        say(0.7, "model ready")
        return self.info()

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

    def voice_lengths(self, voice: VoiceRef, max_bytes: int, speed: float = 1.0) -> list[int]:
        """Every total length (frames) the duration rule gives this voice for a text of 1 to `max_bytes` bytes."""
        prepared, _ = self.refs.get(voice)
        return sorted({total_frames(prepared, n, speed) for n in range(1, max_bytes + 1)})

    def _text_ids(self, text: str) -> torch.Tensor:
        from f5_tts.model.utils import convert_char_to_pinyin, list_str_to_idx

        tokens = convert_char_to_pinyin([text])
        return list_str_to_idx(tokens, self.vocab_char_map)[0].to(self.device)

    def sample_item(self, voice: VoiceRef, text: str, *, speed: float = 1.0, seed: int = 0,
                    duration: int | None = None) -> tuple[SampleItem, PreparedVoice]:
        """The sampler's input for one chunk (reference mel, reference + chunk text ids, total frames by the
        duration rule unless given) and the prepared reference it used. The benchmark's profile and mel check
        call this too, so they time and check exactly what a request runs."""
        prepared, _ = self.refs.get(voice)
        total = duration if duration is not None else self.estimate_frames(voice, text, speed)[0]
        ids = self._text_ids(prepared.ref_text + text)
        return SampleItem(cond_mel=prepared.mel, text_ids=ids, duration=total, seed=seed), prepared

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
        if on_ready is None:
            waves, mels = self._render(items, refs, params)
            groups = [list(range(len(jobs)))]
        else:
            lengths: dict[int, list[int]] = {}
            for i, item in enumerate(items):
                lengths.setdefault(self.sampler.duration_of(item), []).append(i)
            groups = [lengths[n] for n in sorted(lengths)]
        out: list[ChunkAudio | None] = [None] * len(jobs)
        for idx in groups:
            if on_ready is not None:
                waves, mels = self._render([items[i] for i in idx], [refs[i] for i in idx], params)
            for i, wave, mel in zip(idx, waves, mels):
                prepared = refs[i]
                if 0 < prepared.rms < TARGET_RMS:
                    wave = wave * (prepared.rms / TARGET_RMS)
                out[i] = ChunkAudio(audio=wave, duration_frames=mel.shape[0], ref_frames=prepared.ref_frames)
                if on_ready is not None:
                    on_ready(i, out[i])
        self._last_busy = time.monotonic()
        return out  # type: ignore[return-value]

    def _render(self, items: list[SampleItem], refs: list[PreparedVoice],
                params: Any) -> tuple[list[np.ndarray], list[torch.Tensor]]:
        """Waveforms (on the host) and mels of these items."""
        mels = self.sample_mels(items, params)
        waves = self._vocode([mel[p.ref_frames:] for mel, p in zip(mels, refs)])
        self._last_busy = time.monotonic()
        return waves, mels

    def sample_mels(self, items: list[SampleItem], params: Any) -> list[torch.Tensor]:
        """Sample the items in groups of one exact length, each group in its own batch.

        Why not one padded batch: measured on an H100 (benchmarks/h100-2026-11-23/probe3.json) and again on the
        H200 (benchmarks/h200-2026-11-30/baseline/probe_live.json: 8 chat lines padded to one batch 183 ms,
        one by one 146 ms), padding a batch to its longest item costs more than the batch saves.

        How a group is served (`bucket_frames` > 1): a single request whose length has an exact graph runs
        unpadded; any other single request runs in its length bucket's padded graph (prepared at warm-up, so
        a new length waits for no capture), and a length met a second time is queued for an exact graph
        prepared between requests (`idle_work`). Several requests of one length run unpadded as one batch.
        With `bucket_frames` = 1 every group runs at its exact length. Results do not depend on the path
        (padding is masked; tested)."""
        assert self.sampler is not None
        sampler = self.sampler
        use_cfg = params.cfg_strength >= 1e-5
        groups: dict[int, list[int]] = {}
        for i, it in enumerate(items):
            groups.setdefault(sampler.duration_of(it), []).append(i)
        mels: list[torch.Tensor | None] = [None] * len(items)
        kw = {"nfe": params.nfe, "cfg_strength": params.cfg_strength, "sway_coef": params.sway_coef}
        for frames, idx in groups.items():
            group = [items[i] for i in idx]
            bucketed = sampler.bucket_frames > 1 and len(idx) == 1
            if bucketed and self.exact_graphs and sampler.exact_ready(frames, use_cfg):
                bucketed = False
            if bucketed:
                out = sampler.sample(group, length=round_up(frames, sampler.bucket_frames), force_padded=True, **kw)
                if self.exact_graphs:
                    sampler.note_length(frames, use_cfg)
            else:
                out = sampler.sample(group, length=frames, **kw)
            for i, mel in zip(idx, out):
                mels[i] = mel
        return mels  # type: ignore[return-value]

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

    @torch.inference_mode()
    def _vocode(self, mels: list[torch.Tensor]) -> list[np.ndarray]:
        """Vocos on each generated mel, (frames, n_mels) -> waveform on the host. Mels of equal length are
        decoded as one batch (Vocos treats batch rows independently, so the result is the same), and
        all waveforms come to the host in one copy."""
        groups: dict[int, list[int]] = {}
        for i, mel in enumerate(mels):
            groups.setdefault(int(mel.shape[0]), []).append(i)
        waves: list[torch.Tensor | None] = [None] * len(mels)
        for idx in groups.values():
            batch = torch.stack([mels[i] for i in idx]).float().transpose(1, 2)  # (b, n_mels, frames)
            if self._vocoder_backbone is not self.vocoder.backbone:
                torch._dynamo.mark_dynamic(batch, 0)
                torch._dynamo.mark_dynamic(batch, 2)
            decoded = self.vocoder.head(self._vocoder_backbone(batch))  # what Vocos.decode does
            for row, i in enumerate(idx):
                waves[i] = decoded[row]
        lengths = [int(w.shape[-1]) for w in waves]
        flat = torch.cat([w.reshape(-1) for w in waves]).float().cpu().numpy()
        return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) > 1 else [flat]

    def warmup(self, voices: list[VoiceRef], nfe: int, progress: Progress | None = None) -> None:
        """Prepare references and run the sampler once per common length, capturing graphs early."""
        from ishowtts_studio.engines.base import GenerationParams

        texts = ["Hello there.", "This is a warm-up sentence of ordinary length for the studio engine."]
        params = GenerationParams(nfe=nfe, cfg_strength=2.0, sway_coef=-1.0, speed=1.0)
        plan = [[ChunkJob(voice=v, text=t, params=params, seed=0)] for v in voices[:2] for t in texts]
        if self.sampler is not None and self.sampler.compiled and voices:
            # compiled code is specialised for a single request: compile the batched variant now (two requests
            # of one length), not on a user's first batch; later batch sizes and lengths reuse it (dynamic
            # shapes). Batches are never padded with exact-length buckets (`sample_mels`); with larger
            # buckets these warm-ups are padded and compile that variant too.
            plan.append([ChunkJob(voice=voices[0], text=texts[1], params=params, seed=s) for s in (0, 1)])
        if self.sampler is not None and self.sampler.bucket_frames > 1 and self.exact_graphs and voices:
            # a length met twice gets its exact graph between requests: meet one twice now, so the unpadded
            # single-request variant is compiled here, not in the first idle moment of a live server
            plan.append([ChunkJob(voice=voices[0], text=texts[0], params=params, seed=1)])
        for i, jobs in enumerate(plan):
            if progress:
                progress(0.7 + 0.2 * i / max(1, len(plan)), f"warm-up {i + 1}/{len(plan)}")
            self.synthesize(jobs)
        while self.prepare_next_shape(min_idle_s=0):
            pass
        self.prepare_live_shapes(progress)
        # the voices' chat-line lengths are prepared after start-up, while the engine is idle: ~60 ms a graph on
        # an H200 (250 for two voices), too long to hold the studio's start (benchmarks/h200-2026-12-01)
        self.queue_voice_lengths(voices[: self.prepare_exact_voices])
        self.release_cached_memory()

    def prepare_live_shapes(self, progress: Progress | None = None) -> int:
        """Capture the padded single-request graph of every length bucket from `prepare_min_frames` to
        `prepare_max_frames` (CUDA graphs with buckets only), so a new length never waits for a capture."""
        sampler = self.sampler
        if sampler is None or not sampler.use_graphs or sampler.bucket_frames <= 1 or self.prepare_max_frames <= 0:
            return 0
        step = sampler.bucket_frames
        lengths = list(range(round_up(max(1, self.prepare_min_frames), step), self.prepare_max_frames + 1, step))

        def say(fraction: float, message: str) -> None:
            if progress:
                progress(0.9 + 0.1 * fraction, message)

        return sampler.prepare_buckets(lengths, progress=say)

    def queue_voice_lengths(self, voices: list[VoiceRef]) -> int:
        """Queue the unpadded graph of every length a text of up to `prepare_exact_bytes` bytes has with these
        voices (CUDA graphs only), prepared between requests (`idle_work`), so such a request runs as fast as a
        length met before. Returns how many were queued."""
        sampler = self.sampler
        if sampler is None or self.prepare_exact_bytes <= 0 or not voices:
            return 0
        return sampler.queue_exact(sorted({n for v in voices for n in self.voice_lengths(v, self.prepare_exact_bytes)}))

    def memory_stats(self) -> dict[str, float]:
        if self.device.type != "cuda":
            return {}
        mib = 1024 * 1024
        return {
            "allocated_mib": torch.cuda.memory_allocated(self.device) / mib,
            "reserved_mib": torch.cuda.memory_reserved(self.device) / mib,
            "peak_mib": torch.cuda.max_memory_allocated(self.device) / mib,
        }

    def cache_stats(self) -> dict[str, int]:
        shapes = dict(self.sampler.shape_stats) if self.sampler is not None else {}
        return dict(self.refs.counts(), **shapes)

    def unload(self) -> None:
        """Drop the model, vocoder and captured graphs so another engine can have the GPU memory; `load`
        brings them back (the reference cache on disk survives)."""
        self.cfm = self.vocoder = self.sampler = self._vocoder_backbone = None
        self.refs.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
