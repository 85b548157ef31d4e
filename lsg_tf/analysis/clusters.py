"""Cluster centres of pooled features against gate rows (paper appendix D, Fig. 10).

k-means with k = C on the pooled features ``a``; each centre is matched to one gate row by the
Hungarian assignment that maximises the total cosine similarity. The paper finds the LSG
model's centres almost equal to its (fixed) gate rows; an STD model's centres are not.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.analysis import head


@dataclasses.dataclass
class ClusterMatch:
    """k-means centres matched to gate rows.

    Attributes:
        centres: ``[C, K]`` k-means centres, row i = cluster i.
        gate_row: ``[C]``, the gate row (class) matched to cluster i.
        cosine: ``[C, C]`` cosine similarity ``cos(centre_i, G_c)``.
        matched_cosine: ``[C]``, ``cosine[i, gate_row[i]]``.
        mean_matched_cosine: mean of ``matched_cosine``.
        label_agreement: fraction of images whose cluster is matched to their own label's
            gate row (NaN without labels).
        assignments: ``[N]`` cluster of each image.
    """

    centres: np.ndarray
    gate_row: np.ndarray
    cosine: np.ndarray
    matched_cosine: np.ndarray
    mean_matched_cosine: float
    label_agreement: float
    assignments: np.ndarray


def cosine_similarity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``cos(x_i, y_j)``, ``[len(x), len(y)]``; 0 where a row is all zero."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    nx = np.linalg.norm(x, axis=1, keepdims=True)
    ny = np.linalg.norm(y, axis=1, keepdims=True)
    x = np.divide(x, nx, out=np.zeros_like(x), where=nx > 0)
    y = np.divide(y, ny, out=np.zeros_like(y), where=ny > 0)
    return x @ y.T


def match_centres(centres: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching of centres to gate rows maximising total cosine similarity.

    Returns:
        ``(gate_row [C] with gate_row[i] the row matched to centre i, cosine [C, C])``.
    """
    from scipy.optimize import linear_sum_assignment

    centres = np.asarray(centres, dtype=np.float64)
    gate = np.asarray(gate, dtype=np.float64)
    if centres.shape != gate.shape:
        raise ValueError(f"centres and gate must both be [C, K], got shapes {centres.shape} "
                         f"and {gate.shape}")
    cosine = cosine_similarity(centres, gate)
    rows, cols = linear_sum_assignment(-cosine)
    gate_row = np.empty(len(centres), np.int64)
    gate_row[rows] = cols
    return gate_row, cosine


def cluster_centres(features: np.ndarray, gate: np.ndarray, labels: np.ndarray | None = None,
                    seed: int = 0, n_init: int = 10) -> ClusterMatch:
    """k-means (k = C) on pooled features and the match of its centres to the gate rows.

    Args:
        features: pooled features ``[N, K]``, N >= C.
        gate: ``[C, K]``.
        labels: optional int ``[N]``, for ``label_agreement``.
        seed: k-means' ``random_state``.
        n_init: k-means restarts.
    """
    from sklearn.cluster import KMeans

    features = np.asarray(features, dtype=np.float64)
    gate = np.asarray(gate, dtype=np.float64)
    if features.ndim != 2 or gate.ndim != 2 or features.shape[1] != gate.shape[1]:
        raise ValueError(f"features [N, K] and gate [C, K] must share K, got shapes "
                         f"{features.shape} and {gate.shape}")
    num_classes = gate.shape[0]
    if len(features) < num_classes:
        raise ValueError(f"k-means with k=C={num_classes} needs at least {num_classes} "
                         f"examples, got {len(features)}")
    kmeans = KMeans(n_clusters=num_classes, n_init=n_init, random_state=seed).fit(features)
    centres = kmeans.cluster_centers_
    gate_row, cosine = match_centres(centres, gate)
    agreement = float("nan")
    if labels is not None:
        labels = head.check_labels(labels, len(features), num_classes)
        agreement = float(np.mean(gate_row[kmeans.labels_] == labels))
    matched = cosine[np.arange(num_classes), gate_row]
    return ClusterMatch(centres=centres, gate_row=gate_row, cosine=cosine,
                        matched_cosine=matched, mean_matched_cosine=float(matched.mean()),
                        label_agreement=agreement, assignments=kmeans.labels_.astype(np.int64))
