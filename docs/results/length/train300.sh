cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data $1-2.5h --out traj/$1-300 --set max_steps=300 --no-progress > traj/$1-300.log 2>&1
