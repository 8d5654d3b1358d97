"""Embed audio files with a HEAR model: any format soundfile reads, any sample rate, any channel count.

Each file becomes ``<stem>.embeddings.npy`` (T, D) float32 and ``<stem>.timestamps.npy`` (T,)
float32 in ms, written atomically (a temporary name, then a rename).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from pretrain.fileio import atomic_path, load_audio

from hear_w2v_music import Wav2Vec2Embedder, get_timestamp_embeddings


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary file beside ``path``, then rename it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def output_paths(audio_path: Path, out_dir: Path) -> tuple[Path, Path]:
    """``(<out>/<stem>.embeddings.npy, <out>/<stem>.timestamps.npy)`` for one input file."""
    return out_dir / f"{audio_path.stem}.embeddings.npy", out_dir / f"{audio_path.stem}.timestamps.npy"


def embed_files(paths: Sequence[str | Path], model: Wav2Vec2Embedder, out_dir: str | Path,
                skip_existing: bool = False, progress: Callable[[Path, tuple[int, ...]], None] | None = None,
                ) -> list[tuple[Path, Path]]:
    """Embed every file of ``paths`` one at a time; returns the (embeddings, timestamps) paths written or kept.

    Raises ``ValueError`` before any work when two inputs share a stem (their outputs would clash).
    With ``skip_existing``, files whose two outputs already exist are not recomputed (resumable).
    """
    paths = [Path(p) for p in paths]
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ValueError(f"{stems[p.stem]} and {p} share the stem {p.stem!r}: their outputs would overwrite each other")
        stems[p.stem] = p
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in paths:
        emb_path, ts_path = output_paths(p, out)
        if not (skip_existing and emb_path.exists() and ts_path.exists()):
            audio = torch.from_numpy(load_audio(p))[None].to(model.device)
            try:
                with torch.inference_mode():
                    emb, ts = get_timestamp_embeddings(audio, model)
            except ValueError as err:
                raise ValueError(f"{p}: {err}") from err
            save_npy_atomic(ts_path, ts[0].cpu().numpy())
            save_npy_atomic(emb_path, emb[0].cpu().numpy())
            if progress is not None:
                progress(p, tuple(emb.shape[1:]))
        written.append((emb_path, ts_path))
    return written
