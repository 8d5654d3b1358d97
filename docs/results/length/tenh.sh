cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
while pgrep -f "make-corpus /root/w2v/music-10h" >/dev/null; do sleep 10; done
$W pretrain --config small --data music-10h --out traj/music10h-500 --set max_steps=500 --no-progress > traj/music10h-500.log 2>&1
bash traj/select.sh music10h-500=/root/w2v/traj/music10h-500
