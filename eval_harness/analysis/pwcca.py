"""Canonical correlation analysis (CCA) and projection-weighted CCA (PWCCA, Morcos et al. 2018).

numpy only, in an SVD formulation that stays stable when a representation is rank deficient:

1. centre every neuron (column) of X (n, p) and Y (n, q) over the n frames;
2. thin SVD of each side, X = U_x S_x V_x^T; keep the directions whose singular value exceeds
   ``rel_tol`` times the largest one (and at most ``max_dims`` of them), so constant or linearly
   dependent neurons never enter a matrix inverse;
3. the canonical correlations are the singular values of U_x^T U_y (clipped to [0, 1]);
   with U_x^T U_y = A diag(rho) B^T the canonical variates are H_x = U_x A, H_y = U_y B
   (orthonormal columns, one per correlation).

Mean CCA (the paper's Eq. 2) is the mean of the k = min(rank_x, rank_y) correlations. PWCCA weights
each correlation by how much of the original neurons lies along its canonical variate:
alpha_i = sum_j |<h_i, x_j>| over the centred neurons x_j of the side with fewer kept directions
(the choice of Morcos et al.'s reference code), normalised to sum to one; PWCCA = sum_i alpha_i rho_i.

With few frames per dimension, CCA finds spurious correlations (n <= p + q gives rho = 1 for any
data). `compare` therefore keeps at most n / ``min_frames_per_dim`` directions per side (the top
singular directions, as in SVCCA) and warns when it does so.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

REL_TOL = 1e-6  # singular values below REL_TOL * largest are treated as zero (rank deficiency)
MIN_FRAMES_PER_DIM = 10.0  # frames per kept dimension below which `compare` reduces dimensions


class CCAError(ValueError):
    """Inputs that CCA cannot compare: wrong shapes, too few frames, or no variance."""


@dataclass(frozen=True)
class CCAResult:
    """Canonical correlations of two views of the same n frames.

    Attributes:
        rho: (k,) canonical correlations in [0, 1], descending; k = min(x_dims, y_dims).
        x_variates: (n, k) orthonormal canonical variates of X (centred frame space).
        y_variates: (n, k) orthonormal canonical variates of Y.
        x_dims: directions of X kept after the rank / dimension limits.
        y_dims: directions of Y kept.
    """

    rho: np.ndarray
    x_variates: np.ndarray
    y_variates: np.ndarray
    x_dims: int
    y_dims: int

    @property
    def mean(self) -> float:
        """Mean canonical correlation (the paper's Eq. 2)."""
        return float(self.rho.mean())


@dataclass(frozen=True)
class PWCCAResult:
    """PWCCA of X and Y with the pieces it is made of.

    Attributes:
        pwcca: projection-weighted mean of the canonical correlations, in [0, 1].
        mean_cca: unweighted mean canonical correlation.
        rho: (k,) canonical correlations, descending.
        weights: (k,) non-negative weights summing to one.
        weighted_side: "x" or "y", the side whose neurons define the weights.
        n_frames: frames n used.
        x_dims, y_dims: directions kept per side.
        reduced: True when `compare` cut the dimensions for the frames-per-dimension ratio.
    """

    pwcca: float
    mean_cca: float
    rho: np.ndarray
    weights: np.ndarray
    weighted_side: str
    n_frames: int
    x_dims: int
    y_dims: int
    reduced: bool = False


def _check(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2:
        raise CCAError(f"expected two 2-D arrays (frames, dims), got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise CCAError(f"X and Y must hold the same frames: {x.shape[0]} vs {y.shape[0]} rows")
    if x.shape[0] < 2:
        raise CCAError(f"need at least 2 frames, got {x.shape[0]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise CCAError("X or Y contains NaN or infinite values")
    return x - x.mean(axis=0), y - y.mean(axis=0)


def _basis(a: np.ndarray, rel_tol: float, max_dims: int | None, name: str) -> np.ndarray:
    """Orthonormal basis (n, r) of the column space of centred `a`, r limited by rank and max_dims."""
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or s[0] <= 0.0:
        raise CCAError(f"{name} has no variance over the frames (all neurons constant)")
    r = int(np.sum(s > rel_tol * s[0]))
    if max_dims is not None:
        r = max(1, min(r, int(max_dims)))
    return u[:, :r]


def cca(x: np.ndarray, y: np.ndarray, rel_tol: float = REL_TOL, max_dims: int | None = None) -> CCAResult:
    """Canonical correlations between X (n, p) and Y (n, q), rows being the same n frames.

    Args:
        x: (n, p) activations, one row per frame.
        y: (n, q) activations of the same frames.
        rel_tol: relative singular-value threshold for the rank of each side.
        max_dims: keep at most this many top singular directions per side (None: rank only).

    Returns:
        the correlations and canonical variates (see `CCAResult`).
    """
    xc, yc = _check(x, y)
    ux = _basis(xc, rel_tol, max_dims, "X")
    uy = _basis(yc, rel_tol, max_dims, "Y")
    a, rho, bt = np.linalg.svd(ux.T @ uy, full_matrices=False)
    k = rho.size
    return CCAResult(rho=np.clip(rho, 0.0, 1.0), x_variates=ux @ a[:, :k], y_variates=uy @ bt.T[:, :k],
                     x_dims=ux.shape[1], y_dims=uy.shape[1])


def pwcca(x: np.ndarray, y: np.ndarray, rel_tol: float = REL_TOL, max_dims: int | None = None) -> PWCCAResult:
    """Projection-weighted CCA of X (n, p) and Y (n, q) (Morcos et al. 2018).

    The weights come from the side with fewer kept directions (X on a tie): alpha_i is the summed
    absolute projection of that side's centred neurons onto its i-th canonical variate.

    Returns:
        `PWCCAResult`; its `pwcca` is 1 for Y = X and near 0 for independent X and Y with n >> p + q.
    """
    res = cca(x, y, rel_tol, max_dims)
    side = "x" if res.x_dims <= res.y_dims else "y"
    acts = np.asarray(x if side == "x" else y, dtype=np.float64)
    acts = acts - acts.mean(axis=0)
    variates = res.x_variates if side == "x" else res.y_variates
    weights = np.abs(variates.T @ acts).sum(axis=1)  # (k,)
    total = weights.sum()
    weights = weights / total if total > 0 else np.full_like(weights, 1.0 / weights.size)
    value = float(np.clip(np.dot(weights, res.rho), 0.0, 1.0))
    return PWCCAResult(pwcca=value, mean_cca=res.mean, rho=res.rho, weights=weights, weighted_side=side,
                       n_frames=int(np.shape(x)[0]), x_dims=res.x_dims, y_dims=res.y_dims)


def dims_for_frames(n_frames: int, min_frames_per_dim: float = MIN_FRAMES_PER_DIM) -> int:
    """The most directions per side that keep at least `min_frames_per_dim` frames per direction (>= 1)."""
    if min_frames_per_dim <= 0:
        raise CCAError(f"min_frames_per_dim must be positive, got {min_frames_per_dim}")
    return max(1, int(n_frames // min_frames_per_dim))


def compare(x: np.ndarray, y: np.ndarray, min_frames_per_dim: float = MIN_FRAMES_PER_DIM,
            rel_tol: float = REL_TOL) -> PWCCAResult:
    """PWCCA with the frames-to-dimensions guard used by the layer analysis.

    If either side is wider than n / min_frames_per_dim, both sides are reduced to their top
    n / min_frames_per_dim singular directions before CCA (the PWCCA weights still project the
    original neurons), and a `UserWarning` says so. Otherwise this equals `pwcca(x, y, rel_tol)`.

    Args:
        x: (n, p) activations; y: (n, q) activations of the same frames.
        min_frames_per_dim: required frames per kept direction (10 by default).
        rel_tol: relative singular-value threshold for rank deficiency.
    """
    n = int(np.shape(x)[0])
    limit = dims_for_frames(n, min_frames_per_dim)
    widest = max(np.shape(x)[1], np.shape(y)[1])
    if widest <= limit:
        return pwcca(x, y, rel_tol)
    warnings.warn(f"{n} frames for {np.shape(x)[1]} and {np.shape(y)[1]} dimensions (< {min_frames_per_dim:g} "
                  f"frames per dimension): keeping the top {limit} singular directions of each side",
                  UserWarning, stacklevel=2)
    res = pwcca(x, y, rel_tol, max_dims=limit)
    return PWCCAResult(**{**res.__dict__, "reduced": True})
