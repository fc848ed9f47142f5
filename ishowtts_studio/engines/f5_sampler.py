"""A fast sampler that computes the same function as `f5_tts.model.CFM.sample`.

Same maths as the stock sampler: EPSS timesteps, sway sampling, classifier-free guidance with the
conditional and unconditional passes packed into one batch, Euler steps, the same duration rule
and the same per-request noise (seeded exactly like `CFM.sample`).

What is different is only how the work is laid out, to cut launch overhead and Python time:
- text embeddings (conditional and unconditional) are computed once per request at the request's
  own length, so padding never changes them (the text ConvNeXt's GRN norms over the sequence);
- the time embedding and every block's AdaLN modulation are precomputed for the whole schedule and
  kept per (NFE, sway); the unconditional text embedding is kept per (text length, length);
- the constant part of the input projection (reference mel + text) is computed once;
- requests of different lengths can share one padded batch; padded keys are masked in attention (a bias, or
  on the GPU FlashAttention-2's variable-length kernel over each row's own frames) and
  padded frames are masked in the convolutional position embedding, so a request's result does
  not depend on what it is batched with or which length bucket it lands in;
- for the published layout the step is head / block / tail pure functions of their weights: each
  block ends with the next layer's modulated norm; optionally compiled with `torch.compile` (one
  graph per function, dynamic batch and length), with cuDNN attention, with the position
  convolutions as a Triton kernel and the feed-forward GELU in the GEMM epilogue (`f5_kernels`);
- optionally the per-step forward is captured in a CUDA graph per (batch, length bucket).

The model's own sub-modules (and their weights) are called; nothing of f5-tts is copied.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from f5_tts.model.utils import get_epss_timesteps
from x_transformers.x_transformers import apply_rotary_pos_emb

from ishowtts_studio.engines.f5_blocks import fusable, fused_block, fused_head, fused_tail
from ishowtts_studio.engines.f5_fp8 import Fp8Weight, fp8_supported

log = logging.getLogger(__name__)


@dataclass
class SampleItem:
    cond_mel: torch.Tensor  # (ref_frames, n_mels), float32, on the model's device
    text_ids: torch.Tensor  # (n_tokens,) long, on the model's device
    duration: int  # requested total frames (reference + generated)
    seed: int


def schedule(nfe: int, sway_coef: float | None, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The ODE time grid `CFM.sample` uses: EPSS for low NFE, then sway sampling."""
    t = get_epss_timesteps(nfe, device=device, dtype=dtype)
    if sway_coef is not None:
        t = t + sway_coef * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return t


def effective_duration(n_text: int, ref_frames: int, requested: int, max_duration: int = 65536) -> int:
    """`CFM.sample`'s rule: at least the text or reference length plus one frame, at most max_duration."""
    return min(max(max(n_text, ref_frames) + 1, requested), max_duration)


