#!/usr/bin/env bash
# Issue 17, round 3 (H200), from the repo root: `bash benchmarks/h200-2026-12-01/run.sh STEP...`.
# Needs .whl/ carried along. Writes JSON and log.txt to $OUT, plots into $OUT/plots.tgz.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-} || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
B="python3 -m ishowtts_studio.bench --random-weights full"
P=/tmp/plots; mkdir -p $P
printf '[engine]\npadded_attention = "varlen_flash"\n' > /tmp/vflash.toml   # padded rows through FA2 varlen
printf '[engine]\nbatch_wait_ms = 0\n' > /tmp/nowait.toml              # no batch window
printf '[engine]\nprepare_exact_bytes = 0\n' > /tmp/noexact.toml      # no exact graphs prepared for the voices
printf '[engine]\ncompile_vocoder = false\n' > /tmp/novoc.toml         # the vocoder eager
printf '[engine]\ncompile = false\n' > /tmp/nocompile.toml             # the Jetson path
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c \
  'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "cudnn", torch.backends.cudnn.version())') \
  >> $OUT/log.txt 2>&1
for step in "$@"; do
  echo "=== $step $(date +%T)" | tee -a $OUT/log.txt
  case $step in
    probe) timeout 200 python3 benchmarks/probe_path.py --out $OUT/probe_path.json ;;
    rows) timeout 300 $B --nfe 8 32 --runs 6 --warmup 2 --concurrency 16 --json $OUT/rows.json --plots $P/rows ;;
    rows8) timeout 150 $B --nfe 8 --runs 6 --warmup 2 --json $OUT/rows8.json ;;
    live) timeout 240 $B --nfe 8 --no-rows --workload paced burst --json $OUT/live.json --plots $P/live ;;
    live_vflash) timeout 120 $B --config /tmp/vflash.toml --nfe 8 --no-rows --workload paced burst \
                   --json $OUT/live_vflash.json ;;
    # live_vcudnn (call 2: padded_attention = "varlen_cudnn", since removed) failed to compile: cuDNN's ragged
    # attention has no fake-tensor kernel for torch.compile
    live_noexact) timeout 150 $B --config /tmp/noexact.toml --nfe 8 --no-rows --workload paced burst \
                   --json $OUT/live_noexact.json ;;
    rows8_novoc) timeout 150 $B --config /tmp/novoc.toml --nfe 8 --runs 6 --warmup 2 --json $OUT/rows8_novoc.json ;;
    check) timeout 220 $B --nfe 8 --texts short long --runs 3 --warmup 1 --workload paced burst --messages 40 \
             --json $OUT/check.json ;;   # the final tree after the module split: does it still run, and as fast
    env) env | grep -i "PYTORCH\|CUDA_\|TORCH" | sort ;;
    old_live) (cd old24 && PYTHONPATH=/tmp/site:$PWD timeout 150 $B --nfe 8 --no-rows --workload paced \
                 --json $OUT/old_live.json) ;;   # round 2's code (24fa291), for its memory figures
    live_nowait) timeout 120 $B --config /tmp/nowait.toml --nfe 8 --no-rows --workload paced burst \
                   --json $OUT/live_nowait.json ;;
    nocompile) timeout 150 $B --config /tmp/nocompile.toml --nfe 8 --texts short long --runs 4 \
                 --workload paced burst --json $OUT/nocompile.json ;;
    fp16_stock) timeout 200 $B --precision fp16 --compare-stock --nfe 8 32 --runs 2 --warmup 1 \
                  --json $OUT/fp16_stock.json ;;
  esac 2>&1 | tee -a $OUT/log.txt | grep -v "__recompiles\|Warning\|warn(" | grep -v " INFO " | tail -40
  tar czf $OUT/plots.tgz -C $P . 2>/dev/null
done
echo "=== end $(date +%T)" | tee -a $OUT/log.txt
