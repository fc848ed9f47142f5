#!/usr/bin/env bash
# The device runs of issue 17 (H200), from the repo root: `bash benchmarks/h200-2026-11-30/run.sh STEP...`.
# Needs .whl/ (python3 ../shared/tools/device-wheels.py soxr pyloudnorm sqlalchemy) carried along. Writes to $OUT.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:${PYTHONPATH:-} || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
B="python3 -m ishowtts_studio.bench --random-weights full"
printf '[engine]\nbucket_frames = 1\nprepare_max_frames = 0\n' > /tmp/old.toml   # today's behaviour before this issue
printf '[engine]\ncompile = false\n' > /tmp/nocompile.toml                       # the Jetson path
printf '[engine]\nfirst_chunk_chars = 135\n' > /tmp/nosplit.toml                 # chat lines in one chunk
printf '[engine]\nexact_graphs = false\n' > /tmp/noexact.toml                      # no idle captures
for step in "$@"; do
  echo "=== $step $(date +%T)"
  case $step in
    rows) $B --nfe 8 32 --runs 6 --warmup 2 --concurrency 16 --json $OUT/rows.json --plots $OUT ;;
    live) $B --nfe 8 --no-rows --workload paced burst --json $OUT/live.json --plots $OUT ;;
    live_old) $B --config /tmp/old.toml --nfe 8 --no-rows --workload paced burst --json $OUT/live_old.json ;;
    nocompile) $B --config /tmp/nocompile.toml --nfe 8 --texts short long --runs 4 --workload paced burst \
                  --json $OUT/nocompile.json ;;
    fp16_stock) $B --precision fp16 --compare-stock --nfe 8 32 --runs 2 --warmup 1 --json $OUT/fp16_stock.json ;;
    live_nosplit) $B --config /tmp/nosplit.toml --nfe 8 --no-rows --workload paced burst --json $OUT/live_nosplit.json ;;
    live_noexact) $B --config /tmp/noexact.toml --nfe 8 --no-rows --workload paced burst --json $OUT/live_noexact.json ;;
    probe) python3 benchmarks/probe_live.py --out $OUT/probe_live.json ;;
  esac 2>&1 | tee -a $OUT/log.txt | grep -v "__recompiles\|Warning\|warn(" | grep -v " INFO " | tail -25
done
