# The `small` recipe with a schedule that does not depend on max_steps (issue 9, 2026-11-26 session 2):
# warm-up 200 updates, Gumbel decay 0.999 per update (the bundled 2000-update run's values), lr linear to 0 at 600.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data $1-2.5h --out long/$1-600 --set max_steps=600 --set warmup_steps=200 \
   --set gumbel_decay=0.999 --set keep_every_steps=100 --no-progress $2 >> long/$1-600.log 2>&1
