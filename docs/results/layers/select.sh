# The best layer of each model, chosen on the selection split (valid instruments only; docs/training.md,
# results/length/make_select_view.py), never on the test notes. FE pitch, probe per layer.
# Random init: results/length/select-layers-random.csv (same architecture and seed; masking does not touch it).
cd /root/w2v
for m in music speech; do
  w2v-music finetune --task pitch --mode fe --model $m-small --layer all --data traj/select-view --out s3/select-layers-$m \
     --seed 0 --precision fp32 --max-per-split 2000,500,500 --no-progress
done
# then, on the test notes, three probe seeds at the chosen layers (music 1, speech 0, random init 4 = last):
D=DATA/nsynth-small
w2v-music finetune --task pitch --mode fe --model music-small  --layer 1 --seeds 3 --data $D --max-per-split 2000,500,1000 --out test-best-s3/music
w2v-music finetune --task pitch --mode fe --model speech-small --layer 0 --seeds 3 --data $D --max-per-split 2000,500,1000 --out test-best-s3/speech
w2v-music finetune --task pitch --mode fe --model random:music-small --seeds 3 --data $D --max-per-split 2000,500,1000 --out test-last-s3/random
python scripts/compare_runs.py test-last-s3/random test-best-s3/music test-best-s3/speech
