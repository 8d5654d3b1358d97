"""The supervised training loop shared by FE (a linear head on cached embeddings) and FT1/FT2.

Cross-entropy, early stopping on the mean validation loss (the paper: stop after 10 epochs without a
decrease), the weights of the best validation epoch kept for testing, and an atomic checkpoint written
after every epoch so an interrupted run resumes where it stopped (same batches, same result).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from pretrain.fileio import atomic_path

log = logging.getLogger(__name__)

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]  # (inputs, int64 labels of shape (batch,))
CHECKPOINT_VERSION = 1


@dataclass
class EarlyStopping:
    """Stop when the validation loss has not decreased for `patience` consecutive epochs.

    An epoch improves when its loss is below `best_loss - min_delta`.
    """

    patience: int = 10
    min_delta: float = 0.0
    best_loss: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {self.patience}")

    def update(self, loss: float, epoch: int) -> bool:
        """Record one epoch's validation loss; True when it is the new best."""
        if not math.isfinite(loss):
            raise FloatingPointError(f"validation loss is {loss} at epoch {epoch} (diverged; try a lower lr)")
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True once `patience` epochs in a row brought no improvement."""
        return self.bad_epochs >= self.patience


@dataclass
class FitConfig:
    """How to train: at most `max_epochs`, early stopping with `patience`, on `device` in `precision`.

    `max_seconds` (optional) ends training at the first epoch boundary after that much wall time in this
    call (the epoch's checkpoint is written first, so a later call resumes from it).
    """

    max_epochs: int = 100
    patience: int = 10
    device: str = "cpu"
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    progress: bool = True
    desc: str = "train"
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive (or None for no limit), got {self.max_seconds}")


@dataclass
class FitResult:
    """What `fit` returns: the best epoch's weights (CPU tensors) and the per-epoch history."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    resumed_from_epoch: int  # 0 for a fresh run
    stopped_by: str = "max_epochs"  # "early" (patience), "max_epochs" or "time" (max_seconds; resumable)
    history: list[dict] = field(default_factory=list)  # {"epoch", "train_loss", "val_loss", "val_accuracy"}

    @property
    def stopped_early(self) -> bool:
        return self.stopped_by == "early"


def autocast(device: str, precision: str) -> torch.autocast:
    """An autocast context: bf16 when asked, a disabled one otherwise."""
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` intra-op CPU threads (tiny tensors train faster on one), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the trainable-or-not weights of `model` (its full state dict)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@torch.no_grad()
def predict(model: nn.Module, batches: Batches, device: str = "cpu", precision: str = "fp32"
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """Run `model` in eval mode over `batches`.

    Returns:
        (logits float32 (n, num_classes), labels int64 (n,), mean cross-entropy over the n examples).
    """
    model.eval()
    logits, labels, total = [], [], 0.0
    for x, y in batches:
        with autocast(device, precision):
            out = model(x.to(device))
        out = out.float()
        total += float(nn.functional.cross_entropy(out, y.to(device), reduction="sum"))
        logits.append(out.cpu().numpy())
        labels.append(y.numpy())
    if not logits:
        raise ValueError("no examples to evaluate")
    y_all = np.concatenate(labels)
    return np.concatenate(logits).astype(np.float32), y_all, total / len(y_all)


def save_checkpoint_atomic(obj: dict, path: Path) -> None:
    """torch.save under a temporary name in the same folder, then rename (never a half-written file)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _load_resume(path: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer
                 ) -> tuple[int, EarlyStopping | None, dict | None, list[dict]]:
    if path is None or not path.is_file():
        return 0, None, None, []
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a training checkpoint of this version (delete it to start over)")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    log.info("resuming %s at epoch %d (best val loss %.4f at epoch %d)", path, state["epoch"],
             state["early"]["best_loss"], state["early"]["best_epoch"])
    return state["epoch"], EarlyStopping(**state["early"]), state["best_state"], state["history"]


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, train_batches: Callable[[int], Batches],
        val_batches: Callable[[], Batches], config: FitConfig, early: EarlyStopping | None = None,
        checkpoint: Path | None = None) -> FitResult:
    """Train `model` with cross-entropy until early stopping or `config.max_epochs`.

    Args:
        model: maps a batch of inputs to logits (batch, num_classes); already on `config.device`.
        optimizer: over the parameters to train (the rest must have requires_grad False).
        train_batches: epoch index -> batches of that epoch (shuffle with a seed derived from the
            epoch so a resumed run sees the same batches).
        val_batches: () -> the validation batches.
        early: the stopping rule (default: patience from `config`).
        checkpoint: where to keep the resumable state; if it exists the run resumes from it.

    Returns:
        FitResult with the weights of the epoch of lowest validation loss.
    """
    began = time.perf_counter()
    start, loaded_early, best_state, history = _load_resume(checkpoint, model, optimizer)
    early = loaded_early or early or EarlyStopping(patience=config.patience)
    best_state = best_state or cpu_state(model)
    epochs = tqdm(range(start, config.max_epochs), desc=config.desc, disable=not config.progress,
                  initial=start, total=config.max_epochs, unit="epoch", leave=False)
    stopped_by = "early" if early.should_stop else "max_epochs"
    for epoch in ([] if stopped_by == "early" else epochs):
        model.train()
        total, count = 0.0, 0
        for x, y in train_batches(epoch):
            x, y = x.to(config.device), y.to(config.device)
            optimizer.zero_grad(set_to_none=True)
            with autocast(config.device, config.precision):
                logits = model(x)
            loss = nn.functional.cross_entropy(logits.float(), y)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(y), count + len(y)
        _, _, val_loss = predict(model, val_batches(), config.device, config.precision)
        if early.update(val_loss, epoch):
            best_state = cpu_state(model)
        history.append({"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss})
        epochs.set_postfix(train=f"{history[-1]['train_loss']:.3f}", val=f"{val_loss:.3f}",
                           best=early.best_epoch)
        if checkpoint is not None:
            save_checkpoint_atomic({"version": CHECKPOINT_VERSION, "epoch": epoch + 1, "model": model.state_dict(),
                                    "optimizer": optimizer.state_dict(), "early": asdict(early),
                                    "best_state": best_state, "history": history,
                                    "torch_rng": torch.get_rng_state()}, checkpoint)
        if early.should_stop:
            stopped_by = "early"
            break
        if config.max_seconds is not None and time.perf_counter() - began >= config.max_seconds \
                and epoch + 1 < config.max_epochs:
            stopped_by = "time"
            log.info("%s: time budget of %.0f s spent after epoch %d; stopping (resumable)", config.desc,
                     config.max_seconds, epoch)
            break
    epochs.close()
    return FitResult(best_state=copy.deepcopy(best_state), best_epoch=early.best_epoch,
                     best_val_loss=early.best_loss, epochs_run=len(history),
                     resumed_from_epoch=start, history=history, stopped_by=stopped_by)
