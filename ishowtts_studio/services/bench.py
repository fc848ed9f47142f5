"""The Performance tab's logic: benchmark settings checked, a run on the shared runtime saved, baselines
saved and looked up, live figures. The benchmark itself is `ishowtts_studio.bench`; widgets are the UI's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ishowtts_studio.bench import TEXTS, BenchConfig, run_benchmark
from ishowtts_studio.engines.base import EngineUnavailable
from ishowtts_studio.metrics import MetricsService
from ishowtts_studio.runtime import EngineRuntime
from ishowtts_studio.services.errors import InputError
from ishowtts_studio.services.inputs import NFE_MAX, NFE_MIN, int_list, list_items
from ishowtts_studio.services.preferences import Preferences
from ishowtts_studio.services.synthesis import SynthesisService
from ishowtts_studio.store import Store

TEXT_SIZES = ["short", "medium", "long"]
RUNS_MIN, RUNS_MAX = 1, 50
WARMUP_MAX = 10
BASELINE_NAME_MAX = 200

# One benchmark at a time in this process: it holds the GPU worker for whole rows.
_BENCH_LOCK = threading.Lock()


def _str_list(values: Any) -> list[str]:
    return [str(v).strip() for v in list_items(values) if str(v).strip()]


def bench_config(nfes: Any, runs: Any, texts: Any, langs: Any = ("en",), compare_stock: bool = False,
                 warmup: Any = 1) -> BenchConfig:
    """A validated BenchConfig from UI or API input; InputError says what to change."""
    nfe_list = sorted(set(int_list(nfes, "NFE values")))
    if not nfe_list:
        raise InputError("Pick at least one NFE value.")
    bad = [n for n in nfe_list if not NFE_MIN <= n <= NFE_MAX]
    if bad:
        raise InputError(f"NFE {bad[0]} is out of range: use {NFE_MIN} to {NFE_MAX}.")
    run_list = int_list(runs, "Runs")
    if len(run_list) != 1 or not RUNS_MIN <= run_list[0] <= RUNS_MAX:
        raise InputError(f"Runs must be one whole number from {RUNS_MIN} to {RUNS_MAX}.")
    warm = int_list(warmup, "Warm-up runs")
    if len(warm) != 1 or not 0 <= warm[0] <= WARMUP_MAX:
        raise InputError(f"Warm-up runs must be one whole number from 0 to {WARMUP_MAX}.")
    sizes = [t for t in TEXT_SIZES if t in set(_str_list(texts))]
    unknown = set(_str_list(texts)) - set(TEXT_SIZES)
    if unknown:
        raise InputError(f"Unknown text size {sorted(unknown)[0]!r}: use {', '.join(TEXT_SIZES)}.")
    if not sizes:
        raise InputError("Pick at least one text size (short, medium, long).")
    lang_list = list(dict.fromkeys(_str_list(langs)))
    unknown = set(lang_list) - set(TEXTS)
    if unknown:
        raise InputError(f"Unknown language {sorted(unknown)[0]!r}: use {', '.join(sorted(TEXTS))}.")
    if not lang_list:
        raise InputError("Pick at least one language.")
    return BenchConfig(nfes=nfe_list, texts=sizes, langs=lang_list, runs=run_list[0], warmup=warm[0],
                       compare_stock=bool(compare_stock))


class BenchService:
    def __init__(self, runtime: EngineRuntime, store: Store, metrics: MetricsService, synthesis: SynthesisService,
                 preferences: Preferences) -> None:
        self.runtime, self.store, self.metrics = runtime, store, metrics
        self.synthesis, self.preferences = synthesis, preferences

    def default_nfe(self) -> int:
        return self.preferences.default_nfe()

    def device(self) -> str | None:
        info = self.runtime.info
        return info.device if info else None

    def snapshot(self) -> dict[str, Any]:
        """The live figures (`MetricsService.snapshot()`): counts, queue, device, cache, GPU memory, percentiles."""
        return self.metrics.snapshot()

    def run_and_save(self, cfg: BenchConfig, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
        """Run one benchmark on the shared runtime and save it; the result gets its database id as run_id."""
        rt = self.runtime
        if rt.status != "ready":
            raise EngineUnavailable(f"The engine is not ready ({rt.status}): {rt.message}")
        if not _BENCH_LOCK.acquire(blocking=False):
            raise InputError("A benchmark is already running; wait for it to finish.")
        try:
            result = run_benchmark(rt, cfg, progress=progress, chunker=self.synthesis.chunk_text)
        finally:
            _BENCH_LOCK.release()
        run_id = self.store.add_benchmark_run(result)
        return dict(result, run_id=run_id)

    def run(self, nfes: Any, runs: Any, texts: Any, *, langs: Any = ("en",), warmup: Any = 1,
            compare_stock: bool = False, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
        """Run a benchmark (NFE list, runs per row, text sizes) and return its result dict (saved; see run_id)."""
        cfg = bench_config(nfes, runs, texts, langs=langs, compare_stock=compare_stock, warmup=warmup)
        return self.run_and_save(cfg, progress)

    # ---- baselines --------------------------------------------------------------------------------
    def baseline_names(self) -> list[str]:
        return self.store.list_baseline_names()

    def save_baseline(self, name: str | None, result: dict[str, Any] | None) -> str:
        """Save a run's result under `name` as a baseline; returns the name as saved."""
        name = (name or "").strip()
        if not result:
            raise InputError("Run a benchmark first, then save it as a baseline.")
        if not name:
            raise InputError("Give the baseline a name.")
        if len(name) > BASELINE_NAME_MAX:
            raise InputError(f"A baseline name can have at most {BASELINE_NAME_MAX} characters.")
        payload = {k: v for k, v in result.items() if k != "run_id"}
        self.store.add_benchmark_run(payload, name=name, baseline=True)
        return name

    def baseline_for(self, name: str | None, result: dict[str, Any] | None) -> dict[str, Any]:
        """The saved baseline called `name`, to compare `result` with."""
        if not result:
            raise InputError("Run a benchmark first, then compare it with a baseline.")
        if not name:
            raise InputError("Pick a baseline (save one first).")
        baseline = self.store.get_baseline(name)
        if baseline is None:
            raise InputError(f"There is no baseline named {name!r}.")
        return baseline
