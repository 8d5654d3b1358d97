# Masking lever: the `small` recipe at 300 updates with model.mask_time_prob=0.3 (default 0.65). $1 corpus
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data $1-2.5h --out long/$1-mask0.3-300 --set max_steps=300 --set model.mask_time_prob=0.3 \
   --set keep_every_steps=100 --no-progress >> long/$1-mask0.3-300.log 2>&1
