#!/usr/bin/env bash
# GPU check of the paper's fine-tuning modes beside FE, on the main job's notes (docs/evaluation.md, "FT1 / FT2").
# Renders nsynth-small (make-nsynth is deterministic: the main job's folder), then, all at once on one GPU:
# FE of music-small and of its random init (same-run baseline), FT1 and FT2 of music-small, FT1 of the random
# init, on pitch and instrument, with the main job's 2,000 / 500 / 1,000 notes. Each FT run is time-boxed with
# `--max-minutes MIN`: it is tested on its best epoch so far and result.json says `stopped_by: time`.
# Then the layer-wise PWCCA of music-small and its FT1 / FT2 pitch models (the paper's Fig. 3) on 400 test notes
# (single process, numpy: ~3 min; capped by PWCCA_CAP seconds, default 240; MIN=4 leaves room for it in 10 min).
# Usage, from the repository root:  bash scripts/gpu_finetune_check.sh   (results: $OUT/ft.tar.gz, $OUT/summary.txt)
# Tiny local dry run (2 cores: ten runs at once need CAP):
#   PY=.venv/bin/python MIN=0.05 CAP=600 MPS=40,20,20 FILES=10 SIZE=mini bash scripts/gpu_finetune_check.sh
set -u
OUT=${OUT:-./gpu-ft-out}; MIN=${MIN:-5}; MPS=${MPS:-2000,500,1000}; FILES=${FILES:-400}; SIZE=${SIZE:-small}
PY=${PY:-python3}; WORK=${WORK:-/tmp/ft-check}
mkdir -p "$OUT" "$WORK/runs"
source scripts/gpu_wheels.sh
export OMP_NUM_THREADS=2
W="$PY -m eval_harness.cli"
D=$WORK/nsynth-$SIZE; R=$WORK/runs
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  "$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  nproc --all; } > "$R/env.txt" 2>&1
cat "$R/env.txt"
start=$(date +%s)
[ -f "$D/render_summary.json" ] || $W make-nsynth "$D" --size "$SIZE" --workers "$(nproc --all)" > "$R/render.log" 2>&1 || { cat "$R/render.log"; exit 1; }
echo "rendered in $(( $(date +%s) - start )) s"
job() {  # name task mode model [extra...]
  local name=$1 task=$2 mode=$3 model=$4; shift 4
  timeout "$CAP" $W finetune --task "$task" --mode "$mode" --model "$model" --data "$D" --out "$R/$name" --max-per-split "$MPS" \
      --cache-dir "$WORK/cache" --no-progress "$@" > "$R/$name.log" 2>&1
  echo "$name: $(tail -1 "$R/$name.log")"
}
# a hard stop per run (default: 2 min past the budget, so the records are packed inside a 10-min device call)
CAP=${CAP:-$(awk -v m="$MIN" 'BEGIN { printf "%d", m * 60 + 120 }')}
for task in pitch instrument; do
  job "fe-$task-music" $task fe music-small &
  job "fe-$task-random" $task fe random:music-small &
  job "ft1-$task-music" $task ft1 music-small --max-minutes "$MIN" &
  job "ft2-$task-music" $task ft2 music-small --max-minutes "$MIN" &
  job "ft1-$task-random" $task ft1 random:music-small --max-minutes "$MIN" &
done
wait
echo "fine-tuning done at $(( $(date +%s) - start )) s"
timeout "${PWCCA_CAP:-240}" $W analyze pwcca --models music-small --models "$R/ft1-pitch-music" --models "$R/ft2-pitch-music" \
    --models random:music-small --audio "$D/nsynth-test/audio" --max-files "$FILES" --out "$R/pwcca" > "$R/pwcca.log" 2>&1
grep -v "INFO\|Warning\|results = " "$R/pwcca.log" | tail -6
echo "all done at $(( $(date +%s) - start )) s"
for f in "$R"/*/result.json; do
  "$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); print(sys.argv[1].split('/')[-2], r['accuracy'], r['ci_low'], r['ci_high'], r.get('best_epoch'), r.get('epochs_run'), r.get('stopped_by', '-'), r['wall_s'])" "$f"
done | tee "$OUT/summary.txt"
tar czf "$OUT/ft.tar.gz" -C "$WORK" --exclude='*.pt' --exclude='*.npy' runs
ls -la "$OUT"
