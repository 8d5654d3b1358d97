"""Accuracy against the number of labelled training notes: a table with paired differences, and a figure.

    python scripts/label_curve.py RUNS_DIR OUT_PREFIX

RUNS_DIR holds `w2v-music finetune --out` folders named NAME-TASK-N (NAME: music, speech, random; TASK:
pitch, instrument; N: training notes, e.g. from `--max-per-split N,500,1000`), all tested on the same notes.
Writes OUT_PREFIX.md (accuracy [95 % CI] per model and N, music minus random init and music minus speech with
their paired-bootstrap intervals, `eval_harness.compare`) and OUT_PREFIX-TASK.png per task.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from eval_harness import compare, figures

NAMES = {"music": "music-small", "speech": "speech-small", "random": "random init of music-small"}


def load_runs(root: Path) -> dict[tuple[str, str, int], dict]:
    runs = {}
    for path in sorted(root.glob("*/result.json")):
        m = re.fullmatch(r"(music|speech|random)-(pitch|instrument)-(\d+)", path.parent.name)
        if m:
            runs[(m[1], m[2], int(m[3]))] = json.loads(path.read_text())
    if not runs:
        sys.exit(f"{root}: no NAME-TASK-N/result.json folders (NAME music|speech|random)")
    return runs


def cell(rec: dict) -> str:
    return f"{100 * rec['accuracy']:.1f} [{100 * rec['ci_low']:.1f}, {100 * rec['ci_high']:.1f}]"


def diff(a: dict, b: dict) -> str:
    d = compare.paired(a, b)
    text = f"{100 * d.estimate:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
    return f"**{text}**" if d.significant else text


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit(__doc__)
    runs, out = load_runs(Path(argv[0])), Path(argv[1])
    lines = []
    for task in ("pitch", "instrument"):
        sizes = sorted({n for (_, t, n) in runs if t == task})
        if not sizes:
            continue
        lines += [f"## {task}", "", "| training notes | music-small | random init | speech-small | music − random init "
                  "| music − speech |", "|---|---|---|---|---|---|"]
        series = {}
        for n in sizes:
            rec = {name: runs.get((name, task, n)) for name in NAMES}
            row = [str(n)] + [cell(rec[k]) if rec[k] else "–" for k in ("music", "random", "speech")]
            row += [diff(rec["music"], rec[k]) if rec["music"] and rec[k] else "–" for k in ("random", "speech")]
            lines.append("| " + " | ".join(row) + " |")
            for name, r in rec.items():
                if r:
                    s = series.setdefault(NAMES[name], {"x": [], "y": [], "low": [], "high": []})
                    s["x"].append(n)
                    s["y"].append(100 * r["accuracy"])
                    s["low"].append(100 * r["ci_low"])
                    s["high"].append(100 * r["ci_high"])
        lines += ["", "Bold: the 95 % interval of the paired difference excludes 0.", ""]
        figures.curves_png(series, f"{out}-{task}.png", f"FE {task}, last layer: accuracy vs labelled notes",
                           xlabel="training notes")
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
