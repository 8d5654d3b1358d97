"""Metrics on hand-made predictions, label checks, and the early-stopping rule."""
from __future__ import annotations

import math

import numpy as np
import pytest

from eval_harness.metrics import (LabelError, accuracy, check_labels, chroma_accuracy, confusion_matrix, macro_f1,
                                  task_metrics)
from eval_harness.training import EarlyStopping


def test_accuracy_counts_exact_matches():
    assert accuracy(np.array([0, 1, 2, 3]), np.array([0, 1, 0, 0])) == 0.5


def test_chroma_accuracy_forgives_octave_errors_only():
    # indices are MIDI - 9: index 51 = MIDI 60 (C4); 63 = C5 (octave up); 52 = C#4.
    y_true = np.array([51, 51, 51, 51])
    y_pred = np.array([51, 63, 39, 52])
    assert chroma_accuracy(y_true, y_pred) == 0.75
    assert accuracy(y_true, y_pred) == 0.25


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_macro_f1_by_hand():
    # class 0: tp 1, fp 0, fn 1 -> F1 2/3; class 1: tp 1, fp 2, fn 0 -> F1 1/2; class 2: tp 0 -> 0.
    y_true, y_pred = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1])
    assert macro_f1(y_true, y_pred, 5) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)  # classes 3, 4 absent


def test_task_metrics_keys():
    pitch = task_metrics("pitch", np.array([51, 51]), np.array([51, 63]))
    assert pitch == {"accuracy": 0.5, "macro_f1": pytest.approx((2 / 3 + 0) / 2), "chroma_accuracy": 1.0}
    assert set(task_metrics("instrument", np.array([1, 2]), np.array([1, 2]))) == {"accuracy", "macro_f1"}


def test_labels_outside_the_vocabulary_are_named():
    with pytest.raises(LabelError, match=r"class index 112 .* 0\.\.111"):
        task_metrics("pitch", np.array([3, 112]), np.array([3, 4]))
    with pytest.raises(LabelError, match="-1"):
        check_labels(np.array([0, -1]), 11)
    with pytest.raises(ValueError, match="equal length"):
        accuracy(np.array([1, 2]), np.array([1]))


def test_early_stopping_waits_patience_epochs_without_improvement():
    es = EarlyStopping(patience=4)
    losses = [1.0, 0.8, 0.9, 0.85, 0.81, 0.7, 0.75, 0.72, 0.71, 0.74]
    stops = []
    for epoch, loss in enumerate(losses):
        es.update(loss, epoch)
        stops.append(es.should_stop)
    assert es.best_epoch == 5 and es.best_loss == 0.7
    assert stops.index(True) == 9  # epochs 2-4 (3 bad) do not stop; 6-9 (4 bad) do
    assert not any(stops[:9])


def test_early_stopping_min_delta_and_bad_values():
    es = EarlyStopping(patience=1, min_delta=0.1)
    assert es.update(1.0, 0)
    assert not es.update(0.95, 1)  # not better by 0.1
    assert es.should_stop
    with pytest.raises(FloatingPointError):
        EarlyStopping().update(math.nan, 0)
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)


def test_pitch88_uses_its_own_offset_and_drops_notes_outside():
    from eval_harness.nsynth import get_task
    task = get_task("pitch88")
    assert task.num_classes == 88 and task.label_names[0] == "21" and task.label_names[-1] == "108"
    # index 39 = MIDI 60 (C4); 51 = C5; 40 = C#4
    assert task_metrics("pitch88", np.array([39, 39, 39]), np.array([39, 51, 40])) == {
        "accuracy": pytest.approx(1 / 3), "macro_f1": pytest.approx((0.5 + 0 + 0) / 3),
        "chroma_accuracy": pytest.approx(2 / 3)}
    with pytest.raises(LabelError, match="0..87"):
        task_metrics("pitch88", np.array([88]), np.array([0]))
