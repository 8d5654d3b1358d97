# The long-schedule `small` recipe (warm-up 200, Gumbel decay 0.999) with feature penalty 0.1, 400 updates.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data $1-2.5h --out long/$1-pen0.1-400 --set max_steps=400 --set warmup_steps=200 \
   --set gumbel_decay=0.999 --set feature_penalty=0.1 --set keep_every_steps=100 --no-progress $2 >> long/$1-pen0.1-400.log 2>&1
