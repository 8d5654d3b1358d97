# Selection of the pretraining length on the VALID split (the test split is not read):
# FE pitch, last layer, train 2000 notes, early stopping and scoring on the 500 valid notes.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
for spec in "$@"; do
  name=${spec%%=*}; src=${spec#*=}
  [ -f traj/select/$name/result.json ] && continue
  $W finetune --task pitch --mode fe --model $src --data traj/select-view --out traj/select/$name \
     --seed 0 --precision fp32 --max-per-split 2000,500,500 --no-progress 2>&1 | tail -1
done
