# Score kept snapshots on the selection split as they appear: FE pitch, last layer (docs/results/length/select.sh).
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
corpus=$1; shift
for n in "$@"; do
  f=long/$corpus-600/checkpoints/step-$(printf %07d $n).ckpt
  while [ ! -f $f ]; do sleep 20; done
  [ -f long/select/$corpus-$n/result.json ] && continue
  /usr/bin/time -f "%e s" $W finetune --task pitch --mode fe --model $f --data traj/select-view --out long/select/$corpus-$n \
     --seed 0 --precision fp32 --max-per-split 2000,500,500 --no-progress 2>&1 | tail -2
done
