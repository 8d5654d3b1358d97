"""scripts/compare_runs.py: accuracy and paired differences of finetune run folders against a reference."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare_runs.py"


def _run_dir(root: Path, name: str, y_pred: list[int], y_true: list[int]) -> Path:
    acc = sum(p == t for p, t in zip(y_pred, y_true)) / len(y_true)
    rec = {"model": name, "task": "pitch", "accuracy": acc, "ci_low": acc, "ci_high": acc,
           "predictions": {"note_str": [f"n{i}" for i in range(len(y_true))],
                           "instrument_str": [f"i{i % 4}" for i in range(len(y_true))],
                           "y_true": y_true, "y_pred": [y_pred]}}
    path = root / name
    path.mkdir()
    (path / "result.json").write_text(json.dumps(rec))
    return path


def _compare(*runs: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, runs)], capture_output=True, text=True)


def test_a_clearly_better_run_is_significant_and_an_equal_one_is_not(tmp_path):
    y = [i % 5 for i in range(200)]
    ref = _run_dir(tmp_path, "ref", [(t + 1) % 5 if i % 2 else t for i, t in enumerate(y)], y)  # 50 %
    better = _run_dir(tmp_path, "better", y, y)  # 100 %
    same = _run_dir(tmp_path, "same", [(t + 1) % 5 if i % 2 else t for i, t in enumerate(y)], y)
    out = _compare(ref, better, same)
    assert out.returncode == 0, out.stderr
    rows = {line.split("|")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("| ")}
    assert "+50.0" in rows["better"] and rows["better"].rstrip(" |").endswith("yes")
    assert "+0.0" in rows["same"] and rows["same"].rstrip(" |").endswith("no")


def test_a_folder_without_result_json_is_named(tmp_path):
    ref = _run_dir(tmp_path, "ref", [0, 1], [0, 1])
    out = _compare(ref, tmp_path / "missing")
    assert out.returncode != 0 and "missing/result.json: not found" in out.stderr
