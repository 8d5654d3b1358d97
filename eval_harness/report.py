"""Reports: a Table-1-style markdown table (measured rows with 95 % bootstrap intervals beside the paper's
reported rows), paired differences with a paragraph saying which are significant, seed spread, figures
(`eval_harness.figures`) and the results.json that holds all of it.

A record is one dict per (model, task, mode) as `finetune.run_finetune` returns it: at least
model, task, mode, accuracy (fraction in [0, 1]), macro_f1, seed, command; pitch tasks add
chroma_accuracy; current records add ci_low / ci_high, probe, layer_choice, standardize and, with
several probe seeds, accuracy_sd. A comparison is a dict of `compare.comparisons`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from pretrain.fileio import write_json_atomic, write_text_atomic
from eval_harness.figures import model_label, tasks_of

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
# The HEAR 2021 leaderboard, nsynth_pitch (MIDI 21..108, 88 classes, HEAR's own NSynth split): pitch
# accuracy (%) at the 5 h / 50 h budgets, as reported; comparable in label space with the pitch88 task only.
HEAR_NSYNTH_PITCH: tuple[tuple[str, float, float], ...] = (
    ("CREPE (hearbaseline), HEAR leaderboard", 87.0, 90.0),
    ("wav2vec2 speech BASE (hearbaseline), HEAR leaderboard", 40.2, 65.3),
)
RESULTS_VERSION = 2  # 2: records carry intervals and predictions; results.json holds "comparisons"
COLUMN_TITLES = {"pitch": "Pitch", "pitch88": "Pitch88 (HEAR range)", "instrument": "Instrument"}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _label(model: str) -> str:
    from eval_harness.models import display_name  # lazy: models imports torch
    return display_name(model)


def accuracy_cell(rec: dict | None, key: str = "accuracy") -> str:
    """A measured accuracy in %, with its 95 % interval when the record has one: "52.8 [49.7, 55.9]"."""
    if not rec or key not in rec:
        return "–"
    if key == "accuracy" and "ci_low" in rec:
        return f"{100 * rec[key]:.1f} [{100 * rec['ci_low']:.1f}, {100 * rec['ci_high']:.1f}]"
    return _pct(rec[key])


def probe_label(rec: dict) -> str:
    """What was trained on which features: "linear, last layer", "MLP, weighted layers, std. inputs", ..."""
    if rec["mode"] != "fe":
        return "linear, last layer (fine-tuned)"
    choice = str(rec.get("layer_choice", "last"))
    layer = {"last": "last layer", "weighted": "weighted layers", "all": "last layer (all probed)"}.get(
        choice, f"layer {choice}")
    text = f"{'MLP' if rec.get('probe') == 'mlp' else 'linear'}, {layer}"
    return text + (", std. inputs" if rec.get("standardize") else "")


def measured_rows(records: Sequence[dict]) -> list[dict]:
    """Group records by (model, mode, probe, --layer): one row holding each task's record under its name."""
    rows: dict[tuple, dict] = {}
    for rec in records:
        key = (rec["model"], rec["mode"], rec.get("probe", "linear"), str(rec.get("layer_choice", "last")))
        row = rows.setdefault(key, {"model": rec["model"], "mode": rec["mode"]})
        row[rec["task"]] = rec
    return list(rows.values())


def _is_pitch(task: str) -> bool:
    return task.startswith("pitch")


def table_markdown(records: Sequence[dict], include_paper: bool = True) -> str:
    """The Table-1-style markdown: measured rows (this run), then the paper's rows labelled as reported.

    Accuracies in %, measured ones with their 95 % bootstrap interval; per task: accuracy, chroma
    accuracy (pitch tasks) and macro-F1. The HEAR leaderboard rows appear when pitch88 was measured.
    """
    tasks = tasks_of(records) or ["pitch", "instrument"]
    head, align = ["Model", "Mode", "Probe"], ["---", "---", "---"]
    for task in tasks:
        title = COLUMN_TITLES.get(task, task)
        head += [f"{title} acc. [95 % CI]"] + ([f"{title} chroma acc."] if _is_pitch(task) else []) + \
            [f"{title} macro-F1"]
        align += ["---:"] * (3 if _is_pitch(task) else 2)
    head += ["n_test", "Source"]
    align += ["---:", "---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in measured_rows(records):
        cells = [_label(row["model"]), row["mode"].upper()]
        first = next(row[t] for t in tasks if t in row)
        cells.append(probe_label(first))
        for task in tasks:
            rec = row.get(task)
            cells.append(accuracy_cell(rec))
            if _is_pitch(task):
                cells.append(accuracy_cell(rec, "chroma_accuracy"))
            cells.append(accuracy_cell(rec, "macro_f1"))
        n_test = dict.fromkeys(str(row[t]["n_test"]) for t in tasks if t in row and "n_test" in row[t])
        cells += [" / ".join(n_test), "measured here"]
        lines.append("| " + " | ".join(cells) + " |")
    if include_paper:
        fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
        for name, pitch, inst, _data in PAPER_TABLE1:
            cells = [name, "", ""]
            for task in tasks:
                value = {"pitch": pitch, "instrument": inst}.get(task)
                cells += [fmt(value)] + ([""] if _is_pitch(task) else []) + [""]
            lines.append("| " + " | ".join(cells + ["4,096 (NSynth test)", "reported in the paper"]) + " |")
        if "pitch88" in tasks:
            for name, h5, h50 in HEAR_NSYNTH_PITCH:
                cells = [name, "FE", "HEAR MLP probe"]
                for task in tasks:
                    value = f"{h5:.1f} (5 h) / {h50:.1f} (50 h)" if task == "pitch88" else "–"
                    cells += [value] + ([""] if _is_pitch(task) else []) + [""]
                lines.append("| " + " | ".join(cells + ["500 / ≈4,060 (HEAR split)", "reported by HEAR"]) + " |")
    return "\n".join(lines) + "\n"


def seeds_markdown(records: Sequence[dict]) -> str:
    """A table of accuracy mean ± sd over probe seeds, for the records trained with several seeds ("" if none)."""
    multi = [r for r in records if "accuracy_sd" in r]
    if not multi:
        return ""
    lines = ["| Model | Task | Probe | Seeds | Accuracy mean ± sd | Per seed |", "|---|---|---|---:|---:|---|"]
    for r in multi:
        per_seed = ", ".join(f"{100 * a:.1f}" for a in r.get("accuracy_per_seed", []))
        lines.append(f"| {model_label(r)} | {r['task']} | {probe_label(r)} | {len(r.get('seeds', []))} | "
                     f"{100 * r['accuracy']:.1f} ± {100 * r['accuracy_sd']:.1f} | {per_seed} |")
    return "\n".join(lines) + "\n"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}".replace("-", "−")