def split_offsets(lengths: list[int], length: int) -> list[int]:
    """Sequence offsets for variable-length attention over rows padded to `length` frames: each row is two
    sequences, its own frames and then its padding (empty when the row is full)."""
    offsets = [0]
    for row, frames in enumerate(lengths):
        offsets += [row * length + frames, (row + 1) * length]
    return offsets


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device` without waiting for the GPU: PyTorch copies from ordinary host memory and then
    synchronises the stream (everything queued before must finish), while a copy from page-locked memory is queued
    like any kernel (and the page-locked block is not reused before it has run)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def round_up(n: int, multiple: int) -> int:
    return n if multiple <= 1 else int(math.ceil(n / multiple) * multiple)


def _mark_dynamic(*tensors: torch.Tensor | None, dims: tuple[int, ...] = (0, 1)) -> None:
    """Tell torch.compile that batch and length vary, so one compiled graph serves every shape."""
    for t in tensors:
        if t is not None:
            for d in dims:
                torch._dynamo.maybe_mark_dynamic(t, d)


class F5Sampler:
    """Batched, bucketed sampler over a loaded `CFM` (its `transformer` must be a `DiT`)."""

    def __init__(
        self,
        cfm: Any,
        *,
        bucket_frames: int = 1,
        cuda_graphs: bool = False,
        compile_model: bool = False,
        attention: str = "flash",
        triton_conv: bool = False,
        gelu_epilogue: bool = False,
        max_graphs: int = 32,
        share_graph_memory: bool = True,
        fp8_gemms: bool = False,
        padded_attention: str = "bias",
    ) -> None:
        self.cfm = cfm
        self.attention = attention
        self.max_graphs = max_graphs
        self.dit = cfm.transformer
        self.bucket_frames = max(1, bucket_frames)
        self.device = next(cfm.parameters()).device
        self.dtype = next(cfm.parameters()).dtype
        self.n_mels = cfm.num_channels
        self.use_graphs = cuda_graphs and self.device.type == "cuda"
        self._graphs: dict[tuple[int, int, bool, bool], _StepGraph] = {}  # LRU, at most max_graphs
        self._pinned: dict[tuple[int, int, bool, bool], _StepGraph] = {}  # prepared ahead; never evicted
        # All graphs run one at a time on one stream, so they can share one memory pool for their intermediates
        # and one set of input buffers (`_buffer`): memory is that of the largest graph, not the sum of all.
        self.share_graph_memory = share_graph_memory
        self._pool: Any = None
        self._capture_stream: Any = None
        self._arena: dict[str, torch.Tensor] = {}
        # lengths served unpadded (exact) at batch 1: a length met a second time is queued for an exact graph,
        # prepared off the request's path (`prepare_pending`); until then it is served from its padded bucket
        self._exact_ready: set[tuple[int, int, bool]] = set()
        self._sightings: dict[tuple[int, int, bool], int] = {}
        # graphs (batch, length, cfg, padded) queued for preparation between requests: met on a request's way
        # (an exact length met twice, a padded batch met once), then those queued ahead of need (a voice's
        # chat-line lengths), which are pinned
        self._pending: list[tuple[int, int, bool, bool]] = []
        self._pending_pinned: list[tuple[int, int, bool, bool]] = []
        self._captured_kinds: set[tuple[bool, bool]] = set()
        self._schedules: dict[tuple[int, float | None], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._uncond: dict[tuple[int, int], torch.Tensor] = {}
        self._lock = threading.Lock()
        # shapes (batch, length, cfg, padded) met so far, and how often a sample call met a new one or had to
        # capture a graph first: the cost live traffic pays when it is not prepared ahead
        self._shapes_seen: set[tuple[int, int, bool, bool]] = set()
        self.shape_stats = {"new_shapes": 0, "graph_captures": 0, "padded_batches": 0, "padded_batch_items": 0}
        dit = self.dit
        # split the input projection: [x | cond | text] -> dim; only the x part changes per step
        w = dit.input_embed.proj.weight
        self._w_x = w[:, : self.n_mels]
        self._w_static = w[:, self.n_mels :]
        self._b_in = dit.input_embed.proj.bias
        self.fused = fusable(dit)
        if self.fused:
            # each block's weights as plain tensors (q, k and v as one GEMM), so the block is a pure
            # function of them and one compiled graph serves all blocks
            self._block_weights = [
                tuple(t.detach() for t in (
                    torch.cat((b.attn.to_q.weight, b.attn.to_k.weight, b.attn.to_v.weight)),
                    torch.cat((b.attn.to_q.bias, b.attn.to_k.bias, b.attn.to_v.bias)),
                    b.attn.to_out[0].weight, b.attn.to_out[0].bias,
                    b.ff.ff[0][0].weight, b.ff.ff[0][0].bias, b.ff.ff[2].weight, b.ff.ff[2].bias,
                ))
                for b in dit.transformer_blocks
            ]
            conv = dit.input_embed.conv_pos_embed.conv1d
            self._conv = tuple(t.detach() for t in (conv[0].weight, conv[0].bias, conv[2].weight, conv[2].bias))
            self._conv_groups = conv[0].groups
        # the feed-forward's GELU in the GEMM epilogue (cuBLASLt) and the position convolutions as hand-written
        # Triton kernels (CUDA only; without Triton, e.g. some Jetson builds of PyTorch, both stay off)
        on_gpu = self.fused and self.device.type == "cuda"
        self.gelu_epilogue = bool(gelu_epilogue and on_gpu)
        self.triton_conv = bool(triton_conv and on_gpu)
        if self.gelu_epilogue or self.triton_conv:
            try:
                import ishowtts_studio.engines.f5_kernels  # noqa: F401  (registers the custom ops)
            except ImportError as exc:
                log.warning("fused kernels off: %s", exc)
                self.gelu_epilogue = self.triton_conv = False
        # `engine.attention = "triton"`: unpadded rows through the Triton attention kernel (f5_attention), padded
        # ones as `padded_attention` says (the same kernel with "triton", the default; else cuDNN with the padding
        # bias); CUDA and half precision only, elsewhere cuDNN / PyTorch's choice
        # fused path, CUDA, half precision: the domain of the attention kernels chosen below (FlashAttention-2's
        # variable-length one and the Triton one)
        usable = on_gpu and self.dtype in (torch.float16, torch.bfloat16)
        attn = self.dit.transformer_blocks[0].attn
        head_dim = attn.to_q.out_features // attn.heads  # the kernel's tiles need a power of two, at least 16
        self.triton_attention = bool(attention == "triton" and usable
                                     and head_dim >= 16 and head_dim & (head_dim - 1) == 0)
        if self.triton_attention:
            try:
                import ishowtts_studio.engines.f5_attention  # noqa: F401  (registers the custom op)
            except ImportError as exc:
                log.warning("engine.attention = %s: %s; cuDNN attention instead", attention, exc)
                self.triton_attention = False
        if self.triton_conv:
            from ishowtts_studio.engines.f5_kernels import arrange_weight

            w1, b1, w2, b2 = self._conv
            self._conv = (arrange_weight(w1, self._conv_groups), b1, arrange_weight(w2, self._conv_groups), b2)
        # FP8 GEMMs in the blocks (`engine.fp8_gemms`): native on FP8 tensor cores in bf16, emulated elsewhere
        # (CPU tests); the fused path only, since the blocks' four GEMMs are where the matrix time goes
        self.fp8 = bool(fp8_gemms and self.fused)
        self.fp8_native = self.fp8 and self.dtype == torch.bfloat16 and fp8_supported(self.device)
        if fp8_gemms and self.device.type == "cuda" and not self.fp8_native:
            log.warning("engine.fp8_gemms: no FP8 tensor cores in %s (needs compute capability 8.9+, bf16); "
                        "FP8 GEMMs off", self.dtype)
            self.fp8 = False
        if self.fp8:
            self._block_weights = [
                (Fp8Weight.of(qkv), bqkv, Fp8Weight.of(wo), bo, Fp8Weight.of(w1), b1, Fp8Weight.of(w2), b2)
                for qkv, bqkv, wo, bo, w1, b1, w2, b2 in self._block_weights
            ]
        # padded rows in attention (`engine.padded_attention`): "varlen_flash" runs FlashAttention-2's variable-length
        # kernel over each row's frames (where `usable`); "triton" the Triton attention kernel with the same offsets
        # (where that kernel is in use, else as "bias"); "bias" masks the padding in dense attention (everywhere
        # else too, e.g. the CPU tests). Bias and varlen_flash measured alike on an H200.
        self.padded_triton = padded_attention == "triton" and self.triton_attention
        self.varlen = usable and (padded_attention == "varlen_flash" or self.padded_triton)
        self._forward = self._velocity_packed
        self._head, self._blockfn, self._tail = fused_head, fused_block, fused_tail
        # torch.compile of the fused path: head, one block (shared by all blocks) and tail compiled
        # separately, with batch and length dynamic, so a handful of small graphs compile once
        # for every shape; the compiled code runs inside our own per-shape CUDA graphs
        # (GPU only: on the CPU, inductor's C++ compilation would cost minutes for little)
        self.compiled = bool(compile_model and self.fused and self.device.type == "cuda")
        if self.compiled:
            self._head = torch.compile(fused_head, dynamic=None, fullgraph=True)
            self._blockfn = torch.compile(fused_block, dynamic=None, fullgraph=True)
            self._tail = torch.compile(fused_tail, dynamic=None, fullgraph=True)

    # ---- public -------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(
        self, items: list[SampleItem], *, nfe: int, cfg_strength: float, sway_coef: float | None,
        length: int | None = None, force_padded: bool = False,
    ) -> list[torch.Tensor]:
        """Return each item's mel, (duration, n_mels), with the reference frames restored.

        The batch runs at `length` frames (default: the longest item rounded up to `bucket_frames`); with
        `force_padded` it takes the masked (padded) path even when every item fills it, so one padded graph
        per bucket serves every length in it."""
        if not items:
            return []
        dev, dt = self.device, self.dtype
        durations = [
            effective_duration(int(it.text_ids.numel()), int(it.cond_mel.shape[0]), it.duration) for it in items
        ]
        batch = len(items)
        if length is None:
            length = round_up(max(durations), self.bucket_frames)
        if length < max(durations):
            raise ValueError(f"batch length {length} is shorter than its longest item ({max(durations)} frames)")
        use_cfg = cfg_strength >= 1e-5
        padded = force_padded or any(d != length for d in durations)

        # per-request pieces at their own length, then zero-padded to the bucket
        cond = torch.zeros(batch, length, self.n_mels, device=dev, dtype=dt)
        cond_mask = torch.zeros(batch, length, 1, device=dev, dtype=torch.bool)
        text_c = torch.zeros(batch, length, self._text_dim(), device=dev, dtype=dt)
        text_u = torch.zeros_like(text_c) if use_cfg else None
        x = torch.zeros(batch, length, self.n_mels, device=dev, dtype=dt)
        valid = torch.zeros(batch, length, device=dev, dtype=torch.bool)
        for i, (it, dur) in enumerate(zip(items, durations)):
            ref = it.cond_mel.to(dt)[:dur]
            cond[i, : ref.shape[0]] = ref
            cond_mask[i, : ref.shape[0]] = True
            ids = it.text_ids.view(1, -1)
            text_c[i, :dur] = self.dit.text_embed(ids, seq_len=dur, drop_text=False)[0]
            if text_u is not None:
                text_u[i, :dur] = self._uncond_text(ids, dur)
            # noise exactly as CFM.sample draws it: reseeded per request, at its own length
            gen = torch.Generator(device=dev).manual_seed(int(it.seed))
            x[i, :dur] = torch.randn(dur, self.n_mels, generator=gen, device=dev, dtype=dt)
            valid[i, :dur] = True

        # constant part of the input projection: cond half sees the reference, uncond half sees zeros
        if use_cfg:
            static = torch.cat(
                (
                    F.linear(torch.cat((cond, text_c), dim=-1), self._w_static, self._b_in),
                    F.linear(torch.cat((torch.zeros_like(cond), text_u), dim=-1), self._w_static, self._b_in),
                ),
                dim=0,
            )
            mask = torch.cat((valid, valid), dim=0)
        else:
            static = F.linear(torch.cat((cond, text_c), dim=-1), self._w_static, self._b_in)
            mask = valid
        conv_mask = mask if padded else None
        attn_bias = cu_seqlens = None
        if padded and self.varlen:
            rows = durations * 2 if use_cfg else durations
            cu_seqlens = to_device(torch.tensor(split_offsets(rows, length), dtype=torch.int32), dev)
        elif padded:
            attn_bias = torch.zeros(mask.shape[0], 1, 1, length, device=dev, dtype=dt)
            attn_bias.masked_fill_(~mask.view(mask.shape[0], 1, 1, length), float("-inf"))
        shape = (batch, length, use_cfg, padded)
        if padded and batch > 1:  # a padded batch of several requests (`engine.batch_padding`)
            self.shape_stats["padded_batches"] += 1
            self.shape_stats["padded_batch_items"] += batch
        if shape not in self._shapes_seen:
            self._shapes_seen.add(shape)
            self.shape_stats["new_shapes"] += 1
        rope = None if self.use_graphs else self.rope_tables(length)  # a graph holds its own tables
        t, block_mods, final_mods = self._schedule(nfe, sway_coef)
        cfg = torch.full((), cfg_strength, device=dev, dtype=dt)  # a fill, not a copy that waits for the GPU
        with self._attention_backend():
            x = self._integrate(x, static, cfg, conv_mask, attn_bias, cu_seqlens, rope, t, block_mods, final_mods,
                                nfe, batch, length, use_cfg, padded)
        out = torch.where(cond_mask, cond, x)
        return [out[i, :dur] for i, dur in enumerate(durations)]

    def _integrate(self, x: torch.Tensor, static: torch.Tensor, cfg: torch.Tensor, conv_mask: torch.Tensor | None,
                   attn_bias: torch.Tensor | None, cu_seqlens: torch.Tensor | None, rope: tuple[torch.Tensor, Any],
                   t: torch.Tensor,
                   block_mods: torch.Tensor, final_mods: torch.Tensor, nfe: int, batch: int, length: int,
                   use_cfg: bool, padded: bool) -> torch.Tensor:
        """The Euler steps: replays of the shape's CUDA graph, or the forward called step by step."""
        dt = self.dtype
        if self.use_graphs:
            graph = self._graph_for(batch, length, use_cfg, padded)
            graph.load(x, static, cfg, conv_mask, attn_bias, cu_seqlens, block_mods, final_mods, t[1:] - t[:-1])
            for _ in range(nfe):
                graph.graph.replay()
            x = graph.x.clone()
        else:
            for k in range(nfe):
                v = self._forward(x, static, block_mods[k], final_mods[k], cfg, conv_mask, attn_bias, cu_seqlens,
                                  rope, use_cfg)
                x = x + (t[k + 1] - t[k]).to(dt) * v
        return x

    # ---- internals --------------------------------------------------------------------------
    def _attention_backend(self) -> contextlib.AbstractContextManager:
        """cuDNN's attention (Hopper-tuned kernels) first when asked for (with "triton", for the padded rows the
        Triton kernel does not serve), else PyTorch's own choice."""
        if self.attention not in ("cudnn", "triton") or self.device.type != "cuda":
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        order = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                 SDPBackend.MATH]
        return sdpa_kernel(order, set_priority=True)

    def _schedule(self, nfe: int, sway_coef: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Time grid and every step's AdaLN modulations; they depend only on (NFE, sway), so they are kept.

        The grid is computed in fp32: in bf16 neighbouring EPSS/sway times round to the same value (f5-tts's
        own sampler then refuses NFE 16 in bf16); in fp32 this is exactly CFM.sample's grid."""
        key = (nfe, sway_coef)
        with self._lock:
            hit = self._schedules.pop(key, None)
            if hit is None:
                t = schedule(nfe, sway_coef, self.device, torch.float32)
                hit = (t, *self._modulations(t[:-1]))
                while len(self._schedules) >= 8:
                    self._schedules.pop(next(iter(self._schedules)))
            self._schedules[key] = hit
        return hit

    def _uncond_text(self, ids: torch.Tensor, dur: int) -> torch.Tensor:
        """The text embedding of the unconditional pass: f5-tts zeroes the tokens but keeps the text's own
        padding mask, so it depends only on the number of tokens and the length (ids are >= 0 for a single
        text; -1 appears only as batch padding, which SampleItem never carries). Kept LRU."""
        key = (min(int(ids.shape[-1]), dur), dur)
        with self._lock:
            hit = self._uncond.pop(key, None)
        if hit is None:
            hit = self.dit.text_embed(ids, seq_len=dur, drop_text=True)[0]
        with self._lock:
            self._uncond[key] = hit
            while len(self._uncond) > 32:
                self._uncond.pop(next(iter(self._uncond)))
        return hit

    def _text_dim(self) -> int:
        return self.dit.text_embed.text_embed.embedding_dim

    def _modulations(self, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """AdaLN modulations for every step: blocks (steps, depth, 1, 6*dim), final (steps, 1, 2*dim)."""
        # one row per step; sinusoidal features in fp32, then the MLP in the model's precision
        hidden = self.dit.time_embed.time_embed(times).to(self.dtype)
        temb = self.dit.time_embed.time_mlp(hidden)
        silu = F.silu(temb)
        blocks = torch.stack([blk.attn_norm.linear(silu) for blk in self.dit.transformer_blocks], dim=1)
        final = self.dit.norm_out.linear(silu)
        if self.fused:
            # the fused path hands (1 + scale) to layer_norm as its weight; add the 1 once, here
            dim = self.dit.dim
            blocks = blocks.view(*blocks.shape[:2], 6, dim).clone()
            blocks[:, :, 1] += 1
            blocks[:, :, 4] += 1
            blocks = blocks.flatten(2)
            final = final.clone()
            final[:, :dim] += 1
        return blocks.unsqueeze(2), final.unsqueeze(1)

    def rope_tables(self, length: int) -> tuple[torch.Tensor, Any]:
        """Rotary tables for one length: (freqs, xpos) for the reference path, (cos, signed sin) fused."""
        freqs, xpos = self.dit.rotary_embed.forward_from_seq_len(length)
        if not self.fused:
            return freqs, xpos
        d = freqs.shape[-1]
        # rotate_half pairs (2i, 2i+1): out[2i] = -x[2i+1], out[2i+1] = x[2i]; fold the sign into sin
        sign = torch.ones(d, device=freqs.device, dtype=freqs.dtype)
        sign[0::2] = -1.0  # fills on the device (a table copied from the host would wait for the GPU)
        cos = freqs.cos().view(1, length, 1, 1, d)
        sin = (freqs.sin() * sign).view(1, length, 1, 1, d)
        return cos, sin

    def _velocity_packed(
        self,
        x: torch.Tensor,
        static: torch.Tensor,
        block_mods: torch.Tensor,
        final_mod: torch.Tensor,
        cfg: torch.Tensor,
        conv_mask: torch.Tensor | None,
        attn_bias: torch.Tensor | None,
        cu_seqlens: torch.Tensor | None,
        rope: tuple[torch.Tensor, Any],
        use_cfg: bool,
    ) -> torch.Tensor:
        """Guided velocity at one step: DiT forward over [cond; uncond] packed in one batch. Padding is masked
        by `attn_bias` or `cu_seqlens` (fused path only)."""
        dit = self.dit
        if self.fused:
            keep = conv_mask.unsqueeze(-1) if conv_mask is not None else None
            cos, sin = rope
            if self.compiled:
                _mark_dynamic(x, static, keep, cos, sin)
                _mark_dynamic(attn_bias, dims=(0, 3))
                _mark_dynamic(cu_seqlens, dims=(0,))
            blocks = dit.transformer_blocks
            dim = dit.dim
            # modulated-norm parameters (1 + scale, shift) of each block's attention norm, then the final norm
            lns = [(m.view(6, dim)[1], m.view(6, dim)[0], blk.attn_norm.norm.eps) for m, blk in zip(block_mods, blocks)]
            lns.append((final_mod.view(2, dim)[0], final_mod.view(2, dim)[1], dit.norm_out.norm.eps))
            h, norm = self._head(x, static, self._w_x, *self._conv, keep, *lns[0], self._conv_groups, use_cfg,
                                 self.triton_conv)
            for j, (blk, m, w) in enumerate(zip(blocks, block_mods, self._block_weights)):
                if self.compiled:
                    _mark_dynamic(h, norm)
                nw, nb, neps = lns[j + 1]
                h, norm = self._blockfn(h, norm, m, nw, nb, *w, cos, sin, keep, attn_bias, cu_seqlens,
                                        blk.attn.heads, blk.ff_norm.eps, neps, self.gelu_epilogue, self.fp8_native,
                                        self.triton_attention, self.padded_triton)
            if self.compiled:
                _mark_dynamic(norm)
            return self._tail(norm, dit.proj_out.weight.detach(), dit.proj_out.bias.detach(), cfg, use_cfg)
        xx = torch.cat((x, x), dim=0) if use_cfg else x
        h = F.linear(xx, self._w_x) + static
        h = dit.input_embed.conv_pos_embed(h, mask=conv_mask) + h
        residual = h
        for blk, m in zip(dit.transformer_blocks, block_mods):
            h = self._block(blk, h, m, conv_mask, attn_bias, rope)
        if dit.long_skip_connection is not None:
            h = dit.long_skip_connection(torch.cat((h, residual), dim=-1))
        scale, shift = torch.chunk(final_mod, 2, dim=1)
        h = dit.norm_out.norm(h) * (1 + scale)[:, None, :] + shift[:, None, :]
        pred = dit.proj_out(h)
        if not use_cfg:
            return pred
        p_c, p_u = torch.chunk(pred, 2, dim=0)
        return p_c + (p_c - p_u) * cfg

    @staticmethod
    def _block(
        blk: Any,
        x: torch.Tensor,
        mod: torch.Tensor,
        mask: torch.Tensor | None,
        attn_bias: torch.Tensor | None,
        rope: tuple[torch.Tensor, Any],
    ) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = torch.chunk(mod, 6, dim=1)
        norm = blk.attn_norm.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        attn = blk.attn
        b, n, _ = norm.shape
        q = attn.to_q(norm).view(b, n, attn.heads, -1).transpose(1, 2)
        k = attn.to_k(norm).view(b, n, attn.heads, -1).transpose(1, 2)
        v = attn.to_v(norm).view(b, n, attn.heads, -1).transpose(1, 2)
        if attn.q_norm is not None:
            q = attn.q_norm(q)
        if attn.k_norm is not None:
            k = attn.k_norm(k)
        freqs, xpos = rope
        qs, ks = (xpos, xpos**-1.0) if torch.is_tensor(xpos) else (1.0, 1.0)
        heads_pe = attn.processor.pe_attn_head
        if heads_pe is None:
            q = apply_rotary_pos_emb(q, freqs, qs)
            k = apply_rotary_pos_emb(k, freqs, ks)
        else:
            q = torch.cat((apply_rotary_pos_emb(q[:, :heads_pe], freqs, qs), q[:, heads_pe:]), dim=1)
            k = torch.cat((apply_rotary_pos_emb(k[:, :heads_pe], freqs, ks), k[:, heads_pe:]), dim=1)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        o = o.transpose(1, 2).reshape(b, n, -1).to(q.dtype)
        o = attn.to_out[0](o)
        if mask is not None:
            o = o.masked_fill(~mask.unsqueeze(-1), 0.0)
        x = x + gate_msa.unsqueeze(1) * o
        norm = blk.ff_norm(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        return x + gate_mlp.unsqueeze(1) * blk.ff(norm)

    # ---- shapes prepared ahead / off the request's path ----------------------------------------------
    def duration_of(self, item: SampleItem) -> int:
        return effective_duration(int(item.text_ids.numel()), int(item.cond_mel.shape[0]), item.duration)

    def exact_ready(self, length: int, use_cfg: bool) -> bool:
        """Whether a single request of this length is served unpadded: its exact graph is held (the LRU may have
        dropped it since; then the padded bucket serves again, and no request waits for a capture)."""
        if self.use_graphs:
            key = (1, length, use_cfg, False)
            return key in self._graphs or key in self._pinned
        return (1, length, use_cfg) in self._exact_ready

    def note_length(self, length: int, use_cfg: bool) -> None:
        """A single request of this length was served padded; the second time, queue its exact graph."""
        key = (1, length, use_cfg)
        with self._lock:
            seen = self._sightings.pop(key, 0) + 1
            self._sightings[key] = seen
            while len(self._sightings) > 4096:  # a bounded memory of lengths met once
                self._sightings.pop(next(iter(self._sightings)))
            if seen >= 2 and key not in self._exact_ready and (*key, False) not in self._pending:
                self._pending.append((*key, False))

    def padded_batch_ready(self, batch: int, length: int, use_cfg: bool) -> bool:
        """Whether a padded batch of this size and length runs without a capture on the request's way (its graph
        is held; without CUDA graphs there is nothing to capture)."""
        key = (batch, length, use_cfg, True)
        return not self.use_graphs or key in self._graphs or key in self._pinned

    def note_padded_batch(self, batch: int, length: int, use_cfg: bool) -> None:
        """A padded batch of this shape was wanted and its graph is not held: queue it for between requests."""
        key = (batch, length, use_cfg, True)
        with self._lock:
            if self.use_graphs and key not in self._pending and key not in self._graphs and key not in self._pinned:
                self._pending.append(key)

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._pending_pinned)

    def queue_ahead(self, keys: list[tuple[int, int, bool, bool]]) -> int:
        """Queue these graphs (batch, length, cfg, padded) for preparation between requests, pinned once made;
        those held or queued already are skipped. Returns how many were queued (0 without CUDA graphs)."""
        if not self.use_graphs:
            return 0
        with self._lock:
            queued = set(self._pending_pinned)
            # largest first, so the shared input buffers are allocated once, at their largest
            new = [k for k in sorted(set(keys), key=lambda k: (k[0] * k[1], k), reverse=True)
                   if k not in self._pinned and k not in queued]
            self._pending_pinned.extend(new)
        return len(new)

    @torch.inference_mode()  # as in `sample`: a capture outside it would record autograd history (and memory)
    def prepare_pending(self) -> bool:
        """Prepare one queued shape (capture its graph); True while more are queued. Call it between requests
        (the runtime's idle hook does), never on a request's path. Shapes met on requests' way come first (an
        exact length met twice, a padded batch: live traffic asks for them again), then those queued ahead
        (`queue_ahead`)."""
        with self._lock:
            if not self._pending and self._pending_pinned:
                key = self._pending_pinned.pop(0)
                ahead = True
            elif self._pending:
                key = self._pending.pop(0)
                ahead = False
            else:
                return False
        batch, length, use_cfg, padded = key
        if ahead:
            self.pin([key])
            return self.pending > 0
        if self.use_graphs:
            self._graph_for(batch, length, use_cfg, padded)
        with self._lock:
            if not self.use_graphs and not padded:  # nothing to capture: remember the length, as the LRU would
                self._exact_ready.add((batch, length, use_cfg))
                while len(self._exact_ready) > self.max_graphs:
                    self._exact_ready.pop()
            return self.pending > 0

    @torch.inference_mode()
    def prepare_buckets(self, lengths: list[int], use_cfg: bool = True,
                        progress: Any = None, padded: bool = True) -> int:
        """Capture the padded batch-1 graph of each bucket length now (longest first, so the shared input
        buffers are allocated once), pinned so the LRU never evicts them; with `padded` False, the unpadded graph
        of each exact length. Returns how many were captured."""
        todo = sorted({round_up(n, self.bucket_frames) if padded else n for n in lengths}, reverse=True)

        def say(i: int) -> None:
            if progress and i % 8 == 0:
                progress(i / len(todo), f"prepared {i}/{len(todo)} {'length buckets' if padded else 'exact lengths'}")

        return self.pin([(1, n, use_cfg, padded) for n in todo], say)

    @torch.inference_mode()
    def pin(self, keys: list[tuple[int, int, bool, bool]], each: Callable[[int], None] | None = None) -> int:
        """Capture the graph of each shape (batch, length, cfg, padded) now, in this order, pinned so the LRU never
        evicts it; `each(i)` is called after the i-th is made. Returns how many were captured (0 without CUDA
        graphs)."""
        if not self.use_graphs:
            return 0
        done = 0
        for i, key in enumerate(keys):
            with self._lock:
                if key in self._pinned:
                    continue
                self._pinned[key] = self._graphs.pop(key, None) or _StepGraph(self, *key)
            self._shapes_seen.add(key)
            done += 1
            if each:
                each(i)
        return done

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A graph input buffer: with shared graph memory, a tensor over the front of one arena per name (grown
        when a larger graph needs it; older graphs keep the old arena alive); else a fresh tensor."""
        numel = math.prod(shape)
        if not self.share_graph_memory:
            return torch.empty(shape, device=self.device, dtype=dtype)
        arena = self._arena.get(name)
        if arena is None or arena.numel() < numel or arena.dtype != dtype:
            arena = torch.empty(numel, device=self.device, dtype=dtype)
            self._arena[name] = arena
        # a plain tensor over the arena's storage, not a view: torch.compile treats it like any other input
        out = torch.empty(0, device=self.device, dtype=dtype)
        out.set_(arena.untyped_storage(), 0, shape)
        return out

    def graph_pool(self) -> Any:
        if self.share_graph_memory and self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        return self._pool

    def capture_stream(self) -> Any:
        """The side stream every graph of this sampler is warmed up and captured on, made on the sampler's GPU.
        One for all: the caching allocator hands a freed block out again only on the stream it was used on, so
        when each capture had a stream of its own (PyTorch lends 32 per GPU in turn), what one graph's step freed
        in the shared pool could not serve the next, and each stream's library workspaces were set up again."""
        if self._capture_stream is None:
            self._capture_stream = torch.cuda.Stream(device=self.device)
        return self._capture_stream

    def _graph_for(self, batch: int, length: int, use_cfg: bool, padded: bool) -> _StepGraph:
        key = (batch, length, use_cfg, padded)
        pinned = self._pinned.get(key)
        if pinned is not None:
            return pinned
        with self._lock:
            graph = self._graphs.pop(key, None)
            if graph is None:
                while len(self._graphs) >= self.max_graphs:  # least recently used first
                    self._graphs.pop(next(iter(self._graphs)))
                graph = _StepGraph(self, batch, length, use_cfg, padded)
                self.shape_stats["graph_captures"] += 1
            self._graphs[key] = graph  # (re)insert as most recently used
            return graph

    @property
    def graph_count(self) -> int:
        return len(self._graphs) + len(self._pinned)


class _StepGraph:
    """One Euler step (guided DiT forward + update) captured as a CUDA graph for a fixed shape.

    The whole schedule's modulations and step sizes live in device buffers and a device-side step
    counter picks the row, so a replay needs no host work and no copies between steps.
    """

    MAX_STEPS = 64

    def __init__(self, sampler: F5Sampler, batch: int, length: int, use_cfg: bool, padded: bool) -> None:
        dt = sampler.dtype
        dit = sampler.dit
        packed = 2 * batch if use_cfg else batch
        dim, depth = dit.dim, len(dit.transformer_blocks)
        buf = sampler._buffer  # graphs replay one at a time and `load` fills every input first: shareable
        self.x = buf("x", (batch, length, sampler.n_mels), dt).normal_()
        self.static = buf("static", (packed, length, dim), dt).normal_()
        self.blocks = buf("blocks", (self.MAX_STEPS, depth, 1, 6 * dim), dt).zero_()
        self.final = buf("final", (self.MAX_STEPS, 1, 2 * dim), dt).zero_()
        self.dts = buf("dts", (self.MAX_STEPS,), dt).zero_()
        self.index = buf("index", (1,), torch.long).zero_()
        self.cfg = buf("cfg", (), dt).zero_()
        self.mask = buf("mask", (packed, length), torch.bool).fill_(True) if padded else None
        varlen = padded and sampler.varlen
        self.bias = buf("bias", (packed, 1, 1, length), dt).zero_() if padded and not varlen else None
        self.cu = buf("cu", (2 * packed + 1,), torch.int32) if varlen else None
        if self.cu is not None:  # full rows until `load` gives the request's split
            self.cu.copy_(torch.tensor(split_offsets([length] * packed, length), dtype=torch.int32))
        # every tensor the graph reads must outlive it: a freed input is silently reused memory
        self.rope = rope = sampler.rope_tables(length)

        def step() -> None:
            blocks = self.blocks.index_select(0, self.index)[0]
            final = self.final.index_select(0, self.index)[0]
            v = sampler._forward(self.x, self.static, blocks, final, self.cfg, self.mask, self.bias, self.cu, rope,
                                 use_cfg)
            self.x.add_(self.dts.index_select(0, self.index) * v)
            self.index.add_(1)

        # warm up on a side stream (as CUDA graph capture requires), then capture
        # the side stream is the sampler's, on this graph's GPU: PyTorch's default capture stream is one per
        # process, made on whichever GPU captured first, and capturing on another GPU's stream marks that GPU's
        # random generator as capturing (its worker then fails with "Offset increment outside graph capture"), as
        # seen on two H200s
        stream = sampler.capture_stream()
        stream.wait_stream(torch.cuda.current_stream(self.x.device))
        # two warm-up steps for the first graph of a kind (lazy library set-up), one after that: it is time a
        # capture costs, on whatever path it runs
        kind = (batch == 1, padded)
        warm = 1 if kind in sampler._captured_kinds else 2
        sampler._captured_kinds.add(kind)
        with torch.cuda.stream(stream):
            for _ in range(warm):
                step()
        torch.cuda.current_stream(self.x.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        # a shared pool is safe: every tensor the step allocates is freed by its end (results go in place)
        # thread_local: with several GPUs (engine.devices) another worker thread allocates on its own GPU while
        # this one captures; PyTorch's default ("global") would fail that thread's calls, not only this one's
        with torch.cuda.graph(self.graph, pool=sampler.graph_pool(), stream=stream,
                              capture_error_mode="thread_local"):
            step()

    def load(
        self,
        x: torch.Tensor,
        static: torch.Tensor,
        cfg: torch.Tensor,
        mask: torch.Tensor | None,
        bias: torch.Tensor | None,
        cu_seqlens: torch.Tensor | None,
        blocks: torch.Tensor,
        final: torch.Tensor,
        dts: torch.Tensor,
    ) -> None:
        """Copy one batch's inputs and schedule into the captured buffers and rewind the step counter."""
        steps = dts.shape[0]
        if steps > self.MAX_STEPS:
            raise ValueError(f"NFE {steps} is over the sampler's limit of {self.MAX_STEPS}")
        self.x.copy_(x)
        self.static.copy_(static)
        self.cfg.copy_(cfg)
        self.blocks[:steps].copy_(blocks)
        self.final[:steps].copy_(final)
        self.dts[:steps].copy_(dts)
        self.index.zero_()
        if self.mask is not None:
            self.mask.copy_(mask)
        if self.bias is not None:
            self.bias.copy_(bias)
        if self.cu is not None:
            self.cu.copy_(cu_seqlens)
