# Pretraining-seed spread of the shipped recipe on the test notes (read after the bundled seed 0 was fixed):
# seeds 1 and 2 of both corpora, FE last layer, pitch and instrument, probe seed 0. $1 = music | speech
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
D=/root/w2v/fresh/data/nsynth-small
for s in 1 2; do
  for t in pitch instrument; do
    $W finetune --task $t --mode fe --model long/$1-mask0.3-300-seed$s --data $D --max-per-split 2000,500,1000 --cache-dir s3/cache \
       --seed 0 --precision fp32 --out s3/test-pretrain-seeds/$1-seed$s-$t --no-progress 2>&1 | tail -1
  done
done
