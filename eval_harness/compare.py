"""Uncertainty of run records: the metrics of a run over its probe seeds with a bootstrap interval, and
paired bootstrap differences between runs on the same test notes (bootstrap code: `eval_harness.stats`).

A run record (see `finetune.run_finetune`) keeps its per-note test predictions under "predictions":
note_str, instrument_str and y_true (one per test note) and y_pred (one list per probe seed), so
intervals and differences can be recomputed from result.json or results.json alone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from eval_harness import stats
from eval_harness.metrics import task_metrics
from eval_harness.nsynth import Note, get_task

RANDOM_PREFIX = "random:"  # model sources with freshly initialised weights (`random:SRC[@SEED]`, hear_w2v_music.checkpoints)
NOT_PRETRAINED = ("logmel",)  # references that are not pretrained models


def note_scores(y_true: np.ndarray, preds: Sequence[np.ndarray]) -> np.ndarray:
    """Per-note score: the fraction of seeds whose prediction is right, float64 (n,) (0/1 for one seed)."""
    y = np.asarray(y_true)
    return np.mean([np.asarray(p) == y for p in preds], axis=0).astype(np.float64)


def resample_groups(task: str, instruments: Sequence[str]) -> Sequence[str] | None:
    """What the bootstrap of `task` draws first: the notes' instruments for the instrument task, else None."""
    return list(instruments) if get_task(task).resample == "instruments" else None


def summarize(task: str, y_true: np.ndarray, preds: Sequence[np.ndarray], instruments: Sequence[str],
              n_boot: int = stats.N_BOOT) -> dict:
    """Metrics of one run over its seeds: each metric's mean over seeds, a 95 % bootstrap interval on
    accuracy (ci_low, ci_high), and with several seeds the accuracy's sd and per-seed values.

    Args:
        y_true: int64 (n,) test labels; preds: one int64 (n,) array per probe seed.
        instruments: the instrument_str of each test note (the instrument task resamples them first).
    """
    if not preds:
        raise ValueError("summarize needs the predictions of at least one seed")
    per_seed = [task_metrics(task, y_true, p) for p in preds]
    out = {k: float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]}
    ci = stats.bootstrap_ci(note_scores(y_true, preds), resample_groups(task, instruments), n_boot)
    out.update(ci_low=ci.low, ci_high=ci.high,
               ci={"level": stats.LEVEL, "n_boot": n_boot, "resample": get_task(task).resample})
    if len(preds) > 1:
        out["accuracy_sd"] = stats.mean_sd([m["accuracy"] for m in per_seed])[1]
        out["accuracy_per_seed"] = [m["accuracy"] for m in per_seed]
    return out


def predictions_json(notes: Sequence[Note], y_true: np.ndarray, preds: Sequence[np.ndarray]) -> dict:
    """The per-note test predictions of a run, as stored in its record."""
    return {"note_str": [n.note_str for n in notes], "instrument_str": [n.instrument_str for n in notes],
            "y_true": [int(v) for v in y_true], "y_pred": [[int(v) for v in p] for p in preds]}


def record_scores(rec: dict) -> np.ndarray:
    """Per-note scores of a record (fraction of its seeds right on each test note)."""
    p = rec["predictions"]
    return note_scores(np.asarray(p["y_true"]), [np.asarray(y) for y in p["y_pred"]])


def paired(rec_a: dict, rec_b: dict, n_boot: int = stats.N_BOOT) -> stats.Interval:
    """Accuracy of rec_a minus rec_b on the same test notes, with a paired bootstrap interval.

    Raises:
        ValueError: the records are of different tasks, lack predictions, or cover other test notes.
    """
    if rec_a["task"] != rec_b["task"]:
        raise ValueError(f"cannot pair a {rec_a['task']} run with a {rec_b['task']} run")
    if "predictions" not in rec_a or "predictions" not in rec_b:
        raise ValueError("both runs need per-note predictions (re-run them with this version)")
    pa, pb = rec_a["predictions"], rec_b["predictions"]
    if pa["note_str"] != pb["note_str"]:
        raise ValueError(f"{rec_a['model']} and {rec_b['model']} were tested on different notes")
    groups = resample_groups(rec_a["task"], pa["instrument_str"])
    return stats.paired_difference(record_scores(rec_a), record_scores(rec_b), groups, n_boot)


def is_pretrained(model: str) -> bool:
    """Whether a model source names pretrained weights (not random init, not a non-learned reference)."""
    return not model.startswith(RANDOM_PREFIX) and model not in NOT_PRETRAINED


def references(model: str, models: Sequence[str], speech: str) -> list[tuple[str, str]]:
    """The (kind, source) references a pretrained model is compared with: its random init (random:MODEL
    when present, else the first random init), and the speech model (unless it is the speech model)."""
    randoms = [m for m in models if m.startswith(RANDOM_PREFIX)]
    out = []
    if randoms:
        out.append(("random init", f"{RANDOM_PREFIX}{model}" if f"{RANDOM_PREFIX}{model}" in randoms
                    else randoms[0]))
    if speech in models and model != speech:
        out.append(("speech", speech))
    return out


def comparisons(records: Sequence[dict], speech: str = "speech-small", n_boot: int = stats.N_BOOT) -> list[dict]:
    """Paired differences of every pretrained model to its references, per (task, mode, probe, --layer).

    Returns:
        one dict per pair: model, reference, kind ("random init" | "speech"), task, mode, and the
        difference (accuracy fraction) with its interval: diff, ci_low, ci_high, significant; or
        `error` instead when the two runs cannot be paired.
    """
    out = []
    groups: dict[tuple, dict[str, dict]] = {}
    for rec in records:
        key = (rec["task"], rec["mode"], rec.get("probe", "linear"), str(rec.get("layer_choice", "last")))
        groups.setdefault(key, {})[rec["model"]] = rec
    for (task, mode, *_), by_model in groups.items():
        for model, rec in by_model.items():
            if not is_pretrained(model):
                continue
            for kind, ref in references(model, list(by_model), speech):
                row = {"model": model, "reference": ref, "kind": kind, "task": task, "mode": mode,
                       "probe": rec.get("probe", "linear"), "layer_choice": rec.get("layer_choice", "last")}
                try:
                    diff = paired(rec, by_model[ref], n_boot)
                except ValueError as err:
                    out.append({**row, "error": str(err)})
                    continue
                out.append({**row, "diff": diff.estimate, "ci_low": diff.low, "ci_high": diff.high,
                            "significant": diff.significant, "n_boot": n_boot})
    return out
