"""The report: Table-1 markdown from a hand-made results file, results.json round trip, PNGs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eval_harness import report

RECORDS = [
    {"model": "music-small", "task": "pitch", "mode": "fe", "accuracy": 0.5, "chroma_accuracy": 0.625,
     "macro_f1": 0.25, "seed": 0, "n_test": 8, "command": "w2v-music finetune --task pitch --mode fe"},
    {"model": "music-small", "task": "instrument", "mode": "fe", "accuracy": 0.75, "macro_f1": 0.5, "seed": 0,
     "n_test": 8, "command": "w2v-music finetune --task instrument --mode fe"},
    {"model": "random:music-small", "task": "pitch", "mode": "fe", "accuracy": 0.125, "chroma_accuracy": 0.25,
     "macro_f1": 0.05, "seed": 0, "n_test": 8, "command": "c3"},
]


def test_table_from_a_hand_made_results_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"version": 1, "records": RECORDS}))
    table = report.table_markdown(report.load_results(path))
    lines = table.splitlines()
    music = next(line for line in lines if line.startswith("| music-small | FE"))
    assert "| 50.0 | 62.5 | 25.0 | 75.0 | 50.0 | 8 | measured here |" in music
    rand = next(line for line in lines if line.startswith("| random init (music-small) | FE"))
    assert "| 12.5 | 25.0 | 5.0 | – | – |" in rand  # no instrument record -> dashes
    reported = [line for line in lines if "reported in the paper" in line]
    assert len(reported) == len(report.PAPER_TABLE1)
    assert any("| wav2vec 2.0 Music FT2 | | 90.0 |" in line and "| 75.0 |" in line for line in reported)


def test_write_results_round_trip_and_commands(tmp_path):
    json_path, md_path = report.write_results(tmp_path / "out", RECORDS, meta={"data": "x"})
    assert report.load_results(json_path) == RECORDS
    md = md_path.read_text()
    assert "`w2v-music finetune --task pitch --mode fe`" in md and "reported in the paper" in md


def test_load_results_rejects_incomplete_records(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"records": [{"model": "m", "task": "pitch"}]}))
    with pytest.raises(ValueError, match="record 0 lacks mode, accuracy"):
        report.load_results(path)


def test_confusion_png_and_layer_curve(tmp_path):
    cm = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    png = report.confusion_png(cm, ["a", "b", "c"], tmp_path / "cm.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [{"layer": 0, "accuracy": 0.5, "macro_f1": 0.4}, {"layer": 1, "accuracy": 0.7, "macro_f1": 0.6}]
    report.layer_curve(rows, tmp_path / "l.csv", tmp_path / "l.png")
    assert (tmp_path / "l.csv").read_text().splitlines() == ["layer,accuracy,macro_f1", "0,0.5,0.4", "1,0.7,0.6"]
    assert (tmp_path / "l.png").stat().st_size > 1000
