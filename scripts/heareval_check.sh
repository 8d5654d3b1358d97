#!/usr/bin/env bash
# Run the real heareval 2021.1.3 (embeddings + predictions runners) on hear_w2v_music, and our own FE
# probe on the same model and data, so the two can be compared.
#
# Usage: bash scripts/heareval_check.sh            (a tiny random model; what CI runs, a few minutes)
#        MODEL=music-small NOTES=600 bash scripts/heareval_check.sh   (a bundled or any other model source)
#
# 1. Builds or reuses the side environment `~/.cache/w2v-music/venv-hear` (`HEAR_VENV`) (scripts/hear_env.sh), then adds heareval with --no-deps and its
#    dependencies (pytorch-lightning 1.9.5, "setuptools<81", ...) in that side environment only,
#    once (stamp file $HEAR_VENV/.heareval-stamp).
# 2. Renders NOTES notes with make-nsynth and exports them with export-hear-tasks (pitch, instrument).
# 3. heareval.embeddings.runner hear_w2v_music --model MODEL, then heareval.predictions.runner per task.
# 4. Fails unless every task has test.predicted-scores.json with numeric scores; prints heareval's test
#    scores beside `w2v-music finetune --mode fe` on the same notes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
source scripts/hear_env.sh

MODEL="${MODEL:-}"
NOTES="${NOTES:-60}"
# heareval's predictor grid: "faster" with one point by default (an interop check, seconds); HEAREVAL_GRID=default
# and HEAREVAL_GRID_POINTS=8 give heareval's own recipe (minutes).
WORK="${WORK:-$(mktemp -d)}"
KEEP_WORK="${KEEP_WORK:-0}"
[[ "$KEEP_WORK" == 1 ]] || trap 'rm -rf "$WORK"' EXIT
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1  # heareval 2021 torch.load()s its own pickles
export CUDA_VISIBLE_DEVICES=""             # heareval's runner refuses a GPU that TensorFlow cannot see

HEAREVAL_STAMP="$HEAR_VENV/.heareval-stamp"
HEAREVAL_PKGS=(click python-slugify soundfile intervaltree more-itertools pandas scikit-learn scipy torchinfo tqdm
               "pytorch-lightning==1.9.5" sed_eval dcase_util "setuptools<81")
if [[ "$(cat "$HEAREVAL_STAMP" 2>/dev/null)" != "heareval==2021.1.3 ${HEAREVAL_PKGS[*]}" ]]; then
    echo "[heareval_check] installing heareval 2021.1.3 and its dependencies into $HEAR_VENV" >&2
    hear_env_install --no-deps -- "heareval==2021.1.3"
    hear_env_install -- "torch==2.13.0" "${HEAREVAL_PKGS[@]}"
    echo "heareval==2021.1.3 ${HEAREVAL_PKGS[*]}" > "$HEAREVAL_STAMP"
fi

# The model: a tiny random-init HF dir unless MODEL names another source.
if [[ -z "$MODEL" ]]; then
    MODEL="$WORK/tiny"
    "$HEAR_PY" - "$MODEL" <<'PY'
import json, sys
import torch
from transformers import Wav2Vec2ForPreTraining
from hear_w2v_music import configs

torch.manual_seed(0)
Wav2Vec2ForPreTraining(configs.tiny()).eval().save_pretrained(sys.argv[1])
with open(f"{sys.argv[1]}/preprocessor_config.json", "w") as f:
    json.dump({"feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": 16000,
               "do_normalize": True, "feature_size": 1, "padding_value": 0.0}, f)
PY
elif [[ ! -e "$MODEL" && -d "$ROOT/hear_w2v_music/weights/$MODEL" ]]; then
    # heareval's runner takes --model as an existing path: a bundled name becomes its folder
    MODEL="$ROOT/hear_w2v_music/weights/$MODEL"
fi

# Data tools and our own probe run in the main environment (make-nsynth needs the [data] extra).
W2V="${W2V:-$ROOT/.venv/bin/w2v-music}"
[[ -x "$W2V" ]] || { echo "[heareval_check] $W2V is missing: run \`make venv\` first (or set W2V)" >&2; exit 1; }
echo "[heareval_check] model $MODEL, $NOTES rendered notes, work dir $WORK" >&2
"$W2V" make-nsynth "$WORK/nsynth" --size mini --max-notes "$NOTES" --workers 1 >/dev/null
"$W2V" export-hear-tasks "$WORK/nsynth" "$WORK/tasks" >/dev/null

MODEL_ARG=()
[[ -n "$MODEL" ]] && MODEL_ARG=(--model "$MODEL")
"$HEAR_PY" -m heareval.embeddings.runner hear_w2v_music "${MODEL_ARG[@]}" \
    --tasks-dir "$WORK/tasks" --embeddings-dir "$WORK/embeddings"

status=0
for task_dir in "$WORK"/embeddings/hear_w2v_music/*/; do
    "$HEAR_PY" -m heareval.predictions.runner "$task_dir" --grid "${HEAREVAL_GRID:-faster}" \
        --grid-points "${HEAREVAL_GRID_POINTS:-1}" 2>&1 | tail -n 5
    "$HEAR_PY" - "$task_dir" <<'PY' || status=1
import json, math, pathlib, sys
task = pathlib.Path(sys.argv[1])
scores = json.loads((task / "test.predicted-scores.json").read_text())
flat = scores.get("test", scores)
numbers = {k: v for k, v in flat.items() if isinstance(v, (int, float))}
assert numbers and all(math.isfinite(v) for v in numbers.values()), f"{task}: no numeric scores in {scores}"
print(f"[heareval_check] heareval {task.name}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(numbers.items())))
PY
done

# Our FE probe on the same notes and model, for comparison.
for task in pitch instrument; do
    "$W2V" finetune --task "$task" --mode fe --model "$MODEL" --data "$WORK/nsynth" --out "$WORK/fe-$task" \
        --cache-dir "$WORK/cache" --no-progress 2>/dev/null | sed "s/^/[heareval_check] ours FE: /"
done

if [[ $status -ne 0 ]]; then
    echo "[heareval_check] FAILED" >&2
    exit 1
fi
echo "[heareval_check] passed"
