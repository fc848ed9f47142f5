"""Randomly initialised F5-TTS checkpoints written as real files, for machines without weights.

`--smoke` builds a tiny model (seconds on a CPU); `--random-weights full` builds the full-size
architecture (for speed measurements: speed does not depend on the weights). Both are written in
the same formats as the published files (an EMA safetensors checkpoint, a vocab.txt, a Vocos folder
with config.yaml + pytorch_model.bin) and then loaded through f5-tts's own loaders, so every code
path of the real engine runs. The audio they make is noise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from torch import nn

# tiny enough to run the whole studio on 2 CPU cores in tests, big enough to exercise every layer
TINY_ARCH: dict[str, Any] = dict(
    dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, text_mask_padding=True,
    qk_norm=None, conv_layers=2, pe_attn_head=None, attn_backend="torch", attn_mask_enabled=False,
)
TINY_VOCOS: dict[str, Any] = dict(dim=32, intermediate_dim=64, num_layers=1)
FULL_VOCOS: dict[str, Any] = dict(dim=512, intermediate_dim=1536, num_layers=8)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RandomWeights:
    checkpoint: Path
    vocab: Path
    vocoder_dir: Path
    arch: dict[str, Any]
    label: str  # "smoke" or "full"


def randomise_zeroed_layers(dit: nn.Module, seed: int = 0) -> None:
    """`DiT.initialize_weights` zeroes AdaLN and the output projection; with those at zero the model
    ignores its input and outputs a constant, and tests would prove nothing. Give them random values."""
    gen = torch.Generator().manual_seed(seed)
    layers = [blk.attn_norm.linear for blk in dit.transformer_blocks] + [dit.norm_out.linear, dit.proj_out]
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.02)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.02)


def _vocos_config(size: dict[str, Any]) -> str:
    # the same layout as charactr/vocos-mel-24khz's config.yaml, read by Vocos.from_hparams
    return (
        "feature_extractor:\n"
        "  class_path: vocos.feature_extractors.MelSpectrogramFeatures\n"
        "  init_args: {sample_rate: 24000, n_fft: 1024, hop_length: 256, n_mels: 100, padding: center}\n"
        "backbone:\n"
        "  class_path: vocos.models.VocosBackbone\n"
        f"  init_args: {{input_channels: 100, dim: {size['dim']}, intermediate_dim: {size['intermediate_dim']}, "
        f"num_layers: {size['num_layers']}}}\n"
        "head:\n"
        "  class_path: vocos.heads.ISTFTHead\n"
        f"  init_args: {{dim: {size['dim']}, n_fft: 1024, hop_length: 256, padding: center}}\n"
    )


def full_arch(model_name: str = "F5TTS_v1_Base") -> dict[str, Any]:
    """The architecture of a published model, read from the f5-tts package's own config."""
    import yaml  # plain YAML is enough: the arch block has no interpolations

    text = files("f5_tts").joinpath(f"configs/{model_name}.yaml").read_text()
    return dict(yaml.safe_load(text)["model"]["arch"])


def ensure_random_weights(cache_dir: Path, kind: str = "smoke", model_name: str = "F5TTS_v1_Base") -> RandomWeights:
    """Write (once) and return the random checkpoint files for `kind` ("smoke" or "full")."""
    from f5_tts.model import DiT
    from f5_tts.model.utils import get_tokenizer
    from safetensors.torch import save_file
    from vocos import Vocos

    if kind not in ("smoke", "full"):
        raise ValueError(f"random weights kind must be 'smoke' or 'full', not {kind!r}")
    arch = TINY_ARCH if kind == "smoke" else full_arch(model_name)
    vocos_size = TINY_VOCOS if kind == "smoke" else FULL_VOCOS
    tag = hashlib.sha256(json.dumps([FORMAT_VERSION, arch, vocos_size], sort_keys=True).encode()).hexdigest()[:12]
    target = Path(cache_dir).expanduser() / f"random-{kind}-{tag}"
    weights = RandomWeights(
        checkpoint=target / "model.safetensors", vocab=target / "vocab.txt", vocoder_dir=target / "vocos",
        arch=dict(arch), label=kind,
    )
    if (target / "COMPLETE").exists():
        return weights

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".random-{kind}-", dir=target.parent))
    try:
        vocab_src = Path(str(files("f5_tts").joinpath("infer/examples/vocab.txt")))
        shutil.copyfile(vocab_src, tmp / "vocab.txt")
        _, vocab_size = get_tokenizer(str(tmp / "vocab.txt"), "custom")
        torch.manual_seed(0)
        dit = DiT(**arch, text_num_embeds=vocab_size, mel_dim=100)
        randomise_zeroed_layers(dit, seed=1)
        # published checkpoints hold the EMA copy under "ema_model."; write the same layout
        state = {f"ema_model.transformer.{k}": v.contiguous() for k, v in dit.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        (tmp / "vocos").mkdir()
        (tmp / "vocos" / "config.yaml").write_text(_vocos_config(vocos_size))
        vocos = Vocos.from_hparams(str(tmp / "vocos" / "config.yaml"))
        torch.save(vocos.state_dict(), tmp / "vocos" / "pytorch_model.bin")
        (tmp / "COMPLETE").write_text(json.dumps({"kind": kind, "arch": arch}))
        if target.exists():  # a half-written folder from an interrupted run
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return weights
