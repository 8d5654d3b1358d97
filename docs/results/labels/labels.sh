# Label efficiency: FE (last layer, 3 probe seeds) with 100 / 250 / 500 / 1000 training notes (nested seeded
# subsets of the main job's 2,000), the same 500 valid / 1,000 test notes. $1: model source, $2: short name.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
D=/root/w2v/fresh/data/nsynth-small
for n in 100 250 500 1000 2000; do
  for t in pitch instrument; do
    $W finetune --task $t --mode fe --model $1 --seeds 3 --data $D --max-per-split $n,500,1000 --cache-dir s3/cache \
       --precision fp32 --out s3/labels/$2-$t-$n --no-progress 2>&1 | tail -1
  done
done
