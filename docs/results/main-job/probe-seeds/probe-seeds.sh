# Last layer on the test notes with three probe seeds (the probe's own variance), both tasks, on the cached
# embeddings of the main job (docs/evaluation.md, "The probe's own seed"); then scripts/compare_runs.py.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
D=/root/w2v/fresh/data/nsynth-small
for task in pitch instrument; do
  dir=s3/test-last-s3; [ $task = instrument ] && dir=s3/test-inst-s3
  for m in music-small random:music-small speech-small; do
    n=${m/random:music-small/random}; n=${n%-small}
    $W finetune --task $task --mode fe --model $m --seeds 3 --data $D --max-per-split 2000,500,1000 --cache-dir s3/cache \
       --precision fp32 --out $dir/$n --no-progress > $dir-$n.log 2>&1
  done
done