def comparisons_markdown(comparisons: Sequence[dict]) -> str:
    """The paired differences as a table: accuracy difference in points with its 95 % interval."""
    lines = ["| Task | Mode | Model | Compared with | Difference (points) [95 % CI] | Significant |",
             "|---|---|---|---|---:|---|"]
    for c in comparisons:
        if "error" in c:
            cell, sig = f"not paired: {c['error']}", "–"
        else:
            cell = f"{_points(c['diff'])} [{_points(c['ci_low'])}, {_points(c['ci_high'])}]"
            sig = "yes" if c["significant"] else "no"
        lines.append(f"| {c['task']} | {c['mode'].upper()} | {_label(c['model'])} | {_label(c['reference'])} | "
                     f"{cell} | {sig} |")
    return "\n".join(lines) + "\n"


def significance_paragraph(comparisons: Sequence[dict]) -> str:
    """One paragraph, generated from the numbers, saying which differences are significant."""
    done = [c for c in comparisons if "error" not in c]
    if not done:
        return "No paired comparison could be made (it needs a pretrained model and its random init or the " \
               "speech model, run on the same test notes)."
    sentences = []
    for c in done:
        side = "above" if c["diff"] > 0 else "below"
        gap = f"{abs(100 * c['diff']):.1f} points {side}" if c["diff"] else "level with"
        verdict = "significant" if c["significant"] else "not significant: the interval includes 0"
        sentences.append(f"on {c['task']} ({c['mode'].upper()}), {_label(c['model'])} is {gap} "
                         f"{_label(c['reference'])} (95 % CI {_points(c['ci_low'])} to "
                         f"{_points(c['ci_high'])}; {verdict})")
    n_sig = sum(c["significant"] for c in done)
    boot = done[0].get("n_boot", 1000)
    return (f"Paired bootstrap ({boot} resamples of the test set, the same for both models; the instrument task "
            f"resamples instruments, then their notes): " + "; ".join(sentences) +
            f". {n_sig} of {len(done)} differences are significant at the 95 % level.")


def results_markdown(records: Sequence[dict], title: str = "NSynth results", notes: str = "",
                     comparisons: Sequence[dict] = (), figures: Sequence[tuple[str, str]] = ()) -> str:
    """results.md: the table, how to read it, the paired differences and their paragraph, seed spread,
    the figures (caption, file name relative to results.md) and every record's exact command."""
    parts = [f"# {title}\n", table_markdown(records),
             "\nAccuracy in %. Rows marked *measured here* come from this run, with a 95 % percentile-bootstrap "
             "interval over the test notes in brackets (instrument family: over instruments, then their notes, "
             "since notes of one instrument are not independent). Rows marked *reported in the paper* are copied "
             "from Ragano et al. 2023, Table 1, and were not re-measured: they are BASE models (95 M parameters) "
             "evaluated on the real NSynth test set (4,096 notes, 112 pitch classes), not the small models and "
             "rendered notes measured here. Chroma accuracy counts a pitch as right in any octave; macro-F1 "
             "averages the classes present in the test split; *std. inputs*: probe inputs standardised with the "
             "training split's mean and standard deviation.\n"]
    if comparisons:
        parts += ["\n## Differences between models (paired bootstrap)\n\n", comparisons_markdown(comparisons),
                  "\n", significance_paragraph(comparisons), "\n"]
    seeds = seeds_markdown(records)
    if seeds:
        parts += ["\n## Spread over probe seeds\n\n", seeds]
    if figures:
        parts.append("\n## Figures\n\n")
        parts += [f"![{caption}]({name})\n\n" for caption, name in figures]
    if notes:
        parts.append(f"\n{notes.strip()}\n")
    parts.append("\n## Commands\n")
    for rec in records:
        parts.append(f"- {rec['model']} / {rec['task']} / {rec['mode']} (seed {rec.get('seed')}): "
                     f"`{rec.get('command', '')}`\n")
    return "".join(parts)


def write_results(out_dir: Path | str, records: Sequence[dict], meta: dict | None = None, markdown: str | None = None,
                  comparisons: Sequence[dict] = ()) -> tuple[Path, Path]:
    """Write out_dir/results.json ({"version", "meta", "records", "comparisons"}) and out_dir/results.md."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    write_json_atomic(json_path, {"version": RESULTS_VERSION, "meta": meta or {}, "records": list(records),
                                  "comparisons": list(comparisons)})
    write_text_atomic(md_path, markdown if markdown is not None else results_markdown(records,
                                                                                      comparisons=comparisons))
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
