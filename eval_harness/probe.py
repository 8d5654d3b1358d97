"""FE, the paper's feature-extraction protocol: frozen backbone, time-mean of a layer, one linear layer.

Embeddings are extracted once and cached on disk (`EmbeddingCache`), keyed by the model's identity
(a SHA-256 of its config and weights), the layers and the data (note files with size and mtime); the
head then trains in memory on the cached arrays (`train_head`), Adam lr 1e-3. Beside the paper's
linear head: MARBLE's MLP probe and a learned softmax-weighted sum of all layers (s3prl), both in
`ProbeHead`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from eval_harness.audio_io import write_json_atomic
from eval_harness.nsynth import SAMPLE_RATE, Note, load_audio_batch
from eval_harness.training import EarlyStopping, FitConfig, FitResult, autocast, fit, torch_threads

log = logging.getLogger(__name__)

CACHE_VERSION = 1
FE_LR = 1e-3  # the paper's Adam learning rate for the FE head (MARBLE's for its MLP probe too)
PROBES = ("linear", "mlp")  # the paper's linear layer; MARBLE's MLP
MLP_HIDDEN = 512  # MARBLE's MLP probe: one hidden layer of 512 units
MLP_DROPOUT = 0.2  # ... with dropout 0.2 after its ReLU
WEIGHTED = "weighted"  # --layer value: a learned softmax-weighted sum of all layers


class Featurizer(Protocol):
    """Anything that turns 4 s clips into per-layer clip vectors (a wav2vec 2.0 `Encoder`, the log-mel baseline)."""

    source: str  # the SRC string it was loaded from
    identity: str  # hex digest of whatever determines its output (config + weights + preprocessing)
    num_layers: int  # selectable layers are 0..num_layers
    standardize: bool  # whether the probe standardises inputs (train-split mean/std) before the linear layer

    def features(self, audio: np.ndarray, layers: Sequence[int], device: str, precision: str) -> np.ndarray:
        """audio float32 (batch, samples) at 16 kHz -> float32 (batch, len(layers), dim)."""


def resolve_layers(spec: str | int, num_layers: int) -> list[int]:
    """Layer indices for a `--layer` value: "last" / -1 -> [L], "all" / "weighted" -> [0..L], "k" -> [k]."""
    if str(spec) in ("all", WEIGHTED):
        return list(range(num_layers + 1))
    if str(spec) in ("last", "-1"):
        return [num_layers]
    try:
        k = int(spec)
    except ValueError:
        raise ValueError(f"layer must be an integer, 'last', 'all' or '{WEIGHTED}', got {spec!r}") from None
    if not 0 <= k <= num_layers:
        raise ValueError(f"layer {k} does not exist: this model has layers 0..{num_layers} "
                         f"(0 = transformer input, {num_layers} = last block)")
    return [k]


def model_identity(module: nn.Module, extra: dict | None = None) -> str:
    """SHA-256 (hex) over a module's config (when it has one), its state dict in key order, and `extra`."""
    digest = hashlib.sha256()
    config = getattr(module, "config", None)
    if config is not None:
        cfg = {k: v for k, v in config.to_dict().items() if k not in ("transformers_version", "_name_or_path")}
        digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def normalize_audio(audio: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Per-clip zero mean, unit variance (as wav2vec 2.0's feature extractor): (batch, samples) -> same."""
    mean = audio.mean(dim=-1, keepdim=True)
    var = audio.var(dim=-1, keepdim=True, unbiased=False)
    return (audio - mean) / torch.sqrt(var + eps)


@dataclass
class Encoder:
    """A wav2vec 2.0 backbone (HF `Wav2Vec2Model`) as a `Featurizer`, with its input normalisation."""

    backbone: nn.Module
    normalize: bool
    source: str
    identity: str
    standardize: bool = False

    @classmethod
    def from_backbone(cls, backbone: nn.Module, normalize: bool, source: str) -> "Encoder":
        """Wrap a backbone; its identity is computed from its config and weights."""
        return cls(backbone.eval(), normalize, source, model_identity(backbone, {"normalize": normalize}))

    @property
    def num_layers(self) -> int:
        return int(self.backbone.config.num_hidden_layers)

    def hidden_means(self, audio: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
        """audio (batch, samples) -> time-mean of the chosen hidden states, (batch, len(layers), hidden)."""
        x = normalize_audio(audio) if self.normalize else audio
        out = self.backbone(x, output_hidden_states=True)
        return torch.stack([out.hidden_states[k].mean(dim=1) for k in layers], dim=1)

    @torch.no_grad()
    def features(self, audio: np.ndarray, layers: Sequence[int], device: str = "cpu",
                 precision: str = "fp32") -> np.ndarray:
        self.backbone.eval()
        with autocast(device, precision):
            out = self.hidden_means(torch.from_numpy(np.asarray(audio, np.float32)).to(device), layers)
        return out.float().cpu().numpy()


def data_fingerprint(notes: Sequence[Note]) -> str:
    """SHA-256 (hex) over the notes' resolved paths, file sizes and modification times, in order."""
    digest = hashlib.sha256()
    for note in notes:
        st = os.stat(note.path)
        digest.update(f"{Path(note.path).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """$W2V_MUSIC_CACHE, else $XDG_CACHE_HOME/w2v-music (default ~/.cache/w2v-music), plus /embeddings."""
    if os.environ.get("W2V_MUSIC_CACHE"):
        return Path(os.environ["W2V_MUSIC_CACHE"]) / "embeddings"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "w2v-music" / "embeddings"


class EmbeddingCache:
    """Embeddings on disk: `<root>/<key>.npy` (float32 (n_notes, n_layers, dim)) plus `<key>.json` metadata."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(identity: str, layers: Sequence[int], data: str, precision: str) -> str:
        """A 24-hex-digit key from the model identity, layers, data fingerprint and precision."""
        if precision not in ("fp32", "bf16"):  # "auto" must be resolved first: results never mix
            raise ValueError(f"cache key needs a resolved precision 'fp32' or 'bf16', got {precision!r}")
        text = json.dumps({"v": CACHE_VERSION, "model": identity, "layers": list(layers), "data": data,
                           "precision": precision}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def load(self, key: str) -> np.ndarray | None:
        """The cached array for `key`, or None (a missing or unreadable entry)."""
        path = self.root / f"{key}.npy"
        if not path.is_file():
            return None
        try:
            return np.load(path)
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable cache entry %s (%s)", path, err)
            return None

    def save(self, key: str, array: np.ndarray, meta: dict) -> Path:
        """Write the array and its metadata atomically (temporary name, then rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{key}.npy"
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npy", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, array)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        write_json_atomic(self.root / f"{key}.json", meta)
        return path


def extract(featurizer: Featurizer, notes: Sequence[Note], layers: Sequence[int], batch_size: int = 8,
            device: str = "cpu", precision: str = "fp32", progress: bool = True, desc: str = "embed") -> np.ndarray:
    """Features of `notes`: float32 (len(notes), len(layers), dim), reading audio batch by batch."""
    chunks = []
    bar = tqdm(total=len(notes), desc=desc, unit="note", disable=not progress, leave=False)
    for start in range(0, len(notes), batch_size):
        batch = list(notes[start:start + batch_size])
        chunks.append(featurizer.features(load_audio_batch(batch), layers, device, precision))
        bar.update(len(batch))
    bar.close()
    return np.concatenate(chunks).astype(np.float32)


def cached_features(featurizer: Featurizer, notes: Sequence[Note], layers: Sequence[int], cache: EmbeddingCache,
                    batch_size: int = 8, device: str = "cpu", precision: str = "fp32", progress: bool = True,
                    desc: str = "embed") -> np.ndarray:
    """`extract` through the cache: float32 (len(notes), len(layers), dim).

    A cached all-layers array of the same model and notes also serves a single-layer request.
    """
    data = data_fingerprint(notes)
    key = cache.key(featurizer.identity, layers, data, precision)
    found = cache.load(key)
    if found is None and list(layers) != list(range(featurizer.num_layers + 1)):
        every = cache.load(cache.key(featurizer.identity, range(featurizer.num_layers + 1), data, precision))
        found = None if every is None else every[:, list(layers)]
    if found is not None and found.shape[:2] == (len(notes), len(layers)):
        cache.hits += 1
        log.info("embedding cache hit: %s, %s (%d notes, layers %s)", featurizer.source, desc, len(notes), list(layers))
        return found
    cache.misses += 1
    array = extract(featurizer, notes, layers, batch_size, device, precision, progress, desc)
    cache.save(key, array, {"source": featurizer.source, "identity": featurizer.identity, "layers": list(layers),
                            "notes": len(notes), "data": data, "precision": precision, "sample_rate": SAMPLE_RATE})
    log.info("embedding cache miss: extracted and saved %s (%s)", key, desc)
    return array


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
