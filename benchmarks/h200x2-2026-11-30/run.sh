#!/usr/bin/env bash
# Issue 16's two-GPU measurement on nvidia-h200-x2, from the repo root: `bash benchmarks/h200x2-2026-11-30/run.sh`.
# One run: the same workloads on cuda:0 alone and on cuda:0 + cuda:1 (engine.devices). Needs .whl/ carried along.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:${PYTHONPATH:-} || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv; nvidia-smi topo -m; python3 -c \
  'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)') >> $OUT/log.txt 2>&1
B="python3 -m ishowtts_studio.bench --random-weights full --nfe 8 --runs 10 --warmup 2 --devices cuda:0 --devices cuda:0,cuda:1"
echo "=== devices $(date +%T)" | tee -a $OUT/log.txt
[ "${1:-}" = larger ] || timeout 400 $B --concurrency 32 --workload paced burst --json $OUT/devices.json --plots $OUT/plots 2>&1 \
  | tee -a $OUT/log.txt | grep -v "__recompiles\|Warning\|warn(\| INFO " | tail -30
if [ "${1:-}" != larger ] && [ ! -s $OUT/devices.json ]; then   # torch.compile in two worker threads is the known risk: measure without it
  printf '[engine]\ncompile = false\n' > /tmp/nocompile.toml
  echo "=== devices, compile off $(date +%T)" | tee -a $OUT/log.txt
  timeout 150 $B --config /tmp/nocompile.toml --concurrency 32 --workload burst --json $OUT/devices-nocompile.json \
    --plots $OUT/plots-nocompile 2>&1 | tee -a $OUT/log.txt | grep -v "Warning\|warn(\| INFO " | tail -30
fi
if [ "${1:-}" = larger ]; then   # second call: a longer burst and more concurrent requests than the first
  echo "=== devices, larger $(date +%T)" | tee -a $OUT/log.txt
  timeout 400 $B --concurrency 64 --workload burst --messages 96 --json $OUT/devices-larger.json \
    --plots $OUT/plots-larger 2>&1 | tee -a $OUT/log.txt | grep -v "__recompiles\|Warning\|warn(\| INFO " | tail -8
fi
echo "=== end $(date +%T)" | tee -a $OUT/log.txt
