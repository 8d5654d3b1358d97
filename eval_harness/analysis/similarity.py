"""Layer-wise PWCCA against the CNN feature encoder output (the paper's Fig. 3, after Pasad et al. 2021).

For every model: 4 s from the middle of each recording (mono, 16 kHz), one forward pass per clip,
frames of all clips stacked; then PWCCA(CNN output, layer k) for the transformer input (k = 0) and
every block k = 1..L (`pwcca.compare`, which limits the dimensions to frames / 10 per side).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from eval_harness.analysis import AnalysisError, pwcca
from eval_harness.analysis.layers import audio_files, collect_layer_frames, load_backbone, middle_clip

CLIP_SECONDS = 4.0  # the paper's clip: 4 s from the middle of each recording


def layerwise_pwcca(cnn: np.ndarray, layers: list[np.ndarray],
                    min_frames_per_dim: float = pwcca.MIN_FRAMES_PER_DIM) -> list[pwcca.PWCCAResult]:
    """PWCCA of each layer against the CNN output.

    Args:
        cnn: (N, conv_dim) CNN frames.
        layers: L + 1 arrays (N, hidden) of the same frames.
        min_frames_per_dim: see `pwcca.compare`.

    Returns:
        one result per layer, in layer order.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [pwcca.compare(cnn, h, min_frames_per_dim) for h in layers]
    if caught:  # one warning per model, not one per layer
        warnings.warn(str(caught[0].message), UserWarning, stacklevel=2)
    return results


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def analyze_pwcca(models: list[str], audio_dir: str | Path, out_dir: str | Path, seconds: float = CLIP_SECONDS,
                  max_files: int | None = None, min_frames_per_dim: float = pwcca.MIN_FRAMES_PER_DIM,
                  title: str | None = None) -> dict:
    """Layer-wise PWCCA of several models on the same clips; writes pwcca.csv, pwcca.json, pwcca.png.

    Args:
        models: model sources (`load_checkpoint` sources or `w2v-music finetune` FT run directories).
        audio_dir: a folder of audio, or a MusicNet root (its test_data/ is used).
        out_dir: output folder (created; files written atomically).
        seconds: clip length taken from the middle of each file.
        max_files: use at most this many files, evenly spaced over the sorted list (None: all).
        min_frames_per_dim: frames required per CCA dimension (see `pwcca.compare`).
        title: plot title (default: the audio folder).

    Returns:
        {"audio", "files", "frames", "seconds", "models": {name: {"source", "pwcca": [...],
        "mean_cca": [...], "dims": [...], "reduced": bool}}, "figure", "csv"}
    """
    from eval_harness.analysis import plots
    from eval_harness.analysis.cooccurrence import csv_text
    from pretrain.fileio import write_json_atomic, write_text_atomic

    if not models:
        raise AnalysisError("give at least one model")
    files = audio_files(audio_dir, max_files)
    clips = [middle_clip(f, seconds) for f in files]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = [load_backbone(src) for src in models]
    names = _unique([name for _, _, name in loaded])
    rows: list[dict] = []
    per_model: dict[str, dict] = {}
    frames = 0
    for src, name, (model, normalize, _) in zip(models, names, loaded):
        cnn, layers = collect_layer_frames(model, clips, normalize)
        frames = int(cnn.shape[0])
        results = layerwise_pwcca(cnn, layers, min_frames_per_dim)
        per_model[name] = {"source": src, "pwcca": [r.pwcca for r in results],
                           "mean_cca": [r.mean_cca for r in results],
                           "dims": [min(r.x_dims, r.y_dims) for r in results],
                           "reduced": any(r.reduced for r in results)}
        rows += [{"model": name, "source": src, "layer": k, "pwcca": r.pwcca, "mean_cca": r.mean_cca,
                  "frames": r.n_frames, "cnn_dims": r.x_dims, "layer_dims": r.y_dims, "reduced": r.reduced}
                 for k, r in enumerate(results)]
    csv_path, png_path = out_dir / "pwcca.csv", out_dir / "pwcca.png"
    write_text_atomic(csv_path, csv_text(rows))
    plots.layer_plot({name: info["pwcca"] for name, info in per_model.items()}, png_path,
                     title=title or f"PWCCA with CNN output ({len(files)} clips of {seconds:g} s)")
    summary = {"audio": str(audio_dir), "files": len(files), "frames": frames, "seconds": seconds,
               "min_frames_per_dim": min_frames_per_dim, "models": per_model, "figure": str(png_path),
               "csv": str(csv_path)}
    write_json_atomic(out_dir / "pwcca.json", summary)
    return summary
