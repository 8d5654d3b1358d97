# Does a higher peak lr (2e-3) let speech leave the plateau within 300 updates? $1 corpus, $2 extra name, rest --set
cd /root/w2v
export OMP_NUM_THREADS=1
W=/work/main/.venv/bin/w2v-music
c=$1; n=$2; shift 2
$W pretrain --config small --data $c-2.5h --out long/$c-$n --set max_steps=300 --set lr=2e-3 --set keep_every_steps=100 "$@" --no-progress >> long/$c-$n.log 2>&1
