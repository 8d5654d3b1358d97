"""export-hear-tasks: NSynth pitch and instrument tasks in the HEAR 2021 task layout, for heareval.

For each task, OUT/<task_name>/ holds::

    task_metadata.json      the fields heareval reads (scene embeddings, multiclass, trainvaltest)
    labelvocabulary.csv     idx,label (pitch: all 112 MIDI numbers 9..120 in order, so that
                            heareval's chroma_acc, class index mod 12, is the pitch class)
    {train,valid,test}.json {"<note_str>.wav": ["<label>"]}
    16000/{split}/<note_str>.wav   hard links to the NSynth wavs (copies across filesystems)

Each task folder is built under a temporary name and renamed when complete.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pretrain.fileio import atomic_dir, write_json_atomic, write_text_atomic
from eval_harness.nsynth import CLIP_SECONDS, SAMPLE_RATE, SPLITS, NSynthSplit, get_task, load_splits

TASK_NAMES: dict[str, str] = {"pitch": "nsynth_pitch_w2vm", "instrument": "nsynth_instrument_w2vm"}
TASK_VERSION = "w2vm-1"


@dataclass
class HearExport:
    """What export_hear_tasks wrote."""

    tasks: dict[str, Path]  # task -> folder
    counts: dict[str, int]  # split -> clips
    skipped: list[tuple[str, str]]  # (note_str, reason) skipped with skip_bad


def task_metadata(task: str, counts: dict[str, int], mode: str) -> dict:
    """task_metadata.json for one task; `counts` are clips per split, `mode` names the subset (e.g. "full")."""
    spec = get_task(task)
    return {
        "task_name": TASK_NAMES[task],
        "version": TASK_VERSION,
        "embedding_type": "scene",
        "prediction_type": "multiclass",
        "split_mode": "trainvaltest",
        "splits": list(SPLITS),
        "sample_duration": CLIP_SECONDS,
        "sample_rate": SAMPLE_RATE,
        "evaluation": list(spec.evaluation),
        "default_mode": mode,
        "mode": mode,
        "num_labels": spec.num_classes,
        "split_counts": counts,
    }


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copyfile(src, dst)


def export_task(splits: dict[str, NSynthSplit], task: str, out: str | Path, mode: str = "full",
                overwrite: bool = False) -> Path:
    """Write one HEAR task folder from loaded NSynth splits; returns OUT/<task_name>."""
    spec = get_task(task)
    final = Path(out) / TASK_NAMES[task]
    with atomic_dir(final, overwrite=overwrite) as tmp:
        vocab = "idx,label\n" + "".join(f"{i},{name}\n" for i, name in enumerate(spec.label_names))
        write_text_atomic(tmp / "labelvocabulary.csv", vocab)
        for split, data in splits.items():
            audio_dir = tmp / str(SAMPLE_RATE) / split
            audio_dir.mkdir(parents=True)
            targets = {}
            for note in data.notes:
                name = f"{note.note_str}.wav"
                _link_or_copy(note.path, audio_dir / name)
                targets[name] = [spec.label_names[spec.label(note)]]
            write_json_atomic(tmp / f"{split}.json", targets)
        write_json_atomic(tmp / "task_metadata.json",
                          task_metadata(task, {s: len(d) for s, d in splits.items()}, mode))
    return final


def export_hear_tasks(nsynth_dir: str | Path, out: str | Path, tasks: tuple[str, ...] = ("pitch", "instrument"),
                      max_examples: int | None = None, hours: float | None = None, seed: int = 0,
                      skip_bad: bool = False, overwrite: bool = False) -> HearExport:
    """Export NSynth (real or rendered) as HEAR tasks.

    Args:
        nsynth_dir: folder with nsynth-{train,valid,test}/.
        out: tasks folder (heareval's --tasks-dir); one subfolder per task.
        tasks: any of "pitch", "instrument".
        max_examples, hours, seed, skip_bad: subset and validation options of `nsynth.load_split`.
        overwrite: replace existing task folders.

    Returns:
        a HearExport: task folders, clips per split, and the notes skipped with skip_bad (note_str, reason).
    """
    for task in tasks:
        get_task(task)
    splits = load_splits(nsynth_dir, max_examples=max_examples, seed=seed, skip_bad=skip_bad, hours=hours)
    mode = "full" if max_examples is None and hours is None else \
        (f"{hours:g}h" if hours is not None else f"max{max_examples}")
    folders = {task: export_task(splits, task, out, mode, overwrite) for task in tasks}
    return HearExport(folders, {s: len(d) for s, d in splits.items()},
                      [item for d in splits.values() for item in d.skipped])
