"""Memorisation ablations (docs/training.md): can a recipe fit two fixed clips?

    python scripts/memorise.py --config small --clips A.wav B.wav --seconds 3 --updates 200 \
        --set lr=1e-3 --set feature_penalty=0 [--label name] [--json out.jsonl]
    python scripts/memorise.py --config small --folder TWO_FILES_DIR --set max_crop_samples=48000 ...

Without --clips or --folder, two synthetic clips (note sequences of harmonic tones) are used. Prints one JSON
line: final contrastive loss (mean of the last 10 updates) vs ln(K+1), honest accuracy vs chance,
code perplexity, grad norm and seconds. Run with one torch thread for comparable timings.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pretrain import config as config_lib  # noqa: E402
from pretrain.diagnose import folder_batches, memorise  # noqa: E402


def synthetic_clips(count: int, seconds: float, seed: int = 0) -> np.ndarray:
    """``(count, samples)`` float32 at 16 kHz: sequences of 0.25 s harmonic notes at random pitches."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    clips = np.zeros((count, n), np.float32)
    for c in range(count):
        note = 4000
        for start in range(0, n, note):
            f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
            seg = slice(start, min(n, start + note))
            tone = sum(np.sin(2 * np.pi * f0 * k * t[seg]) / k for k in range(1, 6))
            clips[c, seg] = 0.3 * tone * np.exp(-3 * (t[seg] - t[start]))
    return clips


def read_clips(paths: list[str], seconds: float) -> np.ndarray:
    """The first ``seconds`` of each file (its middle when longer), mono at 16 kHz."""
    from pretrain.fileio import load_audio

    n = int(seconds * 16000)
    out = []
    for path in paths:
        audio = load_audio(path)
        start = max(0, (len(audio) - n) // 2)
        clip = audio[start:start + n]
        if len(clip) < n:
            raise SystemExit(f"{path}: shorter than {seconds} s")
        out.append(clip)
    return np.stack(out).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--clips", nargs="*", default=None, help="fixed clips (the middle --seconds of each)")
    parser.add_argument("--folder", default=None,
                        help="random crops (max_crop_samples) of the files in this folder, as pretrain reads them")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--label", default="")
    parser.add_argument("--json", default=None, help="append the result line to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = config_lib.resolve(args.config, [f"max_steps={args.updates}", *args.overrides])
    if args.folder:
        source = folder_batches(config, [args.folder])
    else:
        source = torch.from_numpy(read_clips(args.clips, args.seconds) if args.clips
                                  else synthetic_clips(2, args.seconds))
    result = memorise(config, source)
    line = {"label": args.label, "config": args.config, "overrides": args.overrides, "folder": args.folder,
            "clip_seconds": None if args.folder else args.seconds, **result.summary()}
    text = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in line.items()})
    print(text, flush=True)
    if args.json:
        with open(args.json, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
