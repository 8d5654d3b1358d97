#!/usr/bin/env bash
# GPU check of pretraining (issue 9 item 8): `base` (the paper's recipe, one GPU, no gradient
# accumulation) for a few hundred updates in bf16-mixed, a short fp32 run of the same as the
# same-run baseline, and the `small` preset in bf16-mixed. Audio: a folder of 16 kHz clips
# (AUDIO, default .gpu/audio). Metrics CSVs and the log land in OUT (default ./gpu-out).
# Usage on the GPU machine, from the repository root:  bash scripts/gpu_pretrain_check.sh
# ONLY="small-bf16 small-fp32" runs a subset (default: all six).
set -u
AUDIO=${AUDIO:-.gpu/audio}; OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
source scripts/gpu_wheels.sh
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c "import torch, transformers, pytorch_lightning as pl; print('torch', torch.__version__, 'transformers', transformers.__version__, 'lightning', pl.__version__)"
  nproc; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
ONLY=${ONLY:-base-bf16 base-fp32 small-bf16 small-fp32 small-bf16-seed1 small-bf16-seed2}
run() {  # name seconds preset overrides...
  local name=$1 secs=$2 preset=$3; shift 3
  [[ " $ONLY " == *" $name "* ]] || return 0
  local sets=(); for kv in "$@"; do sets+=(--set "$kv"); done
  timeout "$secs" "$PY" -m eval_harness.cli pretrain --config "$preset" --data "$AUDIO" \
      --out "/tmp/run-$name" --accelerator gpu --no-progress "${sets[@]}" > "$OUT/$name.log" 2>&1
  echo "$name: exit $?"; cp "/tmp/run-$name/metrics.csv" "$OUT/$name.csv" 2>/dev/null
  tail -3 "$OUT/$name.log"
}
COMMON=(effective_batch_gpus=null num_workers=12 log_every_steps=10 checkpoint_every_steps=100000)
run base-bf16 210 base "${COMMON[@]}" max_steps=400 warmup_steps=40 precision=bf16-mixed
run base-fp32 75 base "${COMMON[@]}" max_steps=60 warmup_steps=40 precision=32-true
run small-bf16 90 small "${COMMON[@]}" precision=bf16-mixed        # the preset's own schedule (300 updates)
run small-fp32 90 small "${COMMON[@]}" precision=32-true
run small-bf16-seed1 90 small "${COMMON[@]}" precision=bf16-mixed seed=1
run small-bf16-seed2 90 small "${COMMON[@]}" precision=bf16-mixed seed=2
