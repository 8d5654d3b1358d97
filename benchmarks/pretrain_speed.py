"""Pretraining throughput (audio seconds per wall second): our module vs a plain HF training loop.

Both train the same ``Wav2Vec2ForPreTraining`` config on the same random batches (``--batch`` crops
of ``--seconds`` s) with AdamW: "ours" runs ``pretrain.losses.pretraining_loss`` (fairseq recipe:
feature penalty, grad mult, masked-only quantisation, per-utterance negatives); "hf" calls the model's
own ``forward`` with HF's ``_compute_mask_indices`` / ``_sample_negative_indices``. Timed after
``--warmup`` untimed steps. Example::

    .venv/bin/python benchmarks/pretrain_speed.py --config small --threads 1 --batch 8 --seconds 5
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pretrain import config as config_lib
from pretrain.module import Wav2Vec2Pretraining


def _hf_step(module: Wav2Vec2Pretraining, waves: torch.Tensor) -> torch.Tensor:
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    model, cfg = module.model, module.model.config
    frames = int(model._get_feat_extract_output_lengths(waves.shape[1]))
    mask = _compute_mask_indices((waves.shape[0], frames), cfg.mask_time_prob, cfg.mask_time_length,
                                 min_masks=cfg.mask_time_min_masks)
    negatives = _sample_negative_indices((waves.shape[0], frames), cfg.num_negatives, mask)
    out = model(waves, mask_time_indices=torch.from_numpy(mask),
                sampled_negative_indices=torch.from_numpy(negatives).long())
    return out.loss / int(mask.sum())


def _ours_step(module: Wav2Vec2Pretraining, waves: torch.Tensor, step: int) -> torch.Tensor:
    return module.compute_loss(waves, torch.Generator().manual_seed(step)).total


def measure(kind: str, config_name: str, batch: int, seconds: float, steps: int, warmup: int,
            bf16: bool) -> float:
    """Audio seconds per second of ``steps`` timed updates of ``kind`` ("ours" or "hf")."""
    cfg = config_lib.resolve(config_name)
    module = Wav2Vec2Pretraining(cfg).train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
    rng = np.random.default_rng(0)
    waves = torch.from_numpy(rng.uniform(-0.5, 0.5, (batch, int(seconds * 16000))).astype(np.float32))
    elapsed = 0.0
    for step in range(warmup + steps):
        tic = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = _ours_step(module, waves, step) if kind == "ours" else _hf_step(module, waves)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            elapsed += time.perf_counter() - tic
    return steps * batch * seconds / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", default=["ours", "hf"])
    parser.add_argument("--bf16", action="store_true", help="torch.autocast bfloat16 on CPU")
    args = parser.parse_args()
    print(f"config={args.config} batch={args.batch}x{args.seconds}s steps={args.steps} bf16={args.bf16}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for kind in args.kinds:
            rate = measure(kind, args.config, args.batch, args.seconds, args.steps, args.warmup, args.bf16)
            print(f"threads={threads} {kind:>4}: {rate:7.2f} audio s/s")


if __name__ == "__main__":
    main()
