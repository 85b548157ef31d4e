"""Scores of localization results: per-class and total Avg-IoU / AP (paper appendix E).

The result dataclasses of :func:`lsg_tf.analysis.localization.localize`, their summaries and
the one-filter totals recomputed under bootstrap weightings. They keep their per-item IoUs
(``item_iou``, ``item_class``, ``item_image``; left out of :func:`summary_dict`), so that
LSG − STD differences of the Table 3 totals can get a paired bootstrap interval over the
items: :func:`one_filter_totals` recomputes the one-filter totals (filter assignment included)
for resampled items. Pure numpy; :mod:`lsg_tf.analysis.localization` re-exports every name.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

PER_ITEM_FIELDS = ("item_iou", "item_class", "item_image")


def _per_item():
    """A per-item field: optional, not printed, not compared (arrays)."""
    return dataclasses.field(default=None, repr=False, compare=False)


@dataclasses.dataclass
class ClassScores:
    """Avg-IoU and AP of one class; ``count``: its items (CAM) or filters (one filter)."""

    name: str
    avg_iou: float
    ap: float
    count: int


@dataclasses.dataclass
class OneFilterResult:
    """E.1: per class (over the filters assigned to it; NaN without filters) and total."""

    per_class: list
    avg_iou: float
    ap: float
    filter_class: list  # model class index c* of each filter
    filter_iou: list  # IoU^k
    filter_ap: list  # AP^k
    filter_threshold: list = dataclasses.field(default_factory=list)  # t_k (dataset-wide)
    # Per item: IoU_x^k [num_items, K] and the item's model class (not in summary_dict).
    item_iou: np.ndarray | None = _per_item()
    item_class: list | None = _per_item()


@dataclasses.dataclass
class CamResult:
    """E.2: per class (over its items) and total (over all items)."""

    per_class: list
    avg_iou: float
    ap: float
    # Per item: IoU_x [num_items] and the item's model class (not in summary_dict).
    item_iou: np.ndarray | None = _per_item()
    item_class: list | None = _per_item()


@dataclasses.dataclass
class LocalizationResult:
    """Both localizations of one model at one (top fraction, IoU threshold) variant."""

    top_fraction: float
    iou_threshold: float
    num_images: int
    num_items: int
    one_filter: OneFilterResult
    cam: CamResult
    item_image: list | None = _per_item()  # image index of each item


def summary_dict(result: LocalizationResult) -> dict:
    """``dataclasses.asdict(result)`` without the per-item fields (the JSON report's form)."""
    doc = dataclasses.asdict(result)
    for part in (doc, doc["one_filter"], doc["cam"]):
        for key in PER_ITEM_FIELDS:
            part.pop(key, None)
    return doc


def summarise_one_filter(ious: np.ndarray, item_classes, classes, class_names,
                         iou_threshold: float) -> OneFilterResult:
    """Assigns filters to classes and averages (E.1).

    Args:
        ious: ``[num_items, K]`` ``IoU_x^k``.
        item_classes: ``[num_items]`` model class of each item.
        classes: the evaluated model class indices (each with >= 1 item), in report order.
        class_names: names of ``classes``.
        iou_threshold: success is ``IoU > iou_threshold``.
    """
    ious = np.asarray(ious, np.float64)
    item_classes = np.asarray(item_classes)
    iou_ck = np.stack([ious[item_classes == c].mean(axis=0) for c in classes])  # [C', K]
    ap_ck = np.stack([(ious[item_classes == c] > iou_threshold).mean(axis=0) for c in classes])
    best = np.argmax(ap_ck, axis=0)  # [K], first class on ties
    cols = np.arange(ious.shape[1])
    filter_iou, filter_ap = iou_ck[best, cols], ap_ck[best, cols]
    per_class = []
    for j, name in enumerate(class_names):
        mine = best == j
        per_class.append(ClassScores(
            name=name, count=int(mine.sum()),
            avg_iou=float(filter_iou[mine].mean()) if mine.any() else float("nan"),
            ap=float(filter_ap[mine].mean()) if mine.any() else float("nan")))
    return OneFilterResult(per_class=per_class, avg_iou=float(filter_iou.mean()),
                           ap=float(filter_ap.mean()),
                           filter_class=[int(classes[j]) for j in best],
                           filter_iou=filter_iou.tolist(), filter_ap=filter_ap.tolist(),
                           item_iou=ious, item_class=[int(c) for c in item_classes])


def one_filter_totals(ious: np.ndarray, item_classes, iou_threshold: float,
                      weights=None) -> tuple[float, float]:
    """Total one-filter Avg-IoU and AP (E.1, Table 3) of items counted ``weights`` times.

    With unit weights these are :func:`summarise_one_filter`'s ``avg_iou`` and ``ap`` (the
    same filter assignment; IoU equal up to rounding). For a bootstrap resample (``weights``:
    how often each item was drawn) the whole statistic is recomputed: per-class means over the
    drawn items, each filter reassigned to its highest-AP class among the classes drawn, then
    the mean over all filters. The total is a mean over filters, not over items, so it has no
    per-item form. :class:`OneFilterTotals` does the same for many weightings.

    Args:
        ious: ``[num_items, K]`` ``IoU_x^k``.
        item_classes: ``[num_items]`` model class of each item.
        iou_threshold: success is ``IoU > iou_threshold``.
        weights: ``[num_items]`` non-negative counts (None: all 1).
    """
    return OneFilterTotals(ious, item_classes, iou_threshold)(weights)


class OneFilterTotals:
    """:func:`one_filter_totals` of fixed items under many weightings (bootstrap resamples).

    The per-class item blocks are prepared once and each weighting's totals are cached, so
    the two bootstraps of a run (Avg-IoU, AP) with the same seed compute each resample once.
    """

    def __init__(self, ious: np.ndarray, item_classes, iou_threshold: float):
        ious = np.asarray(ious, np.float64)
        item_classes = np.asarray(item_classes)
        if ious.ndim != 2 or item_classes.shape != (ious.shape[0],):
            raise ValueError(f"one_filter_totals needs ious [N, K] and N item classes, got "
                             f"shapes {ious.shape} and {item_classes.shape}")
        self.num_items, self.num_filters = ious.shape
        # Per class (ascending): its items and their [IoU_x^k | IoU_x^k > threshold] rows.
        stacked = np.concatenate([ious, (ious > iou_threshold).astype(np.float64)], axis=1)
        self._members = [np.flatnonzero(item_classes == c) for c in np.unique(item_classes)]
        self._blocks = [np.ascontiguousarray(stacked[m]) for m in self._members]
        self._cache = {}

    def __call__(self, weights=None) -> tuple[float, float]:
        """``(avg_iou, ap)`` with item ``i`` counted ``weights[i]`` times (None: all 1)."""
        weights = (np.ones(self.num_items) if weights is None
                   else np.asarray(weights, np.float64))
        if weights.shape != (self.num_items,) or (weights < 0).any() or not weights.any():
            raise ValueError(f"weights must be {self.num_items} non-negative counts, not all 0")
        key = hashlib.blake2b(weights.tobytes(), digest_size=16).digest()
        if key not in self._cache:
            self._cache[key] = self._totals(weights)
        return self._cache[key]

    def _totals(self, weights):
        k = self.num_filters
        iou_ck = np.zeros((len(self._members), k))
        ap_ck = np.full((len(self._members), k), -np.inf)  # undrawn class: no filter
        for j, (members, block) in enumerate(zip(self._members, self._blocks)):
            w = weights[members]
            count = w.sum()
            if count > 0:
                sums = (w @ block) / count
                iou_ck[j], ap_ck[j] = sums[:k], sums[k:]
        best = np.argmax(ap_ck, axis=0)  # first class on ties, as in summarise_one_filter
        cols = np.arange(k)
        return float(iou_ck[best, cols].mean()), float(ap_ck[best, cols].mean())


def summarise_cam(ious: np.ndarray, item_classes, classes, class_names,
                  iou_threshold: float) -> CamResult:
    """Per-class and total Avg-IoU and AP of per-item CAM IoUs (E.2)."""
    ious = np.asarray(ious, np.float64)
    item_classes = np.asarray(item_classes)
    per_class = [ClassScores(name=name, avg_iou=float(ious[item_classes == c].mean()),
                             ap=float((ious[item_classes == c] > iou_threshold).mean()),
                             count=int((item_classes == c).sum()))
                 for c, name in zip(classes, class_names)]
    return CamResult(per_class=per_class, avg_iou=float(ious.mean()),
                     ap=float((ious > iou_threshold).mean()), item_iou=ious,
                     item_class=[int(c) for c in item_classes])
