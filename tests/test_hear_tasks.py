"""export-hear-tasks: the HEAR task layout heareval reads, built from an NSynth-layout folder."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval_harness import nsynth
from eval_harness.hear import tasks as hear_tasks
from pretrain.fileio import write_wav
from eval_harness.hear.cli import export_hear_tasks_cmd


def _fake_nsynth(root: Path, per_split: int = 4) -> Path:
    """Notes of instrument 10*s + k%2 (family = id % 11), pitch 50 + 3k, each a 16 kHz 4 s sine."""
    t = np.arange(nsynth.NUM_SAMPLES) / nsynth.SAMPLE_RATE
    for s, split in enumerate(nsynth.SPLITS):
        (root / f"nsynth-{split}" / "audio").mkdir(parents=True)
        examples = {}
        for k in range(per_split):
            inst, pitch = 10 * s + k % 2, 50 + 3 * k
            family = nsynth.FAMILIES[inst % 11]
            name = f"{family}_acoustic_{inst:03d}-{pitch:03d}-075"
            examples[name] = {
                "note": len(examples), "note_str": name, "instrument": inst, "instrument_str": name[:-8],
                "pitch": pitch, "velocity": 75, "sample_rate": 16000, "qualities": [0] * 10, "qualities_str": [],
                "instrument_family": inst % 11, "instrument_family_str": family, "instrument_source": 0,
                "instrument_source_str": "acoustic",
            }
            write_wav(root / f"nsynth-{split}" / "audio" / f"{name}.wav", 0.2 * np.sin(2 * np.pi * 300 * t), 16000)
        (root / f"nsynth-{split}" / "examples.json").write_text(json.dumps(examples))
    return root


def test_export_layout_and_labels(tmp_path: Path) -> None:
    src = _fake_nsynth(tmp_path / "ns")
    result = hear_tasks.export_hear_tasks(src, tmp_path / "tasks")
    assert set(result.tasks) == {"pitch", "instrument"} and result.counts == {"train": 4, "valid": 4, "test": 4}
    pitch_dir = tmp_path / "tasks" / "nsynth_pitch_w2vm"
    meta = json.loads((pitch_dir / "task_metadata.json").read_text())
    assert meta["task_name"] == "nsynth_pitch_w2vm" and meta["embedding_type"] == "scene"
    assert meta["prediction_type"] == "multiclass" and meta["split_mode"] == "trainvaltest"
    assert meta["evaluation"] == ["pitch_acc", "chroma_acc"] and meta["sample_duration"] == 4.0
    assert meta["splits"] == ["train", "valid", "test"]
    with (pitch_dir / "labelvocabulary.csv").open() as fp:
        vocab = list(csv.DictReader(fp))
    assert [int(r["idx"]) for r in vocab] == list(range(112))
    assert [int(r["label"]) for r in vocab] == list(range(9, 121))  # class index mod 12 = pitch class
    labels = {r["label"] for r in vocab}
    examples = json.loads((src / "nsynth-valid" / "examples.json").read_text())
    targets = json.loads((pitch_dir / "valid.json").read_text())
    assert targets == {f"{k}.wav": [str(e["pitch"])] for k, e in examples.items()}
    assert all(v[0] in labels for v in targets.values())
    for name in targets:
        linked, original = pitch_dir / "16000" / "valid" / name, src / "nsynth-valid" / "audio" / name
        assert linked.read_bytes() == original.read_bytes()
    inst_dir = tmp_path / "tasks" / "nsynth_instrument_w2vm"
    assert json.loads((inst_dir / "task_metadata.json").read_text())["evaluation"] == ["top1_acc"]
    inst_targets = json.loads((inst_dir / "test.json").read_text())
    test_examples = json.loads((src / "nsynth-test" / "examples.json").read_text())
    assert inst_targets == {f"{k}.wav": [e["instrument_family_str"]] for k, e in test_examples.items()}
    assert sorted(p.name for p in (inst_dir / "16000").iterdir()) == ["test", "train", "valid"]


def test_export_subset_skip_and_refusals(tmp_path: Path) -> None:
    src = _fake_nsynth(tmp_path / "ns")
    bad = sorted((src / "nsynth-train" / "audio").glob("*.wav"))[0]
    bad.write_bytes(b"junk")
    with pytest.raises(nsynth.NSynthError, match=bad.name):
        hear_tasks.export_hear_tasks(src, tmp_path / "t1")
    assert not (tmp_path / "t1").exists() or not any((tmp_path / "t1").iterdir())
    result = hear_tasks.export_hear_tasks(src, tmp_path / "t2", tasks=("instrument",), max_examples=2, skip_bad=True)
    assert result.counts == {"train": 2, "valid": 2, "test": 2} and list(result.tasks) == ["instrument"]
    assert json.loads((result.tasks["instrument"] / "task_metadata.json").read_text())["mode"] == "max2"
    with pytest.raises(FileExistsError):
        hear_tasks.export_hear_tasks(src, tmp_path / "t2", tasks=("instrument",), skip_bad=True)
    again = hear_tasks.export_hear_tasks(src, tmp_path / "t2", tasks=("instrument",), skip_bad=True, overwrite=True)
    assert again.counts["train"] == 3 and len(again.skipped) == 1


def test_cli_reports_errors_and_skips(tmp_path: Path) -> None:
    src = _fake_nsynth(tmp_path / "ns")
    runner = CliRunner()
    ok = runner.invoke(export_hear_tasks_cmd, [str(src), str(tmp_path / "tasks"), "--task", "pitch"])
    assert ok.exit_code == 0 and "nsynth_pitch_w2vm" in ok.output
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = runner.invoke(export_hear_tasks_cmd, [str(empty), str(tmp_path / "t2")])
    assert failed.exit_code == 1 and "split folder is missing" in failed.output and "make-nsynth" in failed.output
