"""FE speed: the cached-embedding probe against re-running the frozen backbone every epoch.

Same model, same notes, same head, same number of epochs (early stopping off), in one process:

- naive:  every epoch runs the backbone over the train and valid notes (no_grad) and trains the head;
- cold:   `embedding_cache.cached_features` extracts train/valid/test once into an empty cache, then the head
          trains in memory (what a first FE run costs);
- warm:   the same with the cache already filled (a second task, or a re-run).

Prints the seconds of each and the speed-ups naive/cold and naive/warm.

    .venv/bin/python benchmarks/fe_speed.py --model random:small --epochs 20
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="random:small", help="model source (default random:small)")
    p.add_argument("--data", type=Path, default=None,
                   help="NSynth-format folder (default: render --notes notes with make-nsynth into a temp dir)")
    p.add_argument("--notes", type=int, default=48, help="notes rendered when --data is absent")
    p.add_argument("--max-per-split", type=int, default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--task", default="pitch")
    return p.parse_args()


class FrozenProbe(nn.Module):
    """Backbone under no_grad (re-run on every batch) -> time-mean of the last block -> Linear head."""

    def __init__(self, encoder, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.backbone.config.hidden_size, num_classes)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            feats = self.encoder.hidden_means(audio, [self.encoder.num_layers])[:, 0]
        return self.head(feats)


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    from eval_harness import nsynth
    from eval_harness.models import load_encoder
    from eval_harness.finetune import audio_batches
    from eval_harness.embedding_cache import EmbeddingCache, cached_features
    from eval_harness.probe import train_head
    from eval_harness.training import EarlyStopping, FitConfig, fit

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from pretrain.datagen.nsynth_render import render_nsynth
            data = Path(tmp) / "nsynth"
            render_nsynth(data, size="mini", max_notes=args.notes, progress=False)
        splits = nsynth.load_splits(data, args.max_per_split)
        task = nsynth.get_task(args.task)
        y = {s: nsynth.labels(splits[s].notes, task) for s in nsynth.SPLITS}
        encoder = load_encoder(args.model)
        fit_cfg = FitConfig(max_epochs=args.epochs, patience=args.epochs + 1, progress=False)
        sizes = {s: len(splits[s]) for s in nsynth.SPLITS}
        print(f"model {args.model}, data {data} {sizes}, {args.epochs} epochs, {torch.get_num_threads()} threads")

        t0 = time.perf_counter()
        model = FrozenProbe(encoder, task.num_classes)
        fit(model, torch.optim.Adam(model.head.parameters(), lr=1e-3),
            lambda e: audio_batches(splits["train"].notes, y["train"], args.batch_size, e),
            lambda: audio_batches(splits["valid"].notes, y["valid"], args.batch_size), fit_cfg,
            EarlyStopping(args.epochs + 1))
        naive = time.perf_counter() - t0

        def cached_run() -> float:
            start = time.perf_counter()
            feats = {s: cached_features(encoder, splits[s].notes, [encoder.num_layers], cache, progress=False)[:, 0]
                     for s in nsynth.SPLITS}
            train_head(feats["train"], y["train"], feats["valid"], y["valid"], task.num_classes, fit_cfg,
                       args.batch_size)
            return time.perf_counter() - start

        cache = EmbeddingCache(Path(tmp) / "cache")
        cold = cached_run()
        warm = cached_run()
        assert cache.hits == 3 and cache.misses == 3
    print(f"naive (backbone every epoch): {naive:8.2f} s")
    print(f"cached, cold (extract once) : {cold:8.2f} s   speed-up {naive / cold:6.1f}x")
    print(f"cached, warm (cache hit)    : {warm:8.2f} s   speed-up {naive / warm:6.1f}x")


if __name__ == "__main__":
    main()
