"""What FE embeds with: the `Featurizer` protocol and the wav2vec 2.0 `Encoder` that implements it.

A featurizer turns 4 s clips into per-layer clip vectors (batch, n_layers, dim). The `Encoder` takes
them through `hear_w2v_music.layers` (the HEAR module's own layer extractor and input normaliser);
the references (`logmel.LogMel`, `crepe.Crepe`) implement the same protocol. `model_identity` is the
SHA-256 of whatever determines a featurizer's output, the embedding cache's key.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import nn

from eval_harness.training import autocast
from hear_w2v_music.layers import ALL, LAST, WEIGHTED, LayerExtractor, resolve_layers as _resolve_layers

FE_LAYER_NAMES = (LAST, ALL, WEIGHTED)  # the names `--layer` accepts for FE besides integers
# Layer indices for an FE `--layer` value: "last" / -1 -> [L], "all" / "weighted" -> [0..L], "k" -> [k]
# (the one layer-spec parser, with FE's names).
resolve_layers = functools.partial(_resolve_layers, names=FE_LAYER_NAMES)


class Featurizer(Protocol):
    """Anything that turns 4 s clips into per-layer clip vectors (a wav2vec 2.0 `Encoder`, the log-mel baseline)."""

    source: str  # the SRC string it was loaded from
    identity: str  # hex digest of whatever determines its output (config + weights + preprocessing)
    num_layers: int  # selectable layers are 0..num_layers
    standardize: bool  # whether the probe standardises inputs (train-split mean/std) before the linear layer

    def features(self, audio: np.ndarray, layers: Sequence[int], device: str, precision: str) -> np.ndarray:
        """audio float32 (batch, samples) at 16 kHz -> float32 (batch, len(layers), dim)."""


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
        """audio (batch, samples) at 16 kHz -> time-means of layers 0..L, (batch, len(layers), hidden).

        The HEAR module's own forward path (``hear_w2v_music.layers.LayerExtractor``), in one pass.
        """
        return LayerExtractor(self.backbone, self.normalize).time_means(audio, layers)

    @torch.no_grad()
    def features(self, audio: np.ndarray, layers: Sequence[int], device: str = "cpu",
                 precision: str = "fp32") -> np.ndarray:
        self.backbone.to(device).eval()  # the caller's device: FE on CUDA once ran CPU weights on CUDA inputs
        with autocast(device, precision):
            out = self.hidden_means(torch.from_numpy(np.asarray(audio, np.float32)).to(device), layers)
        return out.float().cpu().numpy()
