# Standardised linear probe (chosen on the selection split), then once on the test notes; three probe seeds.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
for spec in music=music-small random=random:music-small speech=speech-small; do
  name=${spec%%=*}; src=${spec#*=}
  [ -f long/test-std/$name/result.json ] && continue
  /usr/bin/time -f "%e s" $W finetune --task pitch --mode fe --model $src --data fresh/data/nsynth-small --out long/test-std/$name \
     --standardize --seeds 3 --seed 0 --precision fp32 --max-per-split 2000,500,1000 --cache-dir fresh/cache --no-progress 2>&1 | tail -2
done
