# Another pretraining seed of the mask-0.3 recipe (300 updates, model.mask_time_prob=0.3; now the `small` preset):
# both corpora, then the music model's selection-split score (docs/training.md, "Masking").
# Usage: bash train-mask0.3-300-seed.sh SEED      (seeds 1 and 2 were run; seed 0: train-mask0.3-300.sh)
s=${1:?usage: train-mask0.3-300-seed.sh SEED}
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
for c in music speech; do
  $W pretrain --config small --data $c-2.5h --out long/$c-mask0.3-300-seed$s --set max_steps=300 --set model.mask_time_prob=0.3 \
     --set seed=$s --no-progress >> long/$c-mask0.3-300-seed$s.log 2>&1
done
$W finetune --task pitch --mode fe --model long/music-mask0.3-300-seed$s --data traj/select-view --out long/select/music-mask0.3-300-seed$s \
   --seed 0 --precision fp32 --max-per-split 2000,500,500 --no-progress 2>&1 | tail -1 >> long/mask.log
