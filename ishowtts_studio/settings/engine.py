"""[engine], [f5] and [indextts] sections: how the shared engine runs, and the weights of each model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ishowtts_studio.settings.checks import check_devices, check_model, check_weights
from ishowtts_studio.settings.fields import NFE_HI, NFE_LO, Section, opt


@dataclass(frozen=True)
class EngineSettings(Section):
    toml_section: ClassVar[str] = "engine"

    device: str = opt(
        "auto",
        "Where the model runs: auto picks cuda when a GPU is present, else cpu.",
        choices=("auto", "cuda", "cpu"),
    )
    devices: str = opt(
        "",
        "Devices with one engine and worker each, as a comma-separated list such as \"cuda:0,cuda:1\", or \"all\" "
        "for every CUDA GPU; each request goes to the worker with the least queued audio. Empty = the one device "
        "above.",
        check=check_devices,
    )
    precision: str = opt(
        "auto",
        "Numeric precision of the model: auto picks bf16 on GPUs that support it, fp16 on other GPUs, fp32 on cpu.",
        choices=("auto", "bf16", "fp16", "fp32"),
    )
    default_nfe: int = opt(
        16, "Default number of ODE steps (NFE) per synthesis: fewer is faster, more is cleaner.", lo=NFE_LO, hi=NFE_HI
    )
    cfg_strength: float = opt(2.0, "Classifier-free guidance strength.", lo=0.0, hi=10.0)
    sway_coef: float = opt(
        -1.0, "Sway sampling coefficient for the ODE timesteps (-1 favours early steps).", lo=-1.0, hi=1.0
    )
    speed: float = opt(1.0, "Speaking speed multiplier (changes the generated duration).", lo=0.3, hi=3.0)
    max_text_chars: int = opt(2000, "Longest text accepted for one synthesis, in characters.", lo=1, hi=20000)
    queue_size: int = opt(32, "Requests that may wait for the GPU before new ones are refused.", lo=1, hi=1024)
    max_batch: int = opt(8, "Most requests sampled together in one GPU batch.", lo=1, hi=64)
    batch_wait_ms: float = opt(
        4.0, "How long requests that arrive together wait for the rest of their burst to join one batch, in "
        "milliseconds (from the first one's arrival, and no longer once a batch is full). A request that arrives "
        "alone never waits.", lo=0.0, hi=1000.0,
    )
    crossfade_ms: int = opt(150, "Crossfade between consecutive text chunks, in milliseconds.", lo=0, hi=1000)
    first_chunk_chars: int = opt(
        60, "Byte limit of the first text chunk, kept short so streaming starts early.", lo=10, hi=500
    )
    chunk_chars: int = opt(
        135, "Byte limit of the other text chunks (UTF-8 bytes, as F5-TTS measures).", lo=20, hi=1000
    )
    single_chunk_chars: int = opt(
        135,
        "A text of at most this many bytes (and within chunk_chars) runs as one chunk, without the short first "
        "chunk: a chat line costs one sampler call instead of two, since every chunk carries the whole reference. "
        "0 = always split.",
        lo=0, hi=1000,
    )
    cuda_graphs: bool = opt(True, "Capture the sampler in CUDA graphs (GPU only) to cut launch overhead.")
    bucket_frames: int = opt(
        32,
        "Length buckets in mel frames for requests of a length not met before: such a request runs padded "
        "(masked) to a multiple of this, in a CUDA graph prepared ahead, so it waits for no capture "
        "(1 = every length gets its own graph, captured on first use).",
        lo=1,
        hi=512,
    )
    prepare_min_frames: int = opt(
        256, "Shortest total length (reference + new speech, in mel frames) whose bucket is prepared at start-up.",
        lo=1, hi=65536,
    )
    prepare_max_frames: int = opt(
        2048,
        "Longest total length (mel frames; 2048 is about 22 s with the reference) whose bucket graph is prepared "
        "at start-up, about 0.1 s per bucket on an H200; longer requests prepare theirs on first use. 0 = none.",
        lo=0, hi=65536,
    )
    prepare_exact_bytes: int = opt(
        135,
        "Texts up to this many UTF-8 bytes (chat lines, one chunk) get an unpadded CUDA graph for every length the "
        "duration rule gives them with the first warm-up voices (prepare_exact_voices), captured at start-up, so "
        "they never run padded. 0 = none.",
        lo=0, hi=4096,
    )
    prepare_exact_voices: int = opt(
        2, "How many of the warm-up voices (the library's first ones) get those exact-length graphs.", lo=0, hi=64,
    )
    exact_graphs: bool = opt(
        True,
        "A length met a second time gets its own unpadded CUDA graph, prepared while the GPU is idle, and runs "
        "unpadded after that.",
    )
    share_graph_memory: bool = opt(
        True, "All CUDA graphs share one memory pool and one set of input buffers (they never run at once).",
    )
    idle_prepare_after_s: float = opt(
        2.0,
        "Seconds without requests before the engine prepares exact graphs for repeated lengths (a capture takes "
        "about 0.1 s, and a request arriving meanwhile waits for it).",
        lo=0.0, hi=3600.0,
    )
    cudnn_benchmark: bool = opt(
        False,
        "Let cuDNN time its algorithms for every new input shape (GPU only). Live requests nearly all have new "
        "lengths, and the timing then sits on their path (about 20 ms each on an H200).",
    )
    compile: bool = opt(
        True, "Run torch.compile on the model's step pieces (GPU only; ~20 s on the first start, cached after; "
        "turn off on a Jetson).",
    )
    compile_vocoder: bool = opt(
        True, "Run torch.compile on the vocoder's backbone too (GPU only; with compile off it stays off).",
    )
    attention: str = opt(
        "triton",
        "Attention kernel on the GPU: triton (the studio's own Triton kernel; padded rows as padded_attention "
        "says; half precision, otherwise as cudnn), cudnn (cuDNN's fused attention, PyTorch's own choice where "
        "cuDNN cannot run it) or flash (PyTorch's own choice).",
        choices=("triton", "cudnn", "flash"),
    )
    fused_kernels: bool = opt(
        True,
        "Hand-written GPU kernels in the sampler: the position convolutions in Triton and the feed-forward's GELU "
        "in the GEMM epilogue (GPU only).",
    )
    padded_attention: str = opt(
        "triton",
        "How attention skips a padded request's padding (a new length runs in its prepared length bucket): bias "
        "(a mask in cuDNN's dense attention), varlen_flash (FlashAttention-2's variable-length kernel over the "
        "request's own frames; CUDA in bf16/fp16, otherwise bias) or triton (the Triton attention kernel reading "
        "only the request's own frames; with attention triton, otherwise bias). On an H200 triton took new lengths "
        "in a new voice from p95 72 to 55 ms and bias and varlen_flash measured alike (docs/performance.md).",
        choices=("bias", "varlen_flash", "triton"),
    )
    batch_padding: bool = opt(
        False,
        "Requests of different lengths that are due at once (a burst of chat lines) run as one padded batch when "
        "their lengths fall in one cell of batch_bucket_frames, in batches of 2, 4 or 8 whose CUDA graphs are "
        "prepared between requests, and the scheduler fills a late burst's batches by those cells. Best with "
        "padded_attention = \"triton\". Measured slower on an H200 (burst 1.28 s against 1.22 s off; "
        "docs/performance.md, round 5).",
    )
    batch_bucket_frames: int = opt(
        64, "Cell width in mel frames of batch_padding: lines whose lengths fall in one cell share a padded batch "
        "(each padded by less than this).", lo=1, hi=1024,
    )
    fp8_gemms: bool = opt(
        False,
        "FP8 (e4m3) matrix products in the model's blocks, scaled per row and channel: GPUs of compute capability "
        "8.9+ (Hopper, Ada) in bf16 only, otherwise off with a warning. Changes the audio slightly (the error "
        "against bf16 is in docs/performance.md).",
    )
    warmup: bool = opt(True, "Run a short synthesis at start-up so the first real request is fast.")
    ref_cache_items: int = opt(64, "Reference voices whose prepared audio is kept in memory.", lo=1, hi=10000)
    max_loaded_engines: int = opt(
        2, "Engines (F5-TTS, IndexTTS) kept loaded at once; the least recently used is unloaded to make room.",
        lo=1, hi=4,
    )


@dataclass(frozen=True)
class F5Settings(Section):
    toml_section: ClassVar[str] = "f5"

    model: str = opt(
        "F5TTS_v1_Base",
        "Model architecture: the name of a config shipped with f5-tts (f5_tts/configs/NAME.yaml).",
        check=check_model,
    )
    checkpoint: str = opt(
        "hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors",
        "Model weights (.safetensors or .pt): a local path or hf://owner/repo/file.",
        check=check_weights,
    )
    vocab: str = opt(
        "hf://SWivid/F5-TTS/F5TTS_v1_Base/vocab.txt",
        "Vocabulary file of the checkpoint: a local path or hf://owner/repo/file.",
        check=check_weights,
    )
    vocoder: str = opt(
        "hf://charactr/vocos-mel-24khz",
        "Vocos vocoder: a local folder (config.yaml + pytorch_model.bin) or hf://owner/repo.",
        check=check_weights,
    )


@dataclass(frozen=True)
class IndexTTSSettings(Section):
    """The optional IndexTTS engine (its own environment, a worker process; see docs/architecture.md)."""

    toml_section: ClassVar[str] = "indextts"

    model_dir: str = opt(
        "", "IndexTTS model folder (config.yaml, gpt.pth, bpe.model, ...); empty = IndexTTS not configured."
    )
    version: str = opt(
        "auto", "IndexTTS model version: auto reads it from the model folder's config.yaml.",
        choices=("auto", "1.5", "2"),
    )
    python: str = opt(
        "", "Python of IndexTTS's own environment; empty = .venv-indextts/bin/python in the studio's folder."
    )
    aux_dir: str = opt(
        "", "IndexTTS 2 only: a local Hugging Face cache folder holding its auxiliary models (w2v-bert-2.0, "
        "MaskGCT semantic codec, CAMPPlus, BigVGAN); nothing is downloaded.",
    )
    device: str = opt("auto", "Where IndexTTS runs: auto picks cuda when a GPU is present.",
                       choices=("auto", "cuda", "cpu"))
    use_fp16: bool = opt(True, "Run IndexTTS in fp16 on the GPU (ignored on cpu).")
    use_cuda_kernel: bool = opt(False, "Use BigVGAN's fused CUDA activation kernel (compiled on first use).")
    use_deepspeed: bool = opt(False, "Use DeepSpeed for the GPT stage when it is installed (IndexTTS 2).")
