"""Classification metrics and the columns of Table 1 (paper section 4.1).

Table 1 reports test accuracy, test cross-entropy, the gate's "L1 Norm" and Φ. The L1 norm is
reported as the density ``||G||_1 / (C K)`` (:func:`lsg_tf.core.gate.density`). For an STD model the
trained gate is all ones (never used), so its L1 norm is that of the Φ-minimising gate (the
paper's STD value 0.4757 can only be that).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.analysis import head
from lsg_tf.core import gate as gate_lib


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable ``log softmax`` over the last axis, float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def per_image_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each image's cross-entropy in nats, ``-log softmax(z_i)[y_i]``, float64 ``[N]``.

    Args:
        logits: ``[N, C]``; labels: int ``[N]`` in ``[0, C)``.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape [N, C], got shape {logits.shape}")
    labels = head.check_labels(labels, len(logits), logits.shape[-1])
    return -log_softmax(logits)[np.arange(len(labels)), labels]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy in nats, ``-mean_i log softmax(z_i)[y_i]``.

    Args:
        logits: ``[N, C]``; labels: int ``[N]`` in ``[0, C)``.
    """
    logits = np.asarray(logits)
    labels = head.check_labels(labels, len(logits), logits.shape[-1])
    if not len(labels):
        raise ValueError("cross_entropy needs at least one example, got N=0")
    return float(per_image_cross_entropy(logits, labels).mean())


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label."""
    logits = np.asarray(logits)
    labels = head.check_labels(labels, len(logits), logits.shape[-1])
    if not len(labels):
        raise ValueError("accuracy needs at least one example, got N=0")
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``M[true, predicted]``, int64 ``[C, C]``."""
    labels = head.check_labels(labels, len(np.asarray(labels)), num_classes)
    predictions = head.check_labels(predictions, len(labels), num_classes)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_recall(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class, ``M[c, c] / sum_j M[c, j]``; NaN for a class with no example."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)


@dataclasses.dataclass
class Table1Row:
    """One column of the paper's Table 1 (one model).

    Attributes:
        accuracy: test accuracy of the STD path.
        cross_entropy: mean test cross-entropy (nats) of the STD path.
        l1_norm: the "L1 Norm" column as a density: ``trained_gate_density`` for a model
            trained with a gate, ``phi_gate_density`` for an STD model.
        trained_gate_density: density of the model's own gate (1.0 for STD: never trained).
        phi_gate_density: density of the Φ-minimising gate.
        phi: Φ (Eq. 2) = ``phi_cross_entropy + phi_sparsity``.
        phi_cross_entropy, phi_sparsity: the two parts of Φ.
        gate_trained: whether ``l1_norm`` is the trained gate's density.
    """

    accuracy: float
    cross_entropy: float
    l1_norm: float
    trained_gate_density: float
    phi_gate_density: float
    phi: float
    phi_cross_entropy: float
    phi_sparsity: float
    gate_trained: bool


def table1_row(logits: np.ndarray, labels: np.ndarray, trained_gate: np.ndarray, phi_result,
               gate_trained: bool) -> Table1Row:
    """Table 1's metrics of one model.

    Args:
        logits: STD-path test logits ``[N, C]``; labels: ``[N]``.
        trained_gate: the model's gate ``[C, K]``.
        phi_result: a :class:`lsg_tf.analysis.phi.PhiResult` on the same test data.
        gate_trained: False for an STD model (its gate was never used).
    """
    trained_density = float(gate_lib.density(np.asarray(trained_gate, dtype=np.float32)))
    return Table1Row(
        accuracy=accuracy(logits, labels),
        cross_entropy=cross_entropy(logits, labels),
        l1_norm=trained_density if gate_trained else phi_result.density,
        trained_gate_density=trained_density,
        phi_gate_density=phi_result.density,
        phi=phi_result.phi,
        phi_cross_entropy=phi_result.cross_entropy,
        phi_sparsity=phi_result.sparsity,
        gate_trained=bool(gate_trained),
    )
