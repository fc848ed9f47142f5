"""The IndexTTS worker: runs in IndexTTS's own environment (.venv-indextts) and serves one studio.

Started by `IndexTTSEngine` as `python -m ishowtts_studio.engines.indextts_worker`; requests arrive on
stdin and answers leave on the original stdout (see `indextts_wire`). Everything IndexTTS prints goes
to stderr instead, so it can never corrupt the protocol. Imports only the standard library, numpy,
torch and `indextts`: nothing of the studio's own environment.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from ishowtts_studio.engines.indextts_wire import WorkerGone, recv, send

PROMPT_CACHE_ITEMS = 16


@contextlib.contextmanager
def hub_env_kept() -> Iterator[None]:
    """`indextts.infer*` set os.environ["HF_HUB_CACHE"] when imported; put it back afterwards. Importing
    huggingface_hub first fixes its cache path before the package can move it."""
    import huggingface_hub.constants  # noqa: F401

    saved = os.environ.get("HF_HUB_CACHE")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_CACHE", None)
        else:
            os.environ["HF_HUB_CACHE"] = saved


@contextlib.contextmanager
def offline_hub(cache: str | None) -> Iterator[None]:
    """Version 2 asks the Hub for auxiliary models: serve them from a local cache folder, never download."""
    if not cache:
        yield
        return
    import huggingface_hub.constants as hub

    saved = (hub.HF_HUB_CACHE, hub.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE"), os.environ.get("HF_HUB_CACHE"))
    hub.HF_HUB_CACHE, hub.HF_HUB_OFFLINE = cache, True
    os.environ["HF_HUB_OFFLINE"], os.environ["HF_HUB_CACHE"] = "1", cache
    try:
        yield
    finally:
        hub.HF_HUB_CACHE, hub.HF_HUB_OFFLINE = saved[0], saved[1]
        for name, value in (("HF_HUB_OFFLINE", saved[2]), ("HF_HUB_CACHE", saved[3])):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Worker:
    def __init__(self) -> None:
        self.tts: Any = None
        self.version = "1.5"
        self.device = "cpu"
        self.prompts: OrderedDict[str, Any] = OrderedDict()

    # each op returns (header, payload)
    def op_env(self, req: dict[str, Any], _: bytes) -> tuple[dict[str, Any], bytes]:
        import huggingface_hub.constants as hub

        return {"HF_HUB_CACHE": os.environ.get("HF_HUB_CACHE"), "hub_cache": hub.HF_HUB_CACHE,
                "loaded": self.tts is not None}, b""

    def op_load(self, req: dict[str, Any], _: bytes) -> tuple[dict[str, Any], bytes]:
        import importlib
        import inspect

        import torch

        self.version = req["version"]
        module = "indextts.infer_v2" if self.version == "2" else "indextts.infer"
        with hub_env_kept():
            mod = importlib.import_module(module)
        cls = mod.IndexTTS2 if self.version == "2" else mod.IndexTTS
        device = req["device"]
        kwargs: dict[str, Any] = {
            "cfg_path": os.path.join(req["model_dir"], "config.yaml"), "model_dir": req["model_dir"],
            "use_fp16": bool(req["use_fp16"]) and device != "cpu", "device": device,
            "use_cuda_kernel": bool(req["use_cuda_kernel"]) and device != "cpu",
        }
        if "use_deepspeed" in inspect.signature(cls.__init__).parameters:
            kwargs["use_deepspeed"] = bool(req["use_deepspeed"])
        with offline_hub(req.get("aux_dir") if self.version == "2" else None), hub_env_kept():
            self.tts = cls(**kwargs)
        self.device = device
        name = torch.cuda.get_device_name(0) if device.startswith("cuda") else device
        return {"version": self.version, "device": name, "use_fp16": bool(getattr(self.tts, "use_fp16", False)),
                "use_cuda_kernel": bool(getattr(self.tts, "use_cuda_kernel", False))}, b""

    def op_voice(self, req: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        """Version 1.5: the conditioning mel of a 24 kHz mono reference, cached by its key."""
        import numpy as np
        import torch
        from indextts.utils.feature_extractors import MelSpectrogramFeatures

        wav = np.frombuffer(payload, dtype=np.float32)
        with torch.inference_mode():
            mel = MelSpectrogramFeatures()(torch.from_numpy(wav.copy())[None]).to(self.device)
        self.prompts[req["key"]] = mel
        self.prompts.move_to_end(req["key"])
        while len(self.prompts) > PROMPT_CACHE_ITEMS:
            self.prompts.popitem(last=False)
        return {"frames": int(mel.shape[-1])}, b""

    def op_forget(self, req: dict[str, Any], _: bytes) -> tuple[dict[str, Any], bytes]:
        self.prompts.pop(req["key"], None)
        return {}, b""

    def op_synth(self, req: dict[str, Any], _: bytes) -> tuple[dict[str, Any], bytes]:
        import numpy as np
        import torch

        if self.tts is None:
            raise RuntimeError("the IndexTTS model is not loaded")
        torch.manual_seed(int(req["seed"]))  # sampling is seeded per chunk, like F5-TTS's noise
        kwargs = dict(req.get("kwargs") or {})
        # the GPT's position table holds max_mel_tokens (+ start/stop) positions: ask for more and it fails with
        # an index error, so longer requests are held to what this model can generate
        limit = int(self.tts.cfg.gpt.max_mel_tokens) - 1
        if int(kwargs.get("max_mel_tokens") or 0) > limit:
            print(f"max_mel_tokens {kwargs['max_mel_tokens']} held to this model's {limit}", file=sys.stderr)
            kwargs["max_mel_tokens"] = limit
        if self.version == "2":
            sr, wav = self.tts.infer(req["path"], req["text"], None, **kwargs)
        else:
            key = req["key"]
            if key not in self.prompts:
                return {"need_voice": True}, b""
            # the class's own prompt cache: its infer() skips reading the file when the key matches
            self.tts.cache_audio_prompt, self.tts.cache_cond_mel = key, self.prompts[key]
            self.prompts.move_to_end(key)
            sr, wav = self.tts.infer(key, req["text"], None, **kwargs)
        audio = np.asarray(wav)
        if np.issubdtype(audio.dtype, np.integer):
            audio = audio.astype(np.float32) / 32768.0
        audio = np.ascontiguousarray(audio.reshape(-1), dtype=np.float32)
        return {"sr": int(sr), "samples": int(audio.size)}, audio.tobytes()

    def op_memory(self, req: dict[str, Any], _: bytes) -> tuple[dict[str, Any], bytes]:
        import torch

        if not self.device.startswith("cuda"):
            return {}, b""
        mib = 1024 * 1024
        return {"allocated_mib": torch.cuda.memory_allocated() / mib,
                "reserved_mib": torch.cuda.memory_reserved() / mib,
                "peak_mib": torch.cuda.max_memory_allocated() / mib}, b""


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower()


def serve(inp: Any, out: Any) -> None:
    worker = Worker()
    while True:
        try:
            req, payload = recv(inp)
        except WorkerGone:
            return
        op = req.get("op")
        if op == "quit":
            send(out, {"ok": True})
            return
        handler = getattr(worker, f"op_{op}", None)
        try:
            if handler is None:
                raise ValueError(f"unknown request {op!r}")
            header, data = handler(req, payload)
            send(out, dict(header, ok=True), data)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            send(out, {"ok": False, "error": type(exc).__name__, "message": str(exc), "oom": _is_oom(exc)})


def main() -> None:
    # keep the real stdout for the protocol; everything printed from here on goes to stderr
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
