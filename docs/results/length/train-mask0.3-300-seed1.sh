cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
while [ ! -f long/speech-mask0.3-300/checkpoints/step-0000300.ckpt ]; do sleep 5; done; sleep 10
$W pretrain --config small --data music-2.5h --out long/music-mask0.3-300-seed1 --set max_steps=300 --set model.mask_time_prob=0.3 \
   --set seed=1 --no-progress >> long/music-mask0.3-300-seed1.log 2>&1
$W finetune --task pitch --mode fe --model long/music-mask0.3-300-seed1 --data traj/select-view --out long/select/music-mask0.3-300-seed1 \
   --seed 0 --precision fp32 --max-per-split 2000,500,500 --no-progress 2>&1 | tail -1 >> long/mask.log
