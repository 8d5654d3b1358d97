"""Reports: a Table-1-style markdown table (measured rows beside the paper's reported rows),
results.json records, the confusion-matrix PNG and the per-layer accuracy curve (CSV + PNG).

A record is one dict per (model, task, mode) as `finetune.run_finetune` returns it: at least
model, task, mode, accuracy (fraction in [0, 1]), macro_f1, seed, command; pitch adds chroma_accuracy.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from eval_harness.audio_io import write_json_atomic, write_text_atomic

# Table 1 of Ragano et al. (ICASSP 2023): accuracy (%) on the NSynth test set, as printed in the paper.
# (row, pitch, instrument, pre-training data); None = not reported.
PAPER_TABLE1: tuple[tuple[str, float | None, float | None, str], ...] = (
    ("wav2vec 2.0 Music FE", 76.0, 64.0, "Music, ≈65 hours"),
    ("wav2vec 2.0 Music FT1", 82.0, 70.0, "Music, ≈65 hours"),
    ("wav2vec 2.0 Music FT2", 90.0, 75.0, "Music, ≈65 hours"),
    ("CREPE [26] (from [15])", 90.0, None, ""),
    ("SF NFNNet-50 [16]", 88.0, 78.2, "Audio, ≈5800 hours"),
    ("wav2vec 2.0 Speech FE [12] (from [15])", 65.0, None, "Speech, ≈960 hours"),
    ("wav2vec 2.0 Speech FE [12] (from [16])", 35.0, 40.2, "Speech, ≈960 hours"),
    ("MuLaP [6]", None, 71.7, ""),
    ("CTE [27]", None, 70.0, "Music, ≈562 hours"),
)
RESULTS_VERSION = 1


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _label(model: str) -> str:
    from eval_harness.baselines import display_name
    return display_name(model)


def measured_rows(records: Sequence[dict]) -> list[dict]:
    """Group records by (model, mode): one row with pitch/instrument accuracy, chroma accuracy and macro-F1."""
    rows: dict[tuple[str, str], dict] = {}
    for rec in records:
        row = rows.setdefault((rec["model"], rec["mode"]), {"model": rec["model"], "mode": rec["mode"]})
        row[rec["task"]] = rec
    return list(rows.values())


def table_markdown(records: Sequence[dict], include_paper: bool = True) -> str:
    """The Table-1-style markdown: measured rows (this run), then the paper's rows labelled as reported.

    Accuracies are in %. Measured rows also give pitch chroma accuracy and macro-F1 (%), and n_test.
    """
    lines = ["| Model | Mode | Pitch acc. | Pitch chroma acc. | Pitch macro-F1 | Instrument acc. | "
             "Instrument macro-F1 | n_test | Source |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in measured_rows(records):
        p, i = row.get("pitch", {}), row.get("instrument", {})
        n_test = p.get("n_test", i.get("n_test", ""))
        lines.append(f"| {_label(row['model'])} | {row['mode'].upper()} | {_pct(p.get('accuracy'))} | "
                     f"{_pct(p.get('chroma_accuracy'))} | {_pct(p.get('macro_f1'))} | {_pct(i.get('accuracy'))} | "
                     f"{_pct(i.get('macro_f1'))} | {n_test} | measured here |")
    if include_paper:
        for name, pitch, inst, _data in PAPER_TABLE1:
            fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
            lines.append(f"| {name} | | {fmt(pitch)} | | | {fmt(inst)} | | 4,096 (NSynth test) | "
                         f"reported in the paper |")
    return "\n".join(lines) + "\n"


def results_markdown(records: Sequence[dict], title: str = "NSynth results", notes: str = "") -> str:
    """results.md: the table, a note on how to read it, and every record's exact command."""
    parts = [f"# {title}\n", table_markdown(records),
             "\nAccuracy in %. Rows marked *measured here* come from this run; rows marked *reported in the "
             "paper* are copied from Ragano et al. 2023, Table 1 (BASE models, the full NSynth test set) and were "
             "not re-measured. Chroma accuracy counts a pitch as right in any octave; macro-F1 averages the "
             "classes present in the test split.\n"]
    if notes:
        parts.append(f"\n{notes.strip()}\n")
    parts.append("\n## Commands\n")
    for rec in records:
        parts.append(f"- {rec['model']} / {rec['task']} / {rec['mode']} (seed {rec.get('seed')}): "
                     f"`{rec.get('command', '')}`\n")
    return "".join(parts)


def write_results(out_dir: Path | str, records: Sequence[dict], meta: dict | None = None, markdown: str | None = None
                  ) -> tuple[Path, Path]:
    """Write out_dir/results.json ({"version", "meta", "records"}) and out_dir/results.md, atomically."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    write_json_atomic(json_path, {"version": RESULTS_VERSION, "meta": meta or {}, "records": list(records)})
    write_text_atomic(md_path, markdown if markdown is not None else results_markdown(records))
    return json_path, md_path


def load_results(path: Path | str) -> list[dict]:
    """The records of a results.json, checking the fields the table needs."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read results ({err})") from err
    records = obj.get("records") if isinstance(obj, dict) else None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected an object with a 'records' list")
    for i, rec in enumerate(records):
        missing = [k for k in ("model", "task", "mode", "accuracy") if k not in rec]
        if missing:
            raise ValueError(f"{path}: record {i} lacks {', '.join(missing)}")
    return records


def confusion_png(cm: np.ndarray, label_names: Sequence[str], path: Path | str, title: str = "") -> Path:
    """Plot a confusion matrix (counts (C, C), rows true) as a PNG, rows normalised; only classes present."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def layer_curve(rows: Sequence[dict], csv_path: Path | str, png_path: Path | str, title: str = "") -> None:
    """Per-layer FE results: a CSV (layer, accuracy, macro_f1[, chroma_accuracy]) and an accuracy-vs-layer PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = [k for k in ("layer", "accuracy", "chroma_accuracy", "macro_f1", "best_epoch") if k in rows[0]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(csv_path, buf.getvalue())
    fig, ax = plt.subplots(figsize=(5, 3.2))
    layers = [r["layer"] for r in rows]
    ax.plot(layers, [100 * r["accuracy"] for r in rows], marker="o", label="accuracy")
    if "chroma_accuracy" in rows[0]:
        ax.plot(layers, [100 * r["chroma_accuracy"] for r in rows], marker="s", label="chroma accuracy")
    ax.set_xlabel("layer (0 = transformer input)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xticks(layers)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save_fig(fig, Path(png_path))


def _save_fig(fig, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it (the analyses' saver, at 110 dpi)."""
    from eval_harness.analysis.plots import save_figure

    return save_figure(fig, path, dpi=110)
