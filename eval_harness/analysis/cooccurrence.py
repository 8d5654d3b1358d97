"""Co-occurrence of discrete codes with labels, and the numbers that summarise it (numpy only).

A co-occurrence matrix N (codes x labels) counts the frames that got code c and belong to a note
with label l. From p = N / N.sum():

- NMI = I(code; label) / ((H(code) + H(label)) / 2), natural logs (0 when both entropies are 0);
- purity = sum_c max_l N[c, l] / N.sum(): the accuracy of predicting each frame's label from its
  code alone by the code's majority label;
- codes used = codes with at least one frame; code perplexity = exp(H(code)), the effective number
  of codes (for several groups HF's `codevector_perplexity` is the sum over groups).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cooccurrence:
    """Frame counts of codes x labels.

    Attributes:
        counts: (C, L) int64 frame counts.
        code_names: C names of the rows (e.g. "17", or "3-250" for a pair of group codes).
        label_names: L names of the columns (e.g. "bass", or a MIDI pitch "60").
    """

    counts: np.ndarray
    code_names: tuple[str, ...]
    label_names: tuple[str, ...]

    @property
    def frames(self) -> int:
        """Total number of frames counted."""
        return int(self.counts.sum())


def count(codes: np.ndarray, labels: np.ndarray, num_codes: int, num_labels: int) -> np.ndarray:
    """Co-occurrence counts of per-frame codes and labels.

    Args:
        codes: (N,) int code per frame, in [0, num_codes).
        labels: (N,) int label per frame, in [0, num_labels).

    Returns:
        (num_codes, num_labels) int64 counts summing to N.
    """
    codes = np.asarray(codes, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if codes.shape != labels.shape or codes.ndim != 1:
        raise ValueError(f"codes and labels must be equal-length 1-D arrays, got {codes.shape} and {labels.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= num_codes):
        raise ValueError(f"codes must lie in [0, {num_codes}), got [{codes.min()}, {codes.max()}]")
    if labels.size and (labels.min() < 0 or labels.max() >= num_labels):
        raise ValueError(f"labels must lie in [0, {num_labels}), got [{labels.min()}, {labels.max()}]")
    flat = np.bincount(codes * num_labels + labels, minlength=num_codes * num_labels)
    return flat.reshape(num_codes, num_labels).astype(np.int64)


def joint_codes(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map per-group codes (N, G) to an index over the code tuples that occur.

    Returns:
        (index, names): index (N,) int64 into the sorted distinct tuples; names like "3-250".
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2:
        raise ValueError(f"expected per-group codes of shape (frames, groups), got {codes.shape}")
    tuples, index = np.unique(codes, axis=0, return_inverse=True)
    return index.reshape(-1).astype(np.int64), tuple("-".join(str(int(c)) for c in row) for row in tuples)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def nmi(counts: np.ndarray) -> float:
    """Normalised mutual information (arithmetic-mean normalisation) of a (C, L) count matrix, in [0, 1]."""
    total = counts.sum()
    if total == 0:
        raise ValueError("empty co-occurrence matrix: no frames counted")
    p = counts / total
    pc, pl = p.sum(axis=1), p.sum(axis=0)
    hc, hl = _entropy(pc), _entropy(pl)
    if hc + hl == 0:
        return 0.0
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pc, pl)[nz])).sum())
    return float(np.clip(2.0 * mi / (hc + hl), 0.0, 1.0))


def purity(counts: np.ndarray) -> float:
    """Fraction of frames whose label is their code's majority label, in (0, 1]."""
    total = counts.sum()
    if total == 0:
        raise ValueError("empty co-occurrence matrix: no frames counted")
    return float(counts.max(axis=1).sum() / total)


def perplexity(counts: np.ndarray) -> float:
    """exp(entropy) of the code marginal of a (C, L) count matrix: the effective number of codes."""
    marginal = counts.sum(axis=1).astype(np.float64)
    return float(np.exp(_entropy(marginal / marginal.sum())))


def summary(co: Cooccurrence) -> dict:
    """The numbers of one co-occurrence matrix: frames, codes_total, codes_used, perplexity, nmi, purity,
    and labels_present (labels with at least one frame)."""
    return {
        "frames": co.frames,
        "codes_total": int(co.counts.shape[0]),
        "codes_used": int((co.counts.sum(axis=1) > 0).sum()),
        "perplexity": perplexity(co.counts),
        "nmi": nmi(co.counts),
        "purity": purity(co.counts),
        "labels_present": int((co.counts.sum(axis=0) > 0).sum()),
    }


def order_codes(counts: np.ndarray, max_codes: int | None = None) -> np.ndarray:
    """Used codes ordered for display: by their dominant label (label order), then by that label's share.

    Args:
        counts: (C, L) counts.
        max_codes: keep only this many most frequent used codes before ordering (None: all used).

    Returns:
        int64 row indices into `counts`.
    """
    totals = counts.sum(axis=1)
    used = np.flatnonzero(totals > 0)
    if max_codes is not None and used.size > max_codes:
        used = used[np.argsort(-totals[used], kind="stable")[:max_codes]]
    dominant = counts[used].argmax(axis=1)
    share = counts[used, dominant] / totals[used]
    return used[np.lexsort((-share, dominant))].astype(np.int64)


def to_csv(co: Cooccurrence) -> str:
    """The matrix as CSV text: header "code,<label names...>,total", one row per code with frames."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["code", *co.label_names, "total"])
    for name, row in zip(co.code_names, co.counts):
        if row.sum() > 0:
            writer.writerow([name, *(int(v) for v in row), int(row.sum())])
    return buf.getvalue()


def csv_text(rows: list[dict]) -> str:
    """Rows of equal keys as CSV text with a header (floats to 6 significant digits)."""
    if not rows:
        raise ValueError("no rows to write")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    return buf.getvalue()
