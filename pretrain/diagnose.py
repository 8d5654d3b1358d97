"""Can a recipe learn at all? Memorise a few fixed clips with the real loss, optimizer and schedules.

A recipe that cannot drive the contrastive loss well below ln(K + 1) on two clips it sees at every
update will not learn from a corpus either. ``memorise`` runs ``Wav2Vec2Pretraining``'s own
``compute_loss`` (normalisation, masks, negatives, Gumbel temperature, feature penalty and
gradient scale) and ``configure_optimizers`` (AdamW, warm-up, decay) in a plain loop, without
Lightning or a data loader, so a diagnosis takes seconds to minutes on a CPU. The tests use it to
guard learning; ``scripts/memorise.py`` runs the ablations of docs/training.md.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pretrain.config import PretrainConfig


@dataclass
class MemoriseResult:
    """Per-update history of a memorisation run (each list has one value per update)."""

    num_negatives: int
    contrastive: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # ties count as wrong
    chance: list[float] = field(default_factory=list)  # 1 / (1 + effective negatives), frame mean
    code_perplexity: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def plateau(self) -> float:
        """ln(K + 1): the contrastive loss of a model whose logits all tie."""
        return math.log(self.num_negatives + 1)

    def tail(self, name: str, n: int = 10) -> float:
        """Mean of the last ``n`` values of a history."""
        values = getattr(self, name)[-n:]
        return sum(values) / max(1, len(values))

    def summary(self) -> dict:
        """Final (last-10 mean) contrastive loss, its ratio to ln(K+1), accuracy, chance, perplexity."""
        return {"contrastive": self.tail("contrastive"), "plateau": self.plateau,
                "ratio": self.tail("contrastive") / self.plateau, "accuracy": self.tail("accuracy"),
                "chance": self.tail("chance"), "code_perplexity": self.tail("code_perplexity"),
                "grad_norm": self.tail("grad_norm"), "updates": len(self.contrastive), "seconds": self.seconds}


def memorise(config: PretrainConfig, waves: torch.Tensor | Iterable[torch.Tensor],
             updates: int | None = None) -> MemoriseResult:
    """Train for ``updates`` (default ``config.max_steps``) on ``waves``: fixed clips ``(B, N)`` at
    16 kHz, or an iterable of such batches (``folder_batches``: random crops of a few files).

    Each update draws fresh masks, negatives and Gumbel noise (seeded by the update index), as a
    corpus run does. Fixed clips are the easy case (every recipe of docs/training.md fits them);
    random crops of two files are the one that separates the recipes.
    """
    from pretrain.module import Wav2Vec2Pretraining

    updates = config.max_steps if updates is None else updates
    module = Wav2Vec2Pretraining(config)
    module.model.train()
    optimizers = module.configure_optimizers()
    optimizer, scheduler = optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"]
    result = MemoriseResult(num_negatives=module.model.config.num_negatives)
    stream = iter(waves) if not isinstance(waves, torch.Tensor) else None
    tic = time.perf_counter()
    for step in range(updates):
        batch = waves if stream is None else next(stream)
        generator = module.seed_batch(step)
        terms = module.compute_loss(batch, generator, step)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        grads = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        result.contrastive.append(float(terms.contrastive))
        result.accuracy.append(float(terms.accuracy))
        result.chance.append(float(terms.chance))
        result.code_perplexity.append(float(terms.code_perplexity))
        result.grad_norm.append(float(torch.stack(grads).norm()) if grads else 0.0)
    result.seconds = time.perf_counter() - tic
    return result


def folder_batches(config: PretrainConfig, folders: list[str | Path]) -> Iterator[torch.Tensor]:
    """The endless batch stream a ``pretrain`` run would see on ``folders``: ``(B, N)`` waves."""
    from pretrain.data import SegmentDataset, make_loader
    from pretrain.sources import collect_segments

    segments, _ = collect_segments([str(f) for f in folders], config.segment_seconds, config.hop_seconds,
                                   config.min_segment_seconds, config.musicnet_splits, config.manifest_cache)
    if not segments:
        raise ValueError(f"no audio segments in {[str(f) for f in folders]}")
    dataset = SegmentDataset(segments, config.sample_rate)
    loader = make_loader(dataset, config.max_batch_samples, config.max_crop_samples, config.seed, 0, 1, 0, 0)
    for batch in loader:
        yield batch["waves"]
