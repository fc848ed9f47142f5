"""The IndexTTS engine (optional extra): the official `indextts` code, run in a worker process.

IndexTTS (PyPI `tts-webui-index-tts`) pins transformers 4.52.1, which needs huggingface_hub < 1, while
Gradio 6 needs huggingface_hub >= 1: the two cannot share one environment. So IndexTTS lives in its own
virtual environment (`.venv-indextts`, `bash install.sh --with-indextts`) and runs in a worker process
(`indextts_worker.py`) that this engine starts and talks to over pipes. To the runtime it is an engine
like F5-TTS: it loads, prepares voices, synthesises chunks and unloads (the worker exits, freeing its GPU
memory). Audio is read and resampled here with soundfile + soxr; the worker drives the real
`IndexTTS`/`IndexTTS2` classes and their own `infer`, in memory.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ishowtts_studio.audio import read_audio, resample
from ishowtts_studio.engines import indextts_wire as wire
from ishowtts_studio.engines.base import ChunkAudio, ChunkJob, EngineInfo, EngineUnavailable, ReadyCallback, VoiceRef
from ishowtts_studio.engines.indextts_options import EMOTIONS, IndexTTSOptions  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000  # the studio's rate; version 2 renders 22.05 kHz and is resampled to it
HOP = 256  # frames are counted at the studio's 24 kHz / 256 hop, as for F5-TTS
PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "bash install.sh --with-indextts"
VERSIONS = ("auto", "1.5", "2")
LOAD_TIMEOUT_S = 900.0

Progress = Callable[[float, str], None]


def read_model_config(model_dir: Path) -> dict[str, Any]:
    import yaml

    path = model_dir / "config.yaml"
    if not path.is_file():
        raise EngineUnavailable(
            f"The IndexTTS model folder {model_dir} has no config.yaml (indextts.model_dir in config.toml). "
            "Download a model into it, e.g. `hf download IndexTeam/IndexTTS-1.5 --local-dir "
            f"{model_dir}`, or leave IndexTTS unused."
        )
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception as exc:
        raise EngineUnavailable(f"{path} is not a readable YAML file ({exc}).") from exc
    if not isinstance(cfg, dict):
        raise EngineUnavailable(f"{path} is not an IndexTTS config (expected a mapping).")
    return cfg


def detect_version(cfg: dict[str, Any]) -> str:
    """Version 2 configs describe the semantic-to-mel stage (`s2mel`); 1.x configs do not."""
    return "2" if "s2mel" in cfg else "1.5"


def missing_files(model_dir: Path, cfg: dict[str, Any], version: str) -> list[str]:
    keys = ["gpt_checkpoint"]
    keys += ["s2mel_checkpoint", "w2v_stat", "emo_matrix", "spk_matrix"] if version == "2" else ["bigvgan_checkpoint"]
    wanted = [str(cfg.get(k, "")) for k in keys] + [str((cfg.get("dataset") or {}).get("bpe_model", ""))]
    return [w or "(not named in config.yaml)" for w in wanted if not w or not (model_dir / w).is_file()]




class _WorkerProcess:
    """One IndexTTS worker process and its pipes; requests are strictly one at a time."""

    def __init__(self, python: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [str(python), "-m", "ishowtts_studio.engines.indextts_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(PROJECT_ROOT), env=env,
        )
        self.stderr_tail: list[str] = []
        self._drain = threading.Thread(target=self._read_stderr, name="indextts-stderr", daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            log.debug("indextts worker: %s", line)
            self.stderr_tail = (self.stderr_tail + [line])[-20:]

    def request(self, header: dict[str, Any], payload: bytes = b"") -> tuple[dict[str, Any], bytes]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            wire.send(self.proc.stdin, header, payload)
            reply, data = wire.recv(self.proc.stdout)
        except (wire.WorkerGone, BrokenPipeError, OSError) as exc:
            code = self.proc.wait(timeout=10)
            tail = " | ".join(self.stderr_tail[-3:])
            raise WorkerStopped(f"The IndexTTS worker stopped (exit code {code}){': ' + tail if tail else ''}. "
                                "It restarts on the next request.") from exc
        if not reply.pop("ok", False):
            raise WorkerError(reply.get("error", "Error"), reply.get("message", ""), bool(reply.get("oom")))
        reply.pop("nbytes", None)
        return reply, data

    def close(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                self.request({"op": "quit"})
            except Exception:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


class WorkerStopped(RuntimeError):
    """The worker process exited; the engine counts as unloaded and loads again when next needed."""


class WorkerError(RuntimeError):
    def __init__(self, kind: str, message: str, oom: bool) -> None:
        # "out of memory" stays in the text so the runtime's OOM handling recognises it
        super().__init__(f"IndexTTS {kind}: {message}" + (" (out of memory)" if oom and "memory" not in message
                                                           else ""))
        self.kind, self.oom = kind, oom


@dataclass
class _Prompt:
    key: str
    ref_samples: int
    ref_text_bytes: int
    sent: bool = False  # the worker holds this voice's conditioning


class IndexTTSEngine:
    name = "indextts"
    label = "IndexTTS"
    sample_rate = SAMPLE_RATE
    hop_length = HOP
    max_batch = 1  # it generates one utterance at a time: a bigger batch would only delay the first one's audio

    def __init__(
        self,
        *,
        model_dir: str = "",
        version: str = "auto",
        python: str = "",
        use_fp16: bool = True,
        use_cuda_kernel: bool = False,
        use_deepspeed: bool = False,
        device: str = "auto",
        aux_dir: str = "",
        ref_cache_items: int = 16,
    ) -> None:
        self.model_dir = Path(model_dir).expanduser() if model_dir else None
        self.version_spec = version
        self.python = Path(python).expanduser() if python else PROJECT_ROOT / ".venv-indextts" / "bin" / "python"
        self.use_fp16, self.use_cuda_kernel, self.use_deepspeed = use_fp16, use_cuda_kernel, use_deepspeed
        self.device_spec = device
        self.aux_dir = Path(aux_dir).expanduser() if aux_dir else None
        self.ref_cache_items = ref_cache_items
        self.random_weights: str | None = None
        self.version: str | None = None
        self.worker: _WorkerProcess | None = None
        self.loaded_info: dict[str, Any] = {}
        self._prompts: OrderedDict[str, _Prompt] = OrderedDict()
        self._lock = threading.Lock()
        self._stats = {"ref_cache_hits": 0, "ref_cache_misses": 0}

    # ---- availability and loading ---------------------------------------------------------
    def check(self) -> str:
        """Raise EngineUnavailable with the fix when this engine cannot load; else return the version."""
        if not self.python.exists():
            raise EngineUnavailable(
                f"IndexTTS is not installed (it is an optional extra with its own environment, {self.python}). "
                f"Install it with: {INSTALL_HINT}"
            )
        if self.model_dir is None:
            raise EngineUnavailable(
                "No IndexTTS model is configured. Set indextts.model_dir in config.toml to a folder holding an "
                "IndexTTS 1.5 or 2 model (config.yaml, gpt.pth, bpe.model, ...)."
            )
        cfg = read_model_config(self.model_dir)
        version = detect_version(cfg) if self.version_spec == "auto" else self.version_spec
        missing = missing_files(self.model_dir, cfg, version)
        if missing:
            raise EngineUnavailable(
                f"The IndexTTS {version} model folder {self.model_dir} lacks {', '.join(missing)}. Download the "
                "complete model folder (indextts.model_dir in config.toml)."
            )
        if version == "2" and (self.aux_dir is None or not self.aux_dir.is_dir()):
            raise EngineUnavailable(
                "IndexTTS 2 needs its auxiliary models (facebook/w2v-bert-2.0, amphion/MaskGCT, funasr/campplus and "
                "its BigVGAN) in a local Hugging Face cache folder: set indextts.aux_dir in config.toml."
            )
        return version

    def _device(self) -> str:
        if self.device_spec == "cpu":
            return "cpu"
        import torch

        if self.device_spec == "cuda" and not torch.cuda.is_available():
            raise EngineUnavailable("indextts.device is 'cuda' but PyTorch sees no CUDA GPU; set it to auto or cpu.")
        return "cuda:0" if torch.cuda.is_available() else "cpu"

    @property
    def loaded(self) -> bool:
        return self.worker is not None and self.worker.alive

    def load(self, progress: Progress | None = None) -> EngineInfo:
        say = progress or (lambda f, m: log.info("%3.0f%% %s", f * 100, m))
        version = self.check()
        self.unload()
        say(0.1, f"starting the IndexTTS {version} worker")
        worker = _WorkerProcess(self.python)
        assert self.model_dir is not None
        say(0.3, f"loading IndexTTS {version} from {self.model_dir}")
        try:
            reply, _ = worker.request({
                "op": "load", "version": version, "model_dir": str(self.model_dir), "device": self._device(),
                "use_fp16": self.use_fp16, "use_cuda_kernel": self.use_cuda_kernel,
                "use_deepspeed": self.use_deepspeed, "aux_dir": str(self.aux_dir) if self.aux_dir else None,
            })
        except (WorkerError, WorkerStopped) as exc:
            worker.close()
            raise EngineUnavailable(f"IndexTTS {version} failed to load from {self.model_dir}: {exc}") from exc
        self.worker, self.version, self.loaded_info = worker, version, reply
        with self._lock:
            for p in self._prompts.values():
                p.sent = False
        say(0.9, "IndexTTS ready")
        return self.info()

    def unload(self) -> None:
        """Stop the worker: its process exits and its GPU memory goes back to the system."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.close()

    close = unload

    def info(self) -> EngineInfo:
        i = self.loaded_info
        return EngineInfo(
            name=self.name, device=str(i.get("device", "not loaded")),
            precision="fp16" if i.get("use_fp16") else "fp32", sample_rate=SAMPLE_RATE, smoke=False,
            random_weights=False,
            fast_path={"version": self.version, "use_cuda_kernel": bool(i.get("use_cuda_kernel")),
                       "use_deepspeed": self.use_deepspeed,
                       "worker_pid": self.worker.proc.pid if self.worker else None},
        )

    def _request(self, header: dict[str, Any], payload: bytes = b"") -> tuple[dict[str, Any], bytes]:
        if self.worker is None:
            raise EngineUnavailable("The IndexTTS engine is not loaded.")
        try:
            return self.worker.request(header, payload)
        except WorkerStopped:
            self.worker = None
            raise

    def worker_env(self) -> dict[str, Any]:
        """The worker's view of the Hub cache settings (the HF_HUB_CACHE isolation is tested on it)."""
        return self._request({"op": "env"})[0]

    # ---- voices -----------------------------------------------------------------------------
    def _prompt(self, voice: VoiceRef) -> tuple[_Prompt, bool]:
        key = f"voice:{voice.content_hash}"
        with self._lock:
            hit = self._prompts.get(key)
            if hit is not None:
                self._prompts.move_to_end(key)
        wav = None
        if hit is None:
            wav, _ = read_audio(voice.audio_path, target_sr=SAMPLE_RATE)
            hit = _Prompt(key=key, ref_samples=len(wav), ref_text_bytes=max(1, len(voice.transcript.encode("utf-8"))))
            with self._lock:
                self._prompts[key] = hit
                while len(self._prompts) > self.ref_cache_items:
                    self._prompts.popitem(last=False)
        cached = hit.sent or self.version == "2"
        if not cached and self.worker is not None:
            if wav is None:
                wav, _ = read_audio(voice.audio_path, target_sr=SAMPLE_RATE)
            self._request({"op": "voice", "key": key}, wav.astype(np.float32).tobytes())
            hit.sent = True
        with self._lock:
            self._stats["ref_cache_hits" if cached else "ref_cache_misses"] += 1
        return hit, cached

    def prepare_voice(self, voice: VoiceRef) -> bool:
        return self._prompt(voice)[1]

    def forget_voice(self, voice: VoiceRef) -> None:
        key = f"voice:{voice.content_hash}"
        with self._lock:
            self._prompts.pop(key, None)
        if self.loaded:
            self._request({"op": "forget", "key": key})

    def estimate_frames(self, voice: VoiceRef, text: str, speed: float) -> tuple[int, int]:
        """IndexTTS decides the length as it generates; this estimate (the reference's frames per transcript
        byte) only feeds progress and the studio's 'estimated audio' figure."""
        prompt, _ = self._prompt(voice)
        ref_frames = prompt.ref_samples // HOP
        gen = int(ref_frames / prompt.ref_text_bytes * len(text.encode("utf-8")) / max(speed, 0.3))
        return ref_frames + max(gen, 1), ref_frames

    # ---- synthesis ----------------------------------------------------------------------------
    def synthesize(self, jobs: list[ChunkJob], on_ready: ReadyCallback | None = None) -> list[ChunkAudio]:
        out = []
        for index, job in enumerate(jobs):  # IndexTTS generates one utterance at a time
            prompt, _ = self._prompt(job.voice)
            options = job.extra.get("indextts") or IndexTTSOptions()
            header = {"op": "synth", "key": prompt.key, "path": str(job.voice.audio_path), "text": job.text,
                      "seed": job.seed, "kwargs": options.infer_kwargs(self.version or "1.5")}
            reply, data = self._request(header)
            if reply.get("need_voice"):  # the worker's own cache dropped it: send it again
                prompt.sent = False
                self._prompt(job.voice)
                reply, data = self._request(header)
            audio = np.frombuffer(data, dtype=np.float32)
            if reply["sr"] != SAMPLE_RATE:
                audio = resample(audio, int(reply["sr"]), SAMPLE_RATE)
            ref_frames = prompt.ref_samples // HOP
            out.append(ChunkAudio(audio=np.array(audio, dtype=np.float32),
                                  duration_frames=ref_frames + len(audio) // HOP, ref_frames=ref_frames))
            if on_ready is not None:
                on_ready(index, out[-1])
        return out

    def warmup(self, voices: list[VoiceRef], nfe: int = 0, progress: Progress | None = None) -> None:
        for voice in voices[:2]:
            self.prepare_voice(voice)

    def memory_stats(self) -> dict[str, float]:
        if not self.loaded:
            return {}
        return {k: float(v) for k, v in self._request({"op": "memory"})[0].items()}

    def idle_work(self) -> bool:
        return False  # nothing to prepare ahead: each request is one generate call in the worker

    def cache_stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats, ref_cache_items=len(self._prompts))
