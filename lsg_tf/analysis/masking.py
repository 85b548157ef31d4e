"""Masking the filters of certain classes (paper section 4.2, Fig. 5).

The filters "highly related" to a set of classes are those whose gate value for any of them
exceeds a threshold, ``G[c, k] > threshold``. Zeroing their channels in the last conv layer
zeroes their pooled features (GAP is linear), so the masked model's logits are
``(a ⊙ keep) W + b`` on cached features. The paper's finding: in an LSG model masking class
c's filters collapses class c's recall while other classes are barely affected; an STD model
(masked with the gate found by Φ) still recognises class c.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from lsg_tf.analysis import head, metrics
from lsg_tf.reporting.formatting import percent


def class_filters(gate: np.ndarray, classes: Sequence[int], threshold: float) -> np.ndarray:
    """Boolean ``[K]``: filters with ``G[c, k] > threshold`` for any c in ``classes``.

    Raises:
        ValueError: gate not ``[C, K]``, no class given, a class outside ``[0, C)``, or a
            threshold outside ``[0, 1)``.
    """
    gate = np.asarray(gate, dtype=np.float32)
    if gate.ndim != 2:
        raise ValueError(f"gate must have shape [C, K], got shape {gate.shape}")
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("classes must name at least one class to mask")
    bad = [c for c in classes if not 0 <= c < gate.shape[0]]
    if bad:
        raise ValueError(f"classes {bad} are outside [0, {gate.shape[0]})")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"mask threshold must be in [0, 1), got {threshold!r}")
    return (gate[classes] > threshold).any(axis=0)


@dataclasses.dataclass
class MaskingResult:
    """The masked model's test behaviour.

    Attributes:
        classes: the masked classes.
        threshold: the gate threshold.
        masked_filters: indices of the zeroed channels.
        confusion: ``[C, C]`` counts ``M[true, predicted]`` of the masked model.
        baseline_confusion: ``[C, C]`` counts without masking.
        recall: per-class recall of the masked model, ``[C]``.
        baseline_recall: per-class recall without masking, ``[C]``.
        masked_recall: mean recall of the masked classes (masked model).
        other_recall: mean recall of the other classes (masked model).
        correct: bool ``[N]``, image i classified correctly by the masked model (per-image
            data for intervals; left out of ``report.json``).
    """

    classes: list
    threshold: float
    masked_filters: np.ndarray
    confusion: np.ndarray
    baseline_confusion: np.ndarray
    recall: np.ndarray
    baseline_recall: np.ndarray
    masked_recall: float
    other_recall: float
    correct: np.ndarray | None = dataclasses.field(default=None, repr=False)


def mask_filters(features: np.ndarray, labels: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
                 gate: np.ndarray, classes: Sequence[int], threshold: float = 0.5
                 ) -> MaskingResult:
    """Zeroes the filters of ``classes`` (per ``gate``) and evaluates the model.

    Args:
        features: pooled features ``[N, K]``; labels: int ``[N]``.
        kernel, bias: the classifier, ``[K, C]`` and ``[C]``.
        gate: ``[C, K]``: the trained gate of an LSG model, the Φ-minimising gate of an
            STD model.
        classes: classes whose filters are masked.
        threshold: a filter is masked if its gate value for a masked class exceeds this.
    """
    features, kernel, bias = head.check_head(features, kernel, bias)
    num_classes = kernel.shape[1]
    labels = head.check_labels(labels, len(features), num_classes)
    gate = np.asarray(gate, dtype=np.float32)
    if gate.shape != (num_classes, kernel.shape[0]):
        raise ValueError(f"gate must have shape [C, K]={[num_classes, kernel.shape[0]]}, "
                         f"got shape {gate.shape}")
    masked = class_filters(gate, classes, threshold)
    keep = (~masked).astype(np.float32)
    baseline = metrics.confusion_matrix(
        labels, head.logits(features, kernel, bias).argmax(axis=1), num_classes)
    predictions = head.logits(features, kernel, bias, keep).argmax(axis=1)
    confusion = metrics.confusion_matrix(labels, predictions, num_classes)
    recall = metrics.per_class_recall(confusion)
    chosen = np.zeros(num_classes, bool)
    chosen[list(classes)] = True
    return MaskingResult(
        classes=sorted({int(c) for c in classes}), threshold=float(threshold),
        masked_filters=np.flatnonzero(masked), confusion=confusion,
        baseline_confusion=baseline, recall=recall,
        baseline_recall=metrics.per_class_recall(baseline),
        masked_recall=_nanmean(recall[chosen]), other_recall=_nanmean(recall[~chosen]),
        correct=predictions == labels)


@dataclasses.dataclass
class MaskingSweep:
    """Masking each class's filters in turn.

    Attributes:
        masked_recall: ``[C]``, recall of class c when c's filters are masked.
        other_recall: ``[C]``, mean recall of the other classes in that case.
        num_masked: ``[C]``, number of filters masked for class c.
        baseline_recall: ``[C]``, recall without masking.
        correct: bool ``[C, N]``, ``correct[c, i]``: image i classified correctly with class
            c's filters masked (per-image data; see :func:`per_image_masking`).
    """

    masked_recall: np.ndarray
    other_recall: np.ndarray
    num_masked: np.ndarray
    baseline_recall: np.ndarray
    correct: np.ndarray | None = dataclasses.field(default=None, repr=False)


def masking_sweep(features, labels, kernel, bias, gate, threshold: float = 0.5) -> MaskingSweep:
    """:func:`mask_filters` for each class alone; same arguments."""
    results = [mask_filters(features, labels, kernel, bias, gate, [c], threshold)
               for c in range(np.asarray(kernel).shape[1])]
    return MaskingSweep(
        masked_recall=np.array([r.masked_recall for r in results]),
        other_recall=np.array([r.other_recall for r in results]),
        num_masked=np.array([len(r.masked_filters) for r in results]),
        baseline_recall=results[0].baseline_recall,
        correct=np.stack([r.correct for r in results]))


def per_image_masking(correct: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each test image's outcome in the masking sweep (Fig. 5), for intervals over images.

    Args:
        correct: bool ``[C, N]`` of :attr:`MaskingSweep.correct`; labels: int ``[N]``.

    Returns:
        ``(own, others)``, float64 ``[N]``: ``own[i]`` = 1 if image i (class y_i) is correct
        when class y_i's filters are masked; ``others[i]`` = mean over classes c != y_i of
        "correct when c's filters are masked". On a balanced test set (n images per class)
        ``mean(own)`` equals the mean masked recall ``mean_c masked_recall[c]`` and
        ``mean(others)`` the mean other-class recall ``mean_c other_recall[c]``; otherwise
        they weight classes by their image counts.

    Raises:
        ValueError: ``correct`` not ``[C, N]`` with C >= 2, or labels not ``[N]`` in ``[0, C)``.
    """
    correct = np.asarray(correct)
    if correct.ndim != 2 or correct.shape[0] < 2:
        raise ValueError(f"correct must have shape [C, N] with C >= 2, got shape {correct.shape}")
    num_classes, num_images = correct.shape
    labels = head.check_labels(labels, num_images, num_classes)
    correct = correct.astype(np.float64)
    own = correct[labels, np.arange(num_images)]
    others = (correct.sum(axis=0) - own) / (num_classes - 1)
    return own, others


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def sweep_summary(sweep: MaskingSweep, class_names=None) -> dict:
    """Plain numbers of a :class:`MaskingSweep` for ``metrics.json`` and a one-line print.

    ``others_kept[c]`` is the other classes' mean recall with c's filters masked, divided by
    their mean recall without masking (1.0 = unaffected).
    """
    baseline = np.asarray(sweep.baseline_recall, dtype=np.float64)
    others_before = np.array([_nanmean(np.delete(baseline, c)) for c in range(len(baseline))])
    # Undefined (NaN) where the other classes had no recall to keep (an untrained model).
    kept = np.where(others_before > 0, np.asarray(sweep.other_recall, dtype=np.float64)
                    / np.where(others_before > 0, others_before, 1.0), np.nan)
    names = list(class_names) if class_names is not None else [str(c) for c in range(len(kept))]
    return {
        "class_names": names,
        "num_masked": [int(n) for n in sweep.num_masked],
        "recall_before": baseline.tolist(),
        "recall_after": [float(r) for r in sweep.masked_recall],
        "others_kept": kept.tolist(),
        "max_recall_after": float(np.nanmax(sweep.masked_recall)),
        "min_others_kept": float(np.nanmin(kept)),
    }


def summary_line(summary: dict, threshold: float = 0.5) -> str:
    """One line: the effect of masking one class's filters, and the worst case over classes."""
    c = int(np.nanargmax(summary["recall_before"]))
    return (f"masking the {summary['num_masked'][c]} filters of class "
            f"{summary['class_names'][c]!r} (G > {threshold}): its recall "
            f"{summary['recall_before'][c]:.2f} -> {summary['recall_after'][c]:.2f}, other "
            f"classes keep {percent(summary['others_kept'][c], 0)} of their recall; over all "
            f"classes: masked recall <= {summary['max_recall_after']:.2f}, others keep >= "
            f"{percent(summary['min_others_kept'], 0)}")
