"""The split of reserved GPU memory by pool and stream (engines/gpu_memory.py), on allocator snapshots in the
form `torch.cuda.memory_snapshot()` returns them, and the benchmark's line for it."""

from __future__ import annotations

import pytest
import torch

from ishowtts_studio.bench_report import format_table
from ishowtts_studio.engines.gpu_memory import MIB, pool_breakdown, summarise_segments


def _segment(mib: float, allocated: float, pool: tuple[int, int] = (0, 0), stream: int = 0,
             device: int = 0) -> dict:
    return {"device": device, "total_size": int(mib * MIB), "allocated_size": int(allocated * MIB),
            "segment_pool_id": pool, "stream": stream, "segment_type": "large", "blocks": []}


def test_segments_split_by_pool_and_stream() -> None:
    segments = [
        _segment(1024, 900),                        # model weights and caches
        _segment(20, 0),                            # cached, free
        _segment(512, 40, pool=(1, 0)),             # a graph pool: the intermediate tensors between replays
        _segment(256, 8, pool=(1, 0), stream=77),   # the same pool, first used on the capture stream
        _segment(128, 2, pool=(2, 0)),              # a second graph pool
        _segment(4096, 4096, device=1),             # another GPU: not counted
    ]
    out = summarise_segments(segments, device_index=0)
    assert out["default_reserved_mib"] == pytest.approx(1044) and out["default_allocated_mib"] == pytest.approx(900)
    assert out["graphs_reserved_mib"] == pytest.approx(896) and out["graphs_allocated_mib"] == pytest.approx(50)
    assert (out["default_segments"], out["graphs_segments"], out["graph_pools"], out["streams"]) == (2, 3, 2, 2)
    assert out["side_stream_reserved_mib"] == pytest.approx(256)
    assert out["largest_segment_mib"] == pytest.approx(1024)


def test_no_segments_and_no_gpu_give_zero_and_nothing() -> None:
    empty = summarise_segments([], device_index=0)
    assert empty["default_reserved_mib"] == empty["graphs_reserved_mib"] == 0 and empty["graph_pools"] == 0
    assert pool_breakdown(torch.device("cpu")) == {}


def test_the_benchmark_prints_each_stage() -> None:
    pools = {"after_warmup": summarise_segments([_segment(1024, 900), _segment(512, 40, pool=(1, 0))], 0)}
    text = format_table({"device": "cuda", "precision": "bf16", "weights_label": "full", "rows": [],
                         "memory_pools": pools})
    line = next(x for x in text.splitlines() if x.startswith("GPU memory after warmup"))
    assert "reserved 1024 MiB default pool (900 allocated) + 512 MiB in 1 graph pool(s) (40 allocated)" in line
