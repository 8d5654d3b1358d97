"""Bootstrap intervals and paired differences (eval_harness.stats) on synthetic per-note scores."""
from __future__ import annotations

import numpy as np
import pytest

from eval_harness import stats


def test_counts_resample_notes_or_instruments_then_notes():
    counts = stats.bootstrap_counts(50, n_boot=200, seed=1)
    assert counts.shape == (200, 50) and (counts.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(counts, stats.bootstrap_counts(50, n_boot=200, seed=1))  # same seed, same draws
    groups = np.repeat(["a", "b", "c"], [2, 3, 5])
    grouped = stats.bootstrap_counts(10, groups, n_boot=500, seed=0)
    # every replicate is a sum of 3 whole-group draws: its size is a sum of three group sizes
    sizes = {2 * i + 3 * j + 5 * k for i in range(4) for j in range(4) for k in range(4) if i + j + k == 3}
    assert set(grouped.sum(axis=1)) <= sizes and len(set(grouped.sum(axis=1))) > 3
    with pytest.raises(ValueError, match="one label per note"):
        stats.bootstrap_counts(10, groups[:5])


def test_interval_covers_the_true_accuracy_of_bernoulli_samples():
    rng = np.random.default_rng(0)
    p, covered, trials = 0.6, 0, 60
    for t in range(trials):
        ci = stats.bootstrap_ci(rng.random(400) < p, n_boot=400, seed=t)
        assert ci.low <= ci.estimate <= ci.high
        covered += ci.low <= p <= ci.high
    assert covered / trials >= 0.85  # nominal 95 %; a loose bound keeps the test stable
    ci = stats.bootstrap_ci(rng.random(400) < p)
    half_width = 1.96 * np.sqrt(p * (1 - p) / 400)  # the normal approximation's
    assert ci.high - ci.low == pytest.approx(2 * half_width, rel=0.2)


def test_paired_difference_of_identical_predictions_is_exactly_zero():
    correct = np.random.default_rng(1).random(300) < 0.5
    diff = stats.paired_difference(correct, correct)
    assert (diff.estimate, diff.low, diff.high) == (0.0, 0.0, 0.0) and not diff.significant
    groups = np.arange(300) % 7
    assert stats.paired_difference(correct, correct, groups).to_json() == {
        "estimate": 0.0, "low": 0.0, "high": 0.0, "significant": False}


def test_paired_difference_detects_a_real_gap_and_pairing_narrows_it():
    rng = np.random.default_rng(2)
    base = rng.random(500) < 0.5
    better = base | (rng.random(500) < 0.2)  # right wherever base is, and on ~20 % more
    diff = stats.paired_difference(better, base)
    assert diff.significant and diff.low > 0 and diff.estimate == pytest.approx(better.mean() - base.mean())
    unpaired_width = (stats.bootstrap_ci(better).high - stats.bootstrap_ci(better).low) + \
        (stats.bootstrap_ci(base).high - stats.bootstrap_ci(base).low)
    assert diff.high - diff.low < unpaired_width / 2
    with pytest.raises(ValueError, match="same notes"):
        stats.paired_difference(better, base[:10])


def test_instrument_resampling_widens_the_interval_when_instruments_differ():
    rng = np.random.default_rng(3)
    instruments = np.repeat(np.arange(12), 50)  # 12 instruments, 50 notes each
    per_instrument = rng.choice([0.1, 0.9], size=12)  # some instruments easy, some hard
    correct = rng.random(600) < per_instrument[instruments]
    notes = stats.bootstrap_ci(correct)
    grouped = stats.bootstrap_ci(correct, instruments)
    assert grouped.estimate == notes.estimate
    assert grouped.high - grouped.low > 2.5 * (notes.high - notes.low)
    # no instrument effect: the two-level interval is at most about sqrt(2) wider (its known conservative bias)
    uniform = rng.random(600) < 0.5
    a, b = stats.bootstrap_ci(uniform), stats.bootstrap_ci(uniform, instruments)
    assert 0.9 < (b.high - b.low) / (a.high - a.low) < 1.9


def test_fractional_scores_and_mean_sd():
    ci = stats.bootstrap_ci([0.5, 0.5, 1.0, 0.0])
    assert ci.estimate == 0.5 and 0.0 <= ci.low <= ci.high <= 1.0
    assert stats.mean_sd([0.5, 0.7]) == pytest.approx((0.6, np.std([0.5, 0.7], ddof=1)))
    assert stats.mean_sd([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        stats.bootstrap_ci([])
