"""Figures of the NSynth evaluation: confusion matrices, accuracy-per-layer curves, learned layer weights, and
the main comparison as bars with 95 % bootstrap error bars. matplotlib (Agg); PNGs are written atomically.

Records are the dicts of `finetune.run_finetune` (accuracy and ci_low / ci_high as fractions in [0, 1]).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from pretrain.fileio import write_text_atomic

TASK_ORDER = ("pitch", "pitch88", "instrument")  # column and panel order of the reports
TASK_TITLES = {"pitch": "Pitch (112 classes)", "pitch88": "Pitch, HEAR range (88 classes)",
               "instrument": "Instrument family"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save_fig(fig, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it (the analyses' saver, at 110 dpi)."""
    from eval_harness.analysis.plots import save_figure

    return save_figure(fig, path, dpi=110)


def model_label(rec: dict) -> str:
    """A short label for a record's bar or curve: the model's display name, plus the mode unless FE."""
    from eval_harness.models import display_name

    name = display_name(rec["model"])
    return name if rec["mode"] == "fe" else f"{name} {rec['mode'].upper()}"


def tasks_of(records: Sequence[dict]) -> list[str]:
    """The tasks present in `records`, in report order."""
    present = {r["task"] for r in records}
    return [t for t in TASK_ORDER if t in present] + sorted(present - set(TASK_ORDER))


def confusion_png(cm: np.ndarray, label_names: Sequence[str], path: Path | str, title: str = "") -> Path:
    """Plot a confusion matrix (counts (C, C), rows true) as a PNG, rows normalised; only classes present."""
    plt = _pyplot()
    present = np.flatnonzero(cm.sum(axis=0) + cm.sum(axis=1))
    sub = cm[np.ix_(present, present)].astype(np.float64)
    norm = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1)
    size = min(3 + 0.25 * len(present), 16)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    names = [label_names[i] for i in present]
    step = max(1, len(names) // 40)
    ax.set_xticks(range(0, len(names), step), names[::step], rotation=90, fontsize=7)
    ax.set_yticks(range(0, len(names), step), names[::step], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, Path(path))


def curves_png(series: dict[str, dict], path: Path | str, title: str = "", xlabel: str = "layer (0 = transformer "
               "input)", ylabel: str = "test accuracy (%)") -> Path:
    """One line per series: label -> {"x": [...], "y": [...]} plus optional "low" / "high" (a shaded band)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ticks: set = set()
    for label, s in series.items():
        line, = ax.plot(s["x"], s["y"], marker="o", markersize=3, label=label)
        if s.get("low") is not None:
            ax.fill_between(s["x"], s["low"], s["high"], color=line.get_color(), alpha=0.15, linewidth=0)
        ticks.update(s["x"])
    if len(ticks) <= 30:
        ax.set_xticks(sorted(ticks))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, Path(path))


def _layer_series(rows: Sequence[dict], key: str = "accuracy") -> dict:
    out = {"x": [r["layer"] for r in rows], "y": [100 * r[key] for r in rows]}
    if key == "accuracy" and all("ci_low" in r for r in rows):
        out.update(low=[100 * r["ci_low"] for r in rows], high=[100 * r["ci_high"] for r in rows])
    return out


def layer_curve(rows: Sequence[dict], csv_path: Path | str, png_path: Path | str, title: str = "") -> None:
    """Per-layer FE results of one run: a CSV (layer, accuracy, [ci,] macro_f1, ...) and an accuracy-vs-layer PNG."""
    fields = [k for k in ("layer", "accuracy", "ci_low", "ci_high", "chroma_accuracy", "macro_f1", "best_epoch")
              if k in rows[0]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(csv_path, buf.getvalue())
    series = {"accuracy": _layer_series(rows)}
    if "chroma_accuracy" in rows[0]:
        series["chroma accuracy"] = _layer_series(rows, "chroma_accuracy")
    curves_png(series, png_path, title)


def accuracy_bars(records: Sequence[dict], path: Path | str, title: str = "") -> Path:
    """The main comparison: one panel per task, one bar per model with its 95 % bootstrap interval."""
    plt = _pyplot()
    tasks = tasks_of(records)
    labels = list(dict.fromkeys(model_label(r) for r in records))
    width = max(4.5, 1.2 + 0.75 * len(labels) * len(tasks))  # inches
    fig, axes = plt.subplots(1, len(tasks), figsize=(width, 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, task in zip(axes[0], tasks):
        by_label = {model_label(r): r for r in records if r["task"] == task}
        for i, label in enumerate(labels):
            rec = by_label.get(label)
            if rec is None:
                continue
            acc = 100 * rec["accuracy"]
            err = None
            if "ci_low" in rec:
                err = [[acc - 100 * rec["ci_low"]], [100 * rec["ci_high"] - acc]]
            ax.bar(i, acc, yerr=err, capsize=3, color=colors[i % len(colors)])
            top = 100 * rec.get("ci_high", rec["accuracy"])  # the label sits above the error bar
            ax.annotate(f"{acc:.1f}", (i, top), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(TASK_TITLES.get(task, task), fontsize=9)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
    fig.suptitle(title or "Test accuracy with 95 % bootstrap intervals", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, Path(path))


def benchmark_figures(records: Sequence[dict], out_dir: Path | str) -> list[tuple[str, str]]:
    """Write the report's figures into out_dir; returns (caption, file name) pairs in reading order.

    accuracy.png (the main comparison, FE/FT records of the last or weighted layer), layers-TASK.png (one
    curve per model, when records hold per-layer results), layer-weights-TASK.png (learned weights).
    """
    out_dir = Path(out_dir)
    if not records:
        return []
    made = [("Test accuracy with 95 % bootstrap intervals", "accuracy.png")]
    accuracy_bars(records, out_dir / made[0][1])
    for task in tasks_of(records):
        layered = [r for r in records if r["task"] == task and r.get("per_layer")]
        if layered:
            name = f"layers-{task}.png"
            curves_png({model_label(r): _layer_series(r["per_layer"]) for r in layered}, out_dir / name,
                       f"{TASK_TITLES.get(task, task)}: test accuracy per layer (band: 95 % CI)")
            made.append((f"{TASK_TITLES.get(task, task)}: accuracy per layer", name))
        weighted = [r for r in records if r["task"] == task and r.get("layer_weights")]
        if weighted:
            name = f"layer-weights-{task}.png"
            curves_png({model_label(r): {"x": list(range(len(r["layer_weights"]))), "y": r["layer_weights"]}
                        for r in weighted}, out_dir / name, f"{TASK_TITLES.get(task, task)}: learned layer weights",
                       ylabel="softmax weight")
            made.append((f"{TASK_TITLES.get(task, task)}: learned layer weights", name))
    return made
