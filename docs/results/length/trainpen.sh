# small recipe + a feature penalty P (weight of the mean squared CNN features), 500 updates
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
$W pretrain --config small --data $1-2.5h --out traj/$1-pen$2-500 --set max_steps=500 --set feature_penalty=$2 --no-progress > traj/$1-pen$2-500.log 2>&1
