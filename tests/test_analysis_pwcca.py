"""CCA / PWCCA properties on synthetic data (numpy only, well under a second each)."""
from __future__ import annotations

import numpy as np
import pytest

from eval_harness.analysis import pwcca


def _data(n: int, p: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, p))


def test_identical_views_give_one():
    x = _data(500, 12)
    res = pwcca.pwcca(x, x)
    assert res.pwcca == pytest.approx(1.0, abs=1e-9)
    assert res.mean_cca == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(res.rho, 1.0)
    assert res.weights.sum() == pytest.approx(1.0)


def test_invariant_to_invertible_linear_maps_of_either_side():
    rng = np.random.default_rng(1)
    x = _data(2000, 6, seed=2)
    y = np.c_[x[:, :3] @ rng.normal(size=(3, 4)), _data(2000, 5, seed=3)] + 0.5 * _data(2000, 9, seed=4)
    a = rng.normal(size=(6, 6)) + 3 * np.eye(6)  # invertible
    b = rng.normal(size=(9, 9)) + 3 * np.eye(9)
    base = pwcca.cca(x, y)
    for xt, yt in ((x @ a, y), (x, y @ b), (x @ a + 7.0, y @ b - 2.0)):
        assert np.allclose(pwcca.cca(xt, yt).rho, base.rho, atol=1e-8)
    # The PWCCA weights come from the narrower side (X); a map of the wider side leaves them unchanged.
    assert pwcca.pwcca(x, y @ b).pwcca == pytest.approx(pwcca.pwcca(x, y).pwcca, abs=1e-9)
    # ... and permuting / flipping X's neurons does not change them either.
    perm = np.random.default_rng(5).permutation(6)
    flipped = x[:, perm] * np.array([1, -1, 1, -1, -1, 1])
    assert pwcca.pwcca(flipped, y).pwcca == pytest.approx(pwcca.pwcca(x, y).pwcca, abs=1e-9)


def test_independent_data_is_near_zero_and_dependent_is_not():
    x, y = _data(20000, 5, seed=6), _data(20000, 5, seed=7)
    assert pwcca.pwcca(x, y).pwcca < 0.05
    assert pwcca.pwcca(x, y + 0.5 * x).pwcca > 0.3


def test_mean_cca_symmetric_and_pwcca_weights_from_narrower_side():
    x = _data(1000, 4, seed=8)
    y = np.c_[x @ np.ones((4, 3)), _data(1000, 7, seed=9)] + _data(1000, 10, seed=10)
    xy, yx = pwcca.pwcca(x, y), pwcca.pwcca(y, x)
    assert np.allclose(xy.rho, yx.rho)
    assert xy.mean_cca == pytest.approx(yx.mean_cca)
    assert xy.weighted_side == "x" and yx.weighted_side == "y"
    assert xy.pwcca == pytest.approx(yx.pwcca)  # same side weights both ways
    assert xy.rho.size == 4 and np.all(np.diff(xy.rho) <= 1e-12)


def test_rank_deficiency_is_dropped_not_inverted():
    x = _data(800, 5, seed=11)
    redundant = np.c_[x, x[:, :2] @ np.array([[1.0, 2.0], [3.0, -1.0]]), np.full((800, 1), 4.0)]  # rank 5 of 8
    res = pwcca.pwcca(redundant, x)
    assert res.x_dims == 5
    assert res.pwcca == pytest.approx(1.0, abs=1e-9)


def test_compare_reduces_dimensions_when_frames_are_few():
    x, y = _data(200, 40, seed=12), _data(200, 60, seed=13)
    with pytest.warns(UserWarning, match="frames per dimension"):
        res = pwcca.compare(x, y, min_frames_per_dim=10)
    assert res.reduced and res.x_dims == 20 and res.y_dims == 20
    # Without the guard, 200 frames for 100 dims make independent data look correlated.
    assert pwcca.pwcca(x, y).mean_cca > 0.5 > res.mean_cca


def test_compare_equals_pwcca_with_enough_frames():
    x, y = _data(1000, 8, seed=14), _data(1000, 9, seed=15)
    assert pwcca.compare(x, y).pwcca == pytest.approx(pwcca.pwcca(x, y).pwcca)


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((10, 3)), np.ones((9, 3)), "same frames"),
    (np.zeros(10), np.ones((10, 3)), "2-D"),
    (np.ones((10, 3)), np.random.default_rng(0).normal(size=(10, 3)), "no variance"),
    (np.full((10, 2), np.nan), np.ones((10, 2)), "NaN"),
])
def test_bad_input_is_named(x, y, match):
    with pytest.raises(pwcca.CCAError, match=match):
        pwcca.pwcca(x, y)
