#!/usr/bin/env bash
# The benchmark steps of a device call, shared by the rounds from round 4 on (the earlier rounds' run.sh files are
# kept as they ran). From the repo root, with .whl/ carried along (python3 ../shared/tools/device-wheels.py ...):
#
#   bash benchmarks/device_run.sh STEP...          e.g.  rows live window live+engine.batch_wait_ms=0
#
# A step is a name, optionally followed by +section.key=value settings for that step only (written to a config
# file; values as in config.toml, strings quoted: live+engine.padded_attention='"varlen_flash"'). Each step writes
# $OUT/<step>.json (the + part folded into the name); everything printed goes to $OUT/log.txt, plots to
# $OUT/plots.tgz. A round's folder keeps the JSON, the log and a README saying which commit and steps ran.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-} || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
B="python3 -m ishowtts_studio.bench --random-weights full"
P=/tmp/plots; mkdir -p "$P"
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; git log -1 --format='commit %H'; python3 -c \
  'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "cudnn", torch.backends.cudnn.version())') \
  >> "$OUT/log.txt" 2>&1
for spec in "$@"; do
  step=${spec%%+*}
  name=$(echo "$spec" | tr -c 'A-Za-z0-9_\n' '_')
  cfg=()
  if [ "$spec" != "$step" ]; then  # +section.key=value settings: one config file for this step
    toml=/tmp/$name.toml; : > "$toml"
    IFS='+' read -ra sets <<< "${spec#*+}"
    for kv in "${sets[@]}"; do
      printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >> "$toml"   # dotted keys: several of one table are fine
    done
    cfg=(--config "$toml")
  fi
  echo "=== $spec $(date +%T)" | tee -a "$OUT/log.txt"
  case $step in
    rows) timeout 300 $B "${cfg[@]}" --nfe 8 32 --runs 6 --warmup 2 --concurrency 16 --json "$OUT/$name.json" \
            --plots "$P/$name" ;;
    live) timeout 240 $B "${cfg[@]}" --nfe 8 --no-rows --workload paced burst --json "$OUT/$name.json" \
            --plots "$P/$name" ;;
    window) timeout 200 python3 benchmarks/probe_window.py --rate 4 --messages 80 > "$OUT/$name.json" ;;
    nocompile) printf '[engine]\ncompile = false\n' > /tmp/nocompile.toml   # the Jetson path
               timeout 200 $B --config /tmp/nocompile.toml --nfe 8 --texts short long --runs 4 \
                 --workload paced burst --json "$OUT/$name.json" ;;
    fp16_stock) timeout 200 $B "${cfg[@]}" --precision fp16 --compare-stock --nfe 8 32 --runs 2 --warmup 1 \
                  --json "$OUT/$name.json" ;;
    probe) timeout 200 python3 benchmarks/probe_path.py "${cfg[@]}" --out "$OUT/$name.json" ;;
    batching) timeout 200 python3 benchmarks/probe_batching.py "${cfg[@]}" --out "$OUT/$name.json" ;;  # padded batches
    streams) timeout 240 python3 benchmarks/probe_streams.py "${cfg[@]}" --out "$OUT/$name.json" ;;  # lines on streams
    kernels) timeout 200 python3 benchmarks/probe_kernels.py --out "$OUT/$name.json" ;;   # GEMMs, attention alone
    attn) timeout 200 python3 benchmarks/probe_kernels.py --triton-attention --out "$OUT/$name.json" ;;
    env) env | grep -i "PYTORCH\|CUDA_\|TORCH" | sort ;;
    *) echo "unknown step $step (rows live window nocompile fp16_stock probe batching streams kernels attn env)" ;;
  esac 2>&1 | tee -a "$OUT/log.txt" | grep -v "__recompiles\|Warning\|warn(" | grep -v " INFO " | tail -40
  tar czf "$OUT/plots.tgz" -C "$P" . 2>/dev/null
done
echo "=== end $(date +%T)" | tee -a "$OUT/log.txt"
