"""Accuracy [95 % CI] of finetune runs and each one's paired difference against a reference run.

    python scripts/compare_runs.py REFERENCE_RUN RUN [RUN ...]

Each RUN is a `w2v-music finetune --out` folder (its result.json keeps the per-note predictions); all must be
tested on the same notes. The bootstrap is `eval_harness.compare` (instruments first for the instrument task).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from eval_harness import compare


def load(run: str) -> dict:
    path = Path(run) / "result.json"
    if not path.is_file():
        sys.exit(f"{path}: not found (expected the folder given to `w2v-music finetune --out`)")
    return json.loads(path.read_text())


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    ref = load(argv[0])
    print(f"reference: {argv[0]} ({ref['model']}), accuracy {100 * ref['accuracy']:.1f} "
          f"[{100 * ref['ci_low']:.1f}, {100 * ref['ci_high']:.1f}]")
    print("| run | accuracy [95 % CI] | minus reference [95 % CI] | significant |\n|---|---|---|---|")
    for run in argv[1:]:
        rec = load(run)
        d = compare.paired(rec, ref)
        sig = "yes" if d.significant else "no"
        print(f"| {Path(run).name} | {100 * rec['accuracy']:.1f} [{100 * rec['ci_low']:.1f}, {100 * rec['ci_high']:.1f}] "
              f"| {100 * d.estimate:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] | {sig} |")


if __name__ == "__main__":
    main(sys.argv[1:])
