"""The report: Table-1 markdown from a hand-made results file, intervals and paired differences, results.json
round trip, PNGs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eval_harness import compare, figures, report

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
    assert lines[0].startswith("| Model | Mode | Probe | Pitch acc. [95 % CI] | Pitch chroma acc. |")
    music = next(line for line in lines if line.startswith("| music-small | FE | linear, last layer |"))
    assert "| 50.0 | 62.5 | 25.0 | 75.0 | 50.0 | 8 | measured here |" in music  # no interval in these records
    rand = next(line for line in lines if line.startswith("| random init (music-small) | FE"))
    assert "| 12.5 | 25.0 | 5.0 | – | – |" in rand  # no instrument record -> dashes
    reported = [line for line in lines if "reported in the paper" in line]
    assert len(reported) == len(report.PAPER_TABLE1)
    assert any(line.startswith("| wav2vec 2.0 Music FT2 |  |  | 90.0 |") and "| 75.0 |" in line for line in reported)
    assert "HEAR" not in table  # the leaderboard rows come with a pitch88 column only


def _with_predictions(model: str, task: str, correct: list[int], instruments: list[str] | None = None,
                      **extra) -> dict:
    """A record whose per-note predictions are right where `correct` is 1 (labels all 0, wrong = 1)."""
    n = len(correct)
    pred = [0 if c else 1 for c in correct]
    scores = np.array(correct, float)
    rec = {"model": model, "task": task, "mode": "fe", "accuracy": scores.mean(), "macro_f1": 0.0, "seed": 0,
           "n_test": n, "command": "c", "probe": "linear", "layer_choice": "last", "standardize": False,
           "predictions": {"note_str": [f"n{i}" for i in range(n)],
                           "instrument_str": instruments or [f"i{i % 4}" for i in range(n)],
                           "y_true": [0] * n, "y_pred": [pred]}, **extra}
    ci = compare.stats.bootstrap_ci(scores, compare.resample_groups(task, rec["predictions"]["instrument_str"]))
    return {**rec, "ci_low": ci.low, "ci_high": ci.high}


def test_intervals_differences_and_the_paragraph(tmp_path):
    rng = np.random.default_rng(0)
    base = (rng.random(200) < 0.3).astype(int)
    music = np.maximum(base, rng.random(200) < 0.5).astype(int)
    records = [_with_predictions("music-small", "pitch", list(music)),
               _with_predictions("speech-small", "pitch", list(base)),
               _with_predictions("random:music-small", "pitch", list(base)),
               _with_predictions("logmel", "pitch", list(base), standardize=True)]
    pairs = compare.comparisons(records, n_boot=300)
    assert [(c["model"], c["reference"]) for c in pairs] == [
        ("music-small", "random:music-small"), ("music-small", "speech-small"), ("speech-small", "random:music-small")]
    assert pairs[0]["significant"] and pairs[0]["ci_low"] > 0 and pairs[0]["diff"] == pytest.approx(
        music.mean() - base.mean())
    assert pairs[2]["diff"] == pairs[2]["ci_low"] == pairs[2]["ci_high"] == 0 and not pairs[2]["significant"]
    table = report.table_markdown(records)
    cell = f"{100 * records[0]['accuracy']:.1f} [{100 * records[0]['ci_low']:.1f}, {100 * records[0]['ci_high']:.1f}]"
    assert f"| music-small | FE | linear, last layer | {cell} |" in table
    assert "| log-mel (non-learned) | FE | linear, last layer, std. inputs |" in table
    paragraph = report.significance_paragraph(pairs)
    assert "music-small is" in paragraph and "points above random init (music-small)" in paragraph
    assert "speech-small is level with random init (music-small)" in paragraph
    assert "2 of 3 differences are significant" in paragraph and "\n" not in paragraph
    md = report.results_markdown(records, comparisons=pairs, figures=[("Accuracy", "accuracy.png")])
    assert "## Differences between models (paired bootstrap)" in md and "![Accuracy](accuracy.png)" in md
    assert "BASE models" in md and "reported in the paper" in md
    json_path, _ = report.write_results(tmp_path, records, comparisons=pairs)
    assert json.loads(json_path.read_text())["comparisons"] == json.loads(json.dumps(pairs))


def test_pairing_needs_the_same_notes_and_instrument_task_resamples_instruments():
    a = _with_predictions("music-small", "instrument", [1, 1, 0, 1])
    b = _with_predictions("random:music-small", "instrument", [1, 0, 0, 1])
    assert a["predictions"]["instrument_str"] and compare.resample_groups("instrument", ["x"]) == ["x"]
    assert compare.resample_groups("pitch", ["x"]) is None
    b["predictions"]["note_str"] = ["m0", "m1", "m2", "m3"]
    (pair,) = compare.comparisons([a, b])
    assert "different notes" in pair["error"]
    assert "not paired: " in report.comparisons_markdown([pair])
    assert "No paired comparison" in report.significance_paragraph([pair])


def test_seed_table():
    rec = dict(RECORDS[0], accuracy_sd=0.02, accuracy_per_seed=[0.48, 0.52], seeds=[0, 1])
    table = report.seeds_markdown([rec, RECORDS[1]])
    assert "| music-small | pitch | linear, last layer | 2 | 50.0 ± 2.0 | 48.0, 52.0 |" in table
    assert report.seeds_markdown(RECORDS) == ""


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
    png = figures.confusion_png(cm, ["a", "b", "c"], tmp_path / "cm.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [{"layer": 0, "accuracy": 0.5, "macro_f1": 0.4}, {"layer": 1, "accuracy": 0.7, "macro_f1": 0.6}]
    figures.layer_curve(rows, tmp_path / "l.csv", tmp_path / "l.png")
    assert (tmp_path / "l.csv").read_text().splitlines() == ["layer,accuracy,macro_f1", "0,0.5,0.4", "1,0.7,0.6"]
    assert (tmp_path / "l.png").stat().st_size > 1000


def test_benchmark_figures(tmp_path):
    rows = [{"layer": k, "accuracy": 0.1 * k, "ci_low": 0.1 * k - 0.05, "ci_high": 0.1 * k + 0.05} for k in range(3)]
    records = [dict(RECORDS[0], ci_low=0.45, ci_high=0.55, per_layer=rows),
               dict(RECORDS[2], ci_low=0.1, ci_high=0.15, per_layer=rows),
               dict(RECORDS[1], layer_weights=[0.2, 0.5, 0.3])]
    made = figures.benchmark_figures(records, tmp_path)
    assert [name for _, name in made] == ["accuracy.png", "layers-pitch.png", "layer-weights-instrument.png"]
    for _, name in made:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figures.benchmark_figures([], tmp_path) == []
