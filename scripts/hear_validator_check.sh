#!/usr/bin/env bash
# Run the real hear-validator 2021.0.6 on hear_w2v_music with a tiny random-init checkpoint.
#
# Builds or reuses the side environment `~/.cache/w2v-music/venv-hear` (`HEAR_VENV`) (scripts/hear_env.sh), saves a tiny
# Wav2Vec2ForPreTraining as an HF model dir in a temporary directory, and runs
# `hear-validator hear_w2v_music --model <dir>`. Fails unless it exits 0 and says "Looks good!".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/hear_env.sh

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$HEAR_PY" - "$WORK/tiny" <<'PY'
import json, sys
import torch
from transformers import Wav2Vec2ForPreTraining
from hear_w2v_music import configs

out = sys.argv[1]
torch.manual_seed(0)
Wav2Vec2ForPreTraining(configs.tiny()).eval().save_pretrained(out)
with open(f"{out}/preprocessor_config.json", "w") as f:
    json.dump({"feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": 16000,
               "do_normalize": True, "feature_size": 1, "padding_value": 0.0}, f)
PY

echo "[hear_validator_check] hear-validator hear_w2v_music --model $WORK/tiny"
# Hide any GPU: the validator imports TensorFlow, and this check is about the API, not speed.
CUDA_VISIBLE_DEVICES="" "$HEAR_VENV/bin/hear-validator" hear_w2v_music --model "$WORK/tiny" 2>&1 | tee "$WORK/log.txt"
status=${PIPESTATUS[0]}
if [[ $status -ne 0 ]] || ! grep -q "Looks good!" "$WORK/log.txt"; then
    echo "[hear_validator_check] FAILED (exit $status)" >&2
    exit 1
fi
echo "[hear_validator_check] passed"
