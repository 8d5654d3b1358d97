"""Training curves of a run: ``RUN/metrics.csv`` -> a PNG of losses, perplexities and schedules."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from pretrain.fileio import atomic_path

PANELS = (  # (title, columns)
    ("loss (per masked frame)", ("loss", "contrastive")),
    ("auxiliary losses", ("diversity", "feature_penalty")),
    ("codebook perplexity (sum over groups)", ("code_perplexity", "prob_perplexity")),
    ("contrastive accuracy (ties wrong) vs chance", ("accuracy", "chance", "identical_negatives")),
    ("Gumbel temperature / lr (x1000)", ("temperature", "lr")),
    ("grad norm / throughput (audio s/s)", ("grad_norm", "audio_s_per_s")),
)


def read_metrics(path: str | Path) -> dict[str, list[float]]:
    """Columns of a metrics CSV as float lists (missing values as NaN); the last row per step wins."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: not a pretrain run, or no step logged yet")
    with path.open(newline="") as f:
        rows = {int(r["step"]): r for r in csv.DictReader(f) if r.get("step", "").isdigit()}
    if not rows:
        raise ValueError(f"{path} has no metric rows")
    columns = next(iter(rows.values())).keys()

    def num(text: str | None) -> float:
        try:
            return float(text)
        except (TypeError, ValueError):
            return math.nan

    return {c: [num(rows[s][c]) for s in sorted(rows)] for c in columns}


def plot_training(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the curves of ``run_dir/metrics.csv`` to ``out`` (default ``run_dir/training.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    data = read_metrics(run_dir / "metrics.csv")
    out = Path(out) if out else run_dir / "training.png"
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (title, columns) in zip(axes.flat, PANELS):
        for column in columns:
            if column in data:
                scale = 1000.0 if column == "lr" else 1.0
                ax.plot(data["step"], [v * scale for v in data[column]], label=column)
        ax.set_title(title)
        ax.set_xlabel("update")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"wav2vec 2.0 pretraining: {run_dir.name}")
    fig.tight_layout()
    try:
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return out
