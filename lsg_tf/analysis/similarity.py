"""Similarity between feature vectors and gate rows (paper section 4.2, Fig. 6, appendix B).

    S[y, c](D) = mean_{(x, y) ∈ D} a(x) · G_c

the inner product of an image's pooled features ``a`` with gate row ``G_c``, averaged over the
images of class y in D. With D the true positives (TP) the paper finds S diagonally dominant
(features point along their own class's gate row); with D the false negatives (FN) it is not
(misclassified images carry features of other classes).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.analysis import head


@dataclasses.dataclass
class Dominance:
    """How diagonally dominant a similarity matrix is (rows without images are skipped).

    Attributes:
        argmax_fraction: fraction of rows whose largest entry is on the diagonal.
        diagonal_ratio: mean over rows of ``S[y, y] / mean_{c != y} S[y, c]``.
        rows: number of rows with images.
    """

    argmax_fraction: float
    diagonal_ratio: float
    rows: int


@dataclasses.dataclass
class SimilarityResult:
    """S_TP and S_FN.

    Attributes:
        tp, fn: ``[C, C]`` similarity matrices (rows: true class y, columns: gate row c);
            NaN rows for classes with no TP (FN) image.
        tp_counts, fn_counts: ``[C]`` images per row.
        tp_dominance, fn_dominance: :class:`Dominance` of each.
    """

    tp: np.ndarray
    fn: np.ndarray
    tp_counts: np.ndarray
    fn_counts: np.ndarray
    tp_dominance: Dominance
    fn_dominance: Dominance


def similarity_matrix(features: np.ndarray, labels: np.ndarray, gate: np.ndarray,
                      select: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``S[y, c] = mean a · G_c`` over the selected images of class y.

    Args:
        features: ``[N, K]``; labels: int ``[N]``; gate: ``[C, K]``.
        select: optional boolean ``[N]``, the images in D (default all).

    Returns:
        ``(S [C, C] float64 with NaN rows for empty classes, counts [C])``.
    """
    features = np.asarray(features, dtype=np.float64)
    gate = np.asarray(gate, dtype=np.float64)
    if features.ndim != 2 or gate.ndim != 2 or gate.shape[1] != features.shape[1]:
        raise ValueError(f"features [N, K] and gate [C, K] must share K, got shapes "
                         f"{features.shape} and {gate.shape}")
    num_classes = gate.shape[0]
    labels = head.check_labels(labels, len(features), num_classes)
    if select is None:
        select = np.ones(len(labels), bool)
    select = np.asarray(select, bool)
    if select.shape != labels.shape:
        raise ValueError(f"select must have shape [N]={list(labels.shape)}, got {select.shape}")
    scores = features @ gate.T  # [N, C]
    matrix = np.full((num_classes, num_classes), np.nan)
    counts = np.zeros(num_classes, np.int64)
    for y in range(num_classes):
        rows = select & (labels == y)
        counts[y] = rows.sum()
        if counts[y]:
            matrix[y] = scores[rows].mean(axis=0)
    return matrix, counts


def diagonal_dominance(matrix: np.ndarray) -> Dominance:
    """Summarises how much each row's diagonal entry stands out (NaN rows skipped)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"matrix must be square [C, C] with C >= 2, got shape {matrix.shape}")
    valid = ~np.isnan(matrix).any(axis=1)
    if not valid.any():
        return Dominance(float("nan"), float("nan"), 0)
    index = np.flatnonzero(valid)
    rows = matrix[index]
    diagonal = rows[np.arange(len(index)), index]
    off = rows.copy()
    off[np.arange(len(index)), index] = np.nan
    off_mean = np.nanmean(off, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(off_mean != 0, diagonal / off_mean, np.nan)
    return Dominance(argmax_fraction=float(np.mean(rows.argmax(axis=1) == index)),
                     diagonal_ratio=float(np.nanmean(ratio)) if np.isfinite(ratio).any()
                     else float("nan"),
                     rows=int(len(index)))


def feature_gate_similarity(features: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                            gate: np.ndarray) -> SimilarityResult:
    """S_TP and S_FN of Fig. 6.

    Args:
        features: pooled test features ``[N, K]``; labels: ``[N]``.
        predictions: the model's predicted classes ``[N]`` (STD path).
        gate: ``[C, K]``: the trained gate of an LSG model, Φ's gate of an STD model.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions must have the labels' shape {labels.shape}, "
                         f"got {predictions.shape}")
    correct = predictions == labels
    tp, tp_counts = similarity_matrix(features, labels, gate, correct)
    fn, fn_counts = similarity_matrix(features, labels, gate, ~correct)
    return SimilarityResult(tp=tp, fn=fn, tp_counts=tp_counts, fn_counts=fn_counts,
                            tp_dominance=diagonal_dominance(tp),
                            fn_dominance=diagonal_dominance(fn))
