# Instrument family, last layer, three probe seeds, cached embeddings of the main job.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
D=/root/w2v/fresh/data/nsynth-small
for m in music-small random:music-small speech-small; do
  n=${m/random:music-small/random}; n=${n%-small}
  $W finetune --task instrument --mode fe --model $m --seeds 3 --data $D --max-per-split 2000,500,1000 --cache-dir s3/cache \
     --precision fp32 --out s3/test-inst-s3/$n --no-progress > s3/test-inst-s3-$n.log 2>&1
done
echo done
