# Pretraining-seed variance of the 200-update `small` run (the early pitch peak): seeds 1 and 2 beside seed 0.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data music-2.5h --out long/music-200-seed$1 --set max_steps=200 --set seed=$1 --no-progress >> long/music-200-seed$1.log 2>&1
$W finetune --task pitch --mode fe --model long/music-200-seed$1 --data traj/select-view --out long/select/music-200-seed$1 \
   --seed 0 --precision fp32 --max-per-split 2000,500,500 --no-progress 2>&1 | tail -1 >> long/seeds.log
