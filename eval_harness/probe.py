"""FE's probe: the head trained on frozen clip vectors, the paper's linear layer and its variants.

The paper's feature-extraction protocol is frozen backbone, time-mean of a layer, one linear layer:
features come from `featurizers` through `embedding_cache`; the head then trains in memory on the
cached arrays (`train_head`), Adam lr 1e-3. Beside the paper's linear head: MARBLE's MLP probe and a
learned softmax-weighted sum of all layers (s3prl), both in `ProbeHead`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from eval_harness.training import EarlyStopping, FitConfig, FitResult, fit, torch_threads

FE_LR = 1e-3  # the paper's Adam learning rate for the FE head (MARBLE's for its MLP probe too)
PROBES = ("linear", "mlp")  # the paper's linear layer; MARBLE's MLP
MLP_HIDDEN = 512  # MARBLE's MLP probe: one hidden layer of 512 units
MLP_DROPOUT = 0.2  # ... with dropout 0.2 after its ReLU


class ProbeHead(nn.Module):
    """The probe on clip vectors: standardisation, an optional learned layer mix, then a classifier.

    Input (batch, dim), or (batch, n_layers, dim) with `n_layers` for a learned softmax-weighted sum of
    the layers (s3prl's Featurizer: one logit per layer, initialised to 0, i.e. equal weights). The
    fixed `mean`/`std` buffers (identity unless the probe standardises) have the input's trailing shape.
    `kind` "linear" is the paper's single Linear; "mlp" is MARBLE's: Linear(dim, 512), ReLU, Dropout 0.2,
    Linear(512, classes). Output: logits (batch, num_classes).
    """

    def __init__(self, dim: int, num_classes: int, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None, kind: str = "linear", n_layers: int | None = None) -> None:
        super().__init__()
        if kind not in PROBES:
            raise ValueError(f"unknown probe {kind!r}: expected one of {', '.join(PROBES)}")
        shape = (dim,) if n_layers is None else (n_layers, dim)
        self.register_buffer("mean", torch.zeros(shape) if mean is None else mean.float())
        self.register_buffer("std", torch.ones(shape) if std is None else std.float())
        self.layer_logits = None if n_layers is None else nn.Parameter(torch.zeros(n_layers))
        self.hidden = nn.Identity() if kind == "linear" else nn.Sequential(
            nn.Linear(dim, MLP_HIDDEN), nn.ReLU(), nn.Dropout(MLP_DROPOUT))
        self.linear = nn.Linear(dim if kind == "linear" else MLP_HIDDEN, num_classes)

    def layer_weights(self) -> torch.Tensor | None:
        """The softmax layer weights (n_layers,), or None for a single-layer probe."""
        return None if self.layer_logits is None else torch.softmax(self.layer_logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        if self.layer_logits is not None:
            x = torch.einsum("l,bld->bd", self.layer_weights(), x)
        return self.linear(self.hidden(x))


def array_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int | None = None):
    """Batches of (x, y) rows; shuffled by a generator seeded with `seed` when it is given."""
    if seed is None:
        order = torch.arange(len(y))
    else:
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def train_head(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, num_classes: int,
               config: FitConfig, batch_size: int = 64, seed: int = 0, lr: float = FE_LR, standardize: bool = False,
               checkpoint: Path | None = None, probe: str = "linear") -> tuple[ProbeHead, FitResult]:
    """Train a `ProbeHead` on in-memory features with Adam and early stopping on the validation loss.

    Args:
        x_train, x_val: float32 (n, dim) features, or (n, n_layers, dim) for a learned weighted sum of
            the layers; y_train, y_val: int64 (n,) class indices.
        standardize: fit the head's mean/std on x_train (per layer and dimension); otherwise identity.
        checkpoint: resumable state file (see `training.fit`).
        probe: "linear" (the paper's) or "mlp" (MARBLE's).

    Returns:
        the head holding the best-validation weights (on CPU, eval mode), and the fit record.
    """
    torch.manual_seed(seed)
    xt, xv = torch.from_numpy(np.asarray(x_train, np.float32)), torch.from_numpy(np.asarray(x_val, np.float32))
    yt, yv = torch.from_numpy(np.asarray(y_train, np.int64)), torch.from_numpy(np.asarray(y_val, np.int64))
    if xt.ndim not in (2, 3) or xt.shape[1:] != xv.shape[1:]:
        raise ValueError(f"features must be (n, dim) or (n, layers, dim) alike for train and valid, "
                         f"got {tuple(xt.shape)} and {tuple(xv.shape)}")
    mean = std = None
    if standardize:
        mean, std = xt.mean(dim=0), xt.std(dim=0, unbiased=False).clamp_min(1e-6)
    n_layers = xt.shape[1] if xt.ndim == 3 else None
    head = ProbeHead(xt.shape[-1], num_classes, mean, std, probe, n_layers).to(config.device)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    threads = 1 if torch.device(config.device).type == "cpu" else torch.get_num_threads()
    with torch_threads(threads):  # a small head on (batch, dim) arrays: thread hand-offs cost more than they save
        result = fit(head, optimizer, lambda epoch: array_batches(xt, yt, batch_size, seed * 100003 + epoch),
                     lambda: array_batches(xv, yv, 4096), config, EarlyStopping(config.patience), checkpoint)
    head.load_state_dict(result.best_state)
    return head.cpu().eval(), result


@torch.no_grad()
def head_predict(head: nn.Module, x: np.ndarray) -> np.ndarray:
    """Predicted class indices, int64 (n,), for features x float32 (n, dim) or (n, layers, dim)."""
    return head(torch.from_numpy(np.asarray(x, np.float32))).argmax(dim=1).numpy()
