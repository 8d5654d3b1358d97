"""HEAR 2021 API for wav2vec 2.0 models: ``load_model``, ``get_timestamp_embeddings``, ``get_scene_embeddings``.

Any wav2vec 2.0 checkpoint can be the model: the bundled ``music-small`` (the default), an HF
model directory, a fairseq ``.pt``, a ``w2v-music pretrain`` run, or ``random:SRC`` (see
``checkpoints.load_checkpoint``). Audio is 16 kHz mono, shape (n_sounds, n_samples), in [-1, 1].
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use (PEP 562), so `hear_w2v_music.frames` loads without torch
    import torch

    from .checkpoints import Checkpoint, load_checkpoint
    from .embedder import Wav2Vec2Embedder
    from .precision import resolve_precision

__all__ = ["Checkpoint", "Wav2Vec2Embedder", "get_scene_embeddings", "get_timestamp_embeddings",
           "load_checkpoint", "load_model", "resolve_precision"]

_OPTIONS = ("window_seconds", "context_seconds", "allow_pickle")
_LAZY = {"Checkpoint": "checkpoints", "load_checkpoint": "checkpoints", "Wav2Vec2Embedder": "embedder",
         "resolve_precision": "precision"}  # public name -> submodule defining it


def __getattr__(name: str) -> object:
    """The public classes and functions of the submodules, imported (with torch) on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def load_model(model_file_path: str | os.PathLike = "", layer: int | str | None = None, precision: str = "auto",
               **options) -> Wav2Vec2Embedder:
    """Load a model source as a HEAR module (a ``torch.nn.Module`` on the CPU, in eval mode).

    ``model_file_path``: any source of ``load_checkpoint`` (``""`` = bundled ``music-small``).
    ``layer``: 0 = transformer input, k = output of block k, -1/None = last block, ``"cnn"`` = CNN
    features after the feature layer norm (HF ``extract_features``); see ``layers.resolve_layers``. ``precision``: ``"auto"`` (bf16 where this CPU computes it natively, else fp32; the
    choice and its reason are logged and kept in ``model.precision`` / ``model.precision_reason``),
    ``"fp32"`` or ``"bf16"`` (bfloat16 weights; outputs stay float32).
    ``options``: ``window_seconds`` (30), ``context_seconds`` (5), ``allow_pickle`` (False).
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"unknown model option(s) {unknown}; expected layer, precision or one of {list(_OPTIONS)}")
    from .checkpoints import load_checkpoint
    from .embedder import Wav2Vec2Embedder

    allow_pickle = bool(options.pop("allow_pickle", False))
    checkpoint = load_checkpoint(os.fspath(model_file_path), allow_pickle=allow_pickle)
    return Wav2Vec2Embedder(checkpoint, layer=layer, precision=precision, **options)


def _check_model(model: object) -> Wav2Vec2Embedder:
    from .embedder import Wav2Vec2Embedder

    if not isinstance(model, Wav2Vec2Embedder):
        raise TypeError(f"model must come from hear_w2v_music.load_model, got {type(model).__name__}")
    return model


def get_timestamp_embeddings(audio: torch.Tensor, model: Wav2Vec2Embedder) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame embeddings of ``audio`` (n_sounds, n_samples) on the model's device.

    Returns float32 ``(n_sounds, T, D)`` and timestamps ``(n_sounds, T)`` in ms: frame k is centred
    at 12.5 + 20 k ms, ``T = floor((n_samples - 400) / 320) + 1`` (one frame for shorter clips).
    """
    return _check_model(model)(audio)


def get_scene_embeddings(audio: torch.Tensor, model: Wav2Vec2Embedder) -> torch.Tensor:
    """Clip embeddings: the time-mean of the chosen layer, float32 ``(n_sounds, D)``."""
    embeddings, _ = get_timestamp_embeddings(audio, model)
    return embeddings.mean(dim=1)
