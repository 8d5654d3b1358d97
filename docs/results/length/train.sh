# Pretraining-length candidates of the `small` recipe (issue 9): 200 / 500 updates, same data as the bundled runs.
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
case $1 in
music) $W pretrain --config small --data music-2.5h --out traj/music-500 --set max_steps=500 --no-progress > traj/music-500.log 2>&1 ;;
speech) $W pretrain --config small --data speech-2.5h --out traj/speech-200 --set max_steps=200 --no-progress > traj/speech-200.log 2>&1
        $W pretrain --config small --data speech-2.5h --out traj/speech-500 --set max_steps=500 --no-progress > traj/speech-500.log 2>&1 ;;
esac
