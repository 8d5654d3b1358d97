"""FE's embedding cache: features extracted once per (model, layers, data, precision), kept on disk.

`cached_features` returns float32 (n_notes, n_layers, dim) for a `featurizers.Featurizer`, from
`<root>/<key>.npy` when present (an all-layers entry also serves a single-layer request), else by
`extract`ing the notes' audio batch by batch and saving the result (`EmbeddingCache.save`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from eval_harness.featurizers import Featurizer
from eval_harness.nsynth import SAMPLE_RATE, Note, load_audio_batch
from pretrain.fileio import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

CACHE_VERSION = 1


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
        """Write the array and its metadata atomically (`pretrain.fileio`: temporary name, then rename)."""
        path = self.root / f"{key}.npy"
        with atomic_path(path, suffix=".npy") as tmp:  # creates the folder; np.save keeps a name ending in .npy
            np.save(tmp, array)
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
