# The `small` recipe at 400 updates (warm-up 10 % = 40) with the Gumbel temperature kept high (decay 0.999:
# 2.0 -> 1.34 at update 400) instead of annealed to 0.5 by update 277 (the compressed default).
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data $1-2.5h --out long/$1-g999-400 --set max_steps=400 \
   --set gumbel_decay=0.999 --set keep_every_steps=100 --no-progress $2 >> long/$1-g999-400.log 2>&1
