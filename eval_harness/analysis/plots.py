"""Figures of the analyses: code x label heatmaps (paper Figs. 1-2) and the layer-wise PWCCA plot (Fig. 3).

matplotlib with the Agg backend; every PNG is written under a temporary name and then renamed.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from eval_harness.analysis.cooccurrence import Cooccurrence, order_codes  # noqa: E402
from pretrain.fileio import atomic_path  # noqa: E402

DPI = 120  # dots per inch of the saved PNGs


def save_figure(fig, path: str | Path, dpi: int = DPI) -> Path:
    """Save a matplotlib figure as PNG atomically (temporary sibling, then rename) and close it."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return Path(path)


def conditional(counts: np.ndarray) -> np.ndarray:
    """P(label | code) per row of a (C, L) count matrix; rows without frames stay 0."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)


def cooccurrence_heatmap(co: Cooccurrence, path: str | Path, title: str, max_codes: int | None = None) -> Path:
    """Heatmap of P(label | code): labels (with frames) on the y axis, used codes on the x axis.

    Codes are ordered by their dominant label, so codes specialised in one label form a diagonal
    staircase; a column spread over many rows is a code shared across labels.

    Args:
        co: the co-occurrence matrix (codes x labels).
        path: the PNG to write.
        title: figure title.
        max_codes: show only this many most frequent used codes (None: every used code).
    """
    rows = order_codes(co.counts, max_codes)
    labels = np.flatnonzero(co.counts.sum(axis=0) > 0)
    image = conditional(co.counts[rows])[:, labels].T  # (labels, codes)
    width = float(np.clip(3.0 + 0.06 * rows.size, 6.0, 22.0))
    height = float(np.clip(1.5 + 0.14 * labels.size, 3.0, 16.0))
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    mesh = ax.imshow(image, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_yticks(np.arange(labels.size))
    ax.set_yticklabels([co.label_names[i] for i in labels], fontsize=7 if labels.size > 30 else 9)
    step = max(1, rows.size // 60)
    ax.set_xticks(np.arange(0, rows.size, step))
    ax.set_xticklabels([co.code_names[i] for i in rows[::step]], rotation=90, fontsize=6)
    ax.set_xlabel(f"code ({rows.size} used, ordered by dominant label)")
    ax.set_title(title)
    fig.colorbar(mesh, ax=ax, label="P(label | code)", fraction=0.03, pad=0.01)
    return save_figure(fig, path)


def layer_plot(curves: dict[str, list[float]], path: str | Path, ylabel: str = "PWCCA with CNN output",
               title: str = "Transformer layers vs feature encoder output") -> Path:
    """One line per model of a per-layer score (index 0 = transformer input, k = block k).

    Args:
        curves: model name -> scores, one per layer, in layer order.
        path: the PNG to write.
    """
    if not curves:
        raise ValueError("no curves to plot")
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for name, values in curves.items():
        ax.plot(np.arange(len(values)), values, marker="o", label=name)
    longest = max(len(v) for v in curves.values())
    ax.set_xticks(np.arange(longest))
    ax.set_xticklabels(["in"] + [str(k) for k in range(1, longest)])
    ax.set_xlabel("transformer layer (in = transformer input)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path)
