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
from lsg_tf.reporting.formatting import fmt, is_missing


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


# The masking line means something only for a model clearly better than chance: its mean
# recall before masking at least weak_recall_floor(C), and the class the line shows (the best
# recalled) at least this before its filters are masked (else there is no recall to collapse).
WEAK_CLASS_RECALL = 0.5


def weak_recall_floor(num_classes: int) -> float:
    """The mean recall below which a model is too weak for masking to mean anything: twice
    chance (2/C), or halfway from chance to perfect when that is lower (C < 4)."""
    return min(2 / num_classes, (1 + 1 / num_classes) / 2)


def sweep_summary(sweep: MaskingSweep, class_names=None) -> dict:
    """Plain numbers of a :class:`MaskingSweep` for ``metrics.json`` and a one-line print.

    ``others_recall_before[c]`` / ``others_recall_after[c]``: the other classes' mean recall
    without masking / with c's filters masked; ``max_others_drop``: its largest fall over c;
    ``too_weak``: the model is too weak for the masking result to mean anything (mean recall
    before masking, ``mean_recall_before``, below :func:`weak_recall_floor`, or the best
    recalled class, the one :func:`summary_line` shows, below :data:`WEAK_CLASS_RECALL`).
    ``others_kept[c]``, after / before (kept for older readers), exceeds 1 when masking
    helps the other classes, as it does in a near-chance model.
    """
    baseline = np.asarray(sweep.baseline_recall, dtype=np.float64)
    fields = _others(baseline, np.asarray(sweep.other_recall, dtype=np.float64))
    before = np.asarray(fields["others_recall_before"])
    # Undefined (NaN) where the other classes had no recall to keep (an untrained model).
    kept = np.where(before > 0, np.asarray(fields["others_recall_after"])
                    / np.where(before > 0, before, 1.0), np.nan)
    names = list(class_names) if class_names is not None else [str(c) for c in range(len(kept))]
    return {
        "class_names": names,
        "num_masked": [int(n) for n in sweep.num_masked],
        "recall_before": baseline.tolist(),
        "recall_after": [float(r) for r in sweep.masked_recall],
        "others_kept": kept.tolist(),
        "max_recall_after": float(np.nanmax(sweep.masked_recall)),
        "min_others_kept": float(np.nanmin(kept)),
        **fields,
    }


def _others(baseline: np.ndarray, after: np.ndarray) -> dict:
    """The fields of :func:`sweep_summary` from the recall before masking and the other
    classes' recall after masking each class."""
    before = np.array([_nanmean(np.delete(baseline, c)) for c in range(len(baseline))])
    drops = before - after
    mean = _nanmean(baseline)
    best = float(np.nanmax(baseline)) if np.isfinite(baseline).any() else float("nan")
    return {
        "others_recall_before": before.tolist(),
        "others_recall_after": after.tolist(),
        "max_others_drop": float(np.nanmax(drops)) if np.isfinite(drops).any() else float("nan"),
        "mean_recall_before": mean,
        "too_weak": bool(not mean >= weak_recall_floor(len(baseline))
                         or not best >= WEAK_CLASS_RECALL),
    }


def _completed(summary: dict) -> dict:
    """``summary`` with the fields older ``metrics.json`` files lack (from ``others_kept``)."""
    if "others_recall_after" in summary:
        return summary
    baseline = np.asarray(summary["recall_before"], dtype=np.float64)
    before = np.array([_nanmean(np.delete(baseline, c)) for c in range(len(baseline))])
    after = np.asarray(summary["others_kept"], dtype=np.float64) * before
    return {**summary, **_others(baseline, after)}


def summary_line(summary: dict, threshold: float = 0.5) -> str:
    """One line: the effect of masking the best recalled class's filters (its recall and the
    other classes' recall, before -> after), the worst case over classes, and a warning when
    the model is too weak for it to mean anything (:func:`sweep_summary`)."""
    summary = _completed(summary)
    c = int(np.nanargmax(summary["recall_before"]))
    name, drop = summary["class_names"][c], summary["max_others_drop"]
    line = (f"masking the {summary['num_masked'][c]} filters of class {name!r} (G > {threshold}): "
            f"its recall {fmt(summary['recall_before'][c], 2)} -> "
            f"{fmt(summary['recall_after'][c], 2)}, the other classes' recall "
            f"{fmt(summary['others_recall_before'][c], 2)} -> "
            f"{fmt(summary['others_recall_after'][c], 2)}; over all classes: masked recall <= "
            f"{fmt(summary['max_recall_after'], 2)}, the others' recall falls by <= "
            f"{fmt(drop if is_missing(drop) else max(drop, 0.0), 2)}")
    if summary["too_weak"]:
        classes = len(summary["recall_before"])
        floor, mean = weak_recall_floor(classes), summary["mean_recall_before"]
        why = (f"mean recall {fmt(mean, 3)} < {floor:.3f}, chance {1 / classes:.3f}"
               if not mean >= floor else
               f"class {name!r} recall {fmt(summary['recall_before'][c], 2)} < "
               f"{WEAK_CLASS_RECALL:.2f} before masking")
        line += f"; not meaningful: the model is too weak ({why})"
    return line
