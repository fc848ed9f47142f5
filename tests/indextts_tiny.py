"""Write a tiny randomly initialised IndexTTS 1.5 model folder: run with IndexTTS's own Python.

    .venv-indextts/bin/python tests/indextts_tiny.py OUT_DIR

The folder has what the real IndexTTS 1.5 release has — config.yaml, gpt.pth, bigvgan_generator.pth and
a sentencepiece BPE model (trained here on a few sentences) — with small GPT and BigVGAN configs, so the
real `indextts.infer.IndexTTS` class loads it and generates (noise-like) audio on a CPU in seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

SENTENCES = [
    "HELLO THERE, THIS IS A SHORT TEST OF THE STUDIO.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    "WE SPEAK IN ORDER, ONE MESSAGE AT A TIME!",
    "NUMBERS LIKE ONE TWO THREE ARE SPELLED OUT.",
    "你好，欢迎使用语音克隆工作室。",
    "今天天气很好，我们一起去公园散步吧。",
]

CONFIG = """\
version: 1.5
dataset:
  bpe_model: bpe.model
  sample_rate: 24000
  squeeze: false
  mel:
    sample_rate: 24000
    n_fft: 1024
    hop_length: 256
    win_length: 1024
    n_mels: 100
    mel_fmin: 0
    normalize: false
gpt:
  model_dim: 64
  max_mel_tokens: 80
  max_text_tokens: 120
  heads: 2
  use_mel_codes_as_input: true
  mel_length_compression: 1024
  layers: 1
  number_text_tokens: {vocab}
  number_mel_codes: 8194
  start_mel_token: 8192
  stop_mel_token: 8193
  start_text_token: 0
  stop_text_token: 1
  train_solo_embeddings: false
  checkpointing: false
  condition_type: conformer_perceiver
  condition_module:
    output_size: 64
    linear_units: 128
    attention_heads: 2
    num_blocks: 1
    input_layer: conv2d2
    perceiver_mult: 2
bigvgan:
  resblock: "1"
  upsample_rates: [4, 4, 4, 4, 2, 2]
  upsample_kernel_sizes: [8, 8, 4, 4, 4, 4]
  upsample_initial_channel: 64
  resblock_kernel_sizes: [3]
  resblock_dilation_sizes: [[1, 3, 5]]
  feat_upsample: false
  speaker_embedding_dim: 64
  cond_d_vector_in_each_upsampling_layer: true
  gpt_dim: 64
  activation: snakebeta
  snake_logscale: true
  num_mels: 100
  n_fft: 1024
  hop_size: 256
  win_size: 1024
  sampling_rate: 24000
  fmin: 0
  fmax: null
gpt_checkpoint: gpt.pth
bigvgan_checkpoint: bigvgan_generator.pth
"""


def build(out: Path) -> None:
    import sentencepiece as spm
    import torch
    from omegaconf import OmegaConf

    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 4) + "\n", encoding="utf-8")
    # IndexTTS's tokenizer expects <s> = 0, </s> = 1 (its start/stop text tokens) and <unk> = 2
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(out / "bpe"), vocab_size=400, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, bos_id=0, eos_id=1, unk_id=2, pad_id=-1,
    )
    corpus.unlink()
    vocab = spm.SentencePieceProcessor(model_file=str(out / "bpe.model")).GetPieceSize()
    (out / "config.yaml").write_text(CONFIG.format(vocab=vocab), encoding="utf-8")
    cfg = OmegaConf.load(out / "config.yaml")

    from indextts.BigVGAN.models import BigVGAN
    from indextts.gpt.model import UnifiedVoice

    torch.manual_seed(0)
    gpt = UnifiedVoice(**cfg.gpt)
    torch.save({"model": gpt.state_dict()}, out / "gpt.pth")
    vocoder = BigVGAN(cfg.bigvgan, use_cuda_kernel=False)
    torch.save({"generator": vocoder.state_dict()}, out / "bigvgan_generator.pth")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
    print(f"tiny IndexTTS 1.5 written to {sys.argv[1]}")
