"""A 2-process CPU DDP (gloo) smoke run through the CLI (Lightning re-launches the command per rank)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def test_two_process_ddp_run(tmp_path):
    data = tmp_path / "audio"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(str(data / f"{i}.wav"), (0.1 * rng.standard_normal(32000)).astype(np.float32), 16000)
    run = tmp_path / "run"
    exe = Path(sys.executable).parent / "w2v-music"
    done = subprocess.run(
        [str(exe), "pretrain", "--config", "tiny", "--data", str(data), "--out", str(run), "--devices", "2",
         "--accelerator", "cpu", "--no-progress", "--set", "max_steps=3",
         "--set", f"manifest_cache={tmp_path / 'cache'}"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]  # rank 0 writes, once per step
    assert all(np.isfinite(float(r["loss"])) for r in rows)
