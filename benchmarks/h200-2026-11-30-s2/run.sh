#!/usr/bin/env bash
# The device run of issue 17, round 2 (H200), from the repo root: `bash benchmarks/h200-2026-11-30-s2/run.sh STEP...`.
# Needs .whl/ carried along. Writes JSON and log.txt to $OUT, plots into $OUT/plots.tgz (8 files come back at most).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:${PYTHONPATH:-} || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
B="python3 -m ishowtts_studio.bench --random-weights full"
P=/tmp/plots; mkdir -p $P
printf '[engine]\nsingle_chunk_chars = 0\n' > /tmp/split.toml      # the previous default: chat lines split at 60 bytes
printf '[engine]\nfp8_gemms = true\n' > /tmp/fp8.toml                # FP8 GEMMs in the blocks
printf '[engine]\ncompile = false\n' > /tmp/nocompile.toml           # the Jetson path
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c \
  'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "cudnn", torch.backends.cudnn.version())') \
  >> $OUT/log.txt 2>&1
for step in "$@"; do
  echo "=== $step $(date +%T)" | tee -a $OUT/log.txt
  case $step in
    rows) timeout 240 $B --nfe 8 32 --runs 6 --warmup 2 --concurrency 16 --json $OUT/rows.json --plots $P/rows ;;
    live) timeout 150 $B --nfe 8 --no-rows --workload paced burst --json $OUT/live.json --plots $P/live ;;
    live_split) timeout 120 $B --config /tmp/split.toml --nfe 8 --no-rows --workload paced burst \
                  --json $OUT/live_split.json ;;
    fp8) timeout 240 $B --config /tmp/fp8.toml --nfe 8 32 --runs 6 --warmup 2 --concurrency 16 \
           --workload paced burst --json $OUT/fp8.json --plots $P/fp8 ;;
    nocompile) timeout 150 $B --config /tmp/nocompile.toml --nfe 8 --texts short long --runs 4 \
                 --workload paced burst --json $OUT/nocompile.json ;;
    fp16_stock) timeout 200 $B --precision fp16 --compare-stock --nfe 8 32 --runs 2 --warmup 1 \
                  --json $OUT/fp16_stock.json ;;
  esac 2>&1 | tee -a $OUT/log.txt | grep -v "__recompiles\|Warning\|warn(" | grep -v " INFO " | tail -14
  tar czf $OUT/plots.tgz -C $P . 2>/dev/null
done
echo "=== end $(date +%T)" | tee -a $OUT/log.txt
