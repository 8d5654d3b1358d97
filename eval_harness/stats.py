"""Uncertainty of test accuracies: percentile bootstrap over test notes, or over instruments then their notes.

numpy only. A bootstrap replicate is a row of draw counts over the test notes (`bootstrap_counts`):
the statistic of replicate b is the count-weighted mean of a per-note score (1 = right, 0 = wrong, or
the fraction of seeds that got the note right). Paired comparisons apply the SAME count rows to both
models' scores, so a difference's interval reflects only where the two models disagree.

The two-level bootstrap (instruments, then their notes, both with replacement) is conservative:
resampling notes again inside each drawn instrument counts the within-instrument noise twice, so when
instruments barely differ its interval is up to about sqrt(2) wider than the note-level one; when they
differ a lot (the case it exists for) it is much wider, as it should be.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

N_BOOT = 1000  # bootstrap replicates
LEVEL = 0.95  # confidence level of the intervals
BOOT_SEED = 0  # fixed: the same test set gives the same intervals, and paired draws line up across models


@dataclass(frozen=True)
class Interval:
    """A statistic with its percentile-bootstrap interval; `significant`: the interval excludes 0."""

    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def bootstrap_counts(n: int, groups: Sequence | None = None, n_boot: int = N_BOOT, seed: int = BOOT_SEED
                     ) -> np.ndarray:
    """Draw counts of `n_boot` bootstrap replicates over `n` items: int64 (n_boot, n).

    Args:
        n: number of test notes.
        groups: None to resample notes (n draws with replacement per replicate); else one label per
            note (e.g. its instrument) for a two-level bootstrap: draw as many groups as there are,
            with replacement, then for every drawn group draw its own number of notes from it, with
            replacement. A replicate's total count then varies with the sizes of the groups drawn.
        seed: the generator's seed (same seed, same draws).
    """
    if n < 1:
        raise ValueError("the bootstrap needs at least one test note")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"groups must hold one label per note: {labels.shape} for {n} notes")
    names, index = np.unique(labels, return_inverse=True)
    picks = rng.multinomial(len(names), np.full(len(names), 1.0 / len(names)), size=n_boot)  # (n_boot, groups)
    counts = np.zeros((n_boot, n), dtype=np.int64)
    for g in range(len(names)):
        members = np.flatnonzero(index == g)
        size = len(members)
        # m draws of a group, each of `size` notes with replacement, add up to one multinomial of m * size draws
        counts[:, members] = rng.multinomial(picks[:, g] * size, np.full(size, 1.0 / size))
    return counts


def _replicates(counts: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Count-weighted means of per-note scores: float64 (n_boot,)."""
    return (counts @ scores) / counts.sum(axis=1)


def _interval(estimate: float, replicates: np.ndarray, level: float) -> Interval:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))


def _scores(values: np.ndarray | Sequence[float], what: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{what}: expected a non-empty 1-D array of per-note scores, got shape {scores.shape}")
    return scores


def bootstrap_ci(scores: np.ndarray | Sequence[float], groups: Sequence | None = None, n_boot: int = N_BOOT,
                 seed: int = BOOT_SEED, level: float = LEVEL) -> Interval:
    """Mean of per-note scores (accuracy when they are 0/1) with its percentile-bootstrap interval.

    Args:
        scores: float (n,) per test note, in [0, 1].
        groups: None (resample notes) or a label per note (resample groups, then their notes).
    """
    scores = _scores(scores, "scores")
    counts = bootstrap_counts(len(scores), groups, n_boot, seed)
    return _interval(scores.mean(), _replicates(counts, scores), level)


def paired_difference(scores_a: np.ndarray | Sequence[float], scores_b: np.ndarray | Sequence[float],
                      groups: Sequence | None = None, n_boot: int = N_BOOT, seed: int = BOOT_SEED,
                      level: float = LEVEL) -> Interval:
    """Mean(a) - mean(b) over the same test notes, with a paired bootstrap interval (same draws for a and b)."""
    a, b = _scores(scores_a, "scores_a"), _scores(scores_b, "scores_b")
    if a.shape != b.shape:
        raise ValueError(f"paired scores must cover the same notes: {a.shape} vs {b.shape}")
    counts = bootstrap_counts(len(a), groups, n_boot, seed)
    return _interval(a.mean() - b.mean(), _replicates(counts, a - b), level)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_sd needs at least one value")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
