"""Classification metrics for the NSynth tasks: accuracy, chroma accuracy, macro-F1, confusion matrix.

numpy only. Every function takes integer class indices: `y_true` and `y_pred` are int arrays of
shape (n_examples,) with values in 0..num_classes-1.
"""
from __future__ import annotations

import numpy as np

from eval_harness.nsynth import PITCH_MIN, get_task

SEMITONES = 12  # pitch classes per octave


class LabelError(ValueError):
    """Labels that fall outside a task's vocabulary."""


def check_labels(y: np.ndarray, num_classes: int, what: str = "labels") -> np.ndarray:
    """Return `y` as int64 (shape (n,)) after checking that every value is a class index.

    Raises:
        LabelError: `y` is not one-dimensional, or holds a value outside 0..num_classes-1
            (the message names the first offending value and the expected range).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise LabelError(f"{what}: expected a 1-D array of class indices, got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise LabelError(f"{what}: class index {int(bad)} is outside the task's vocabulary "
                         f"(expected 0..{num_classes - 1}, {num_classes} classes)")
    return y.astype(np.int64)


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("metrics need at least one example")
    return y_true, y_pred


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of exact matches, in [0, 1]."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def chroma_accuracy(y_true: np.ndarray, y_pred: np.ndarray, offset: int = PITCH_MIN) -> float:
    """Pitch-class accuracy in [0, 1]: a prediction counts when it names the right note in any octave.

    Args:
        y_true, y_pred: pitch class indices; MIDI pitch = index + `offset` (NSynth task: offset 9).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean((y_true + offset) % SEMITONES == (y_pred + offset) % SEMITONES))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: int64 array (num_classes, num_classes), rows = true class, columns = predicted class."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = check_labels(y_true, num_classes, "y_true")
    y_pred = check_labels(y_pred, num_classes, "y_pred")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in `y_true` or `y_pred`, in [0, 1].

    Classes that occur in neither are left out (as scikit-learn does with labels=present classes),
    so a 112-way pitch task on a small test split is not dragged down by absent pitches.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(axis=0).astype(np.float64)
    true_count = cm.sum(axis=1).astype(np.float64)
    present = (pred_count + true_count) > 0
    denom = pred_count + true_count
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean())


def task_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics reported for one NSynth task: accuracy and macro-F1, plus chroma accuracy for pitch tasks."""
    spec = get_task(task)
    y_true = check_labels(y_true, spec.num_classes, f"{task} true labels")
    y_pred = check_labels(y_pred, spec.num_classes, f"{task} predictions")
    out = {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, spec.num_classes)}
    if spec.pitch_offset is not None:
        out["chroma_accuracy"] = chroma_accuracy(y_true, y_pred, spec.pitch_offset)
    return out
