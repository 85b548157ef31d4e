"""Localization with resized feature maps: one filter and CAM (paper section 4.4, appendix E).

The evaluation data is a folder in the PASCAL-VOC layout (read by
:func:`lsg_tf.data.voc.read_voc_folder`, re-exported here): photos, per-pixel class-index masks
and the mask class names. Mask classes are mapped onto the model's classes
(:data:`CIFAR10_FROM_MSRC` by default); every (image, mapped class present in its mask) pair is
one evaluation item, scored against that class's binary mask with void pixels excluded.

* One filter (E.1): filter ``k``'s feature map, bilinearly upsampled to the mask size, is
  segmented at ``>= t_k``, where ``t_k`` is the value of filter ``k``'s top ``top_fraction``
  activations over all pixels of all evaluation images (each image once; one threshold per
  filter, computed exactly, see :func:`dataset_thresholds`). ``IoU_c^k`` and ``AP_c^k`` average
  over class ``c``'s items; filter ``k`` localizes ``c* = argmax_c AP_c^k`` (ties: the first
  class); a class's numbers average over its filters, the totals over all ``K`` filters.
* CAM (E.2): ``sum_k W[k, c] F_k`` for the item's class ``c``, upsampled, segmented at the top
  ``top_fraction`` of its own values (per image).

The paper uses the top 20% and success ``IoU > 0.15`` (AP15); the authors' later variant is
the top 30% and ``IoU > 0.3``: both are parameters.

The results and their summaries (:mod:`lsg_tf.analysis.localization_scores`, re-exported
here) keep their per-item IoUs (``item_iou``, ``item_class``, ``item_image``; left out of
:func:`summary_dict`), so that LSG − STD differences of the Table 3 totals can get a paired
bootstrap interval over the items: :func:`one_filter_totals` recomputes the one-filter totals
(filter assignment included) for resampled items.

Images of any size are resized (bilinear, antialiased) to the model's input size for the
forward pass and converted to its channel count (gray from RGB by ITU-R BT.601 luma
``0.299 R + 0.587 G + 0.114 B``; RGB from gray by repetition). Fig. 8 is drawn by
:func:`lsg_tf.analysis.figures.localization_figure` from :func:`segmentations`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

# The results and their summaries, re-exported: callers use ``loc.LocalizationResult`` etc.
from lsg_tf.analysis.localization_scores import (  # noqa: F401
    PER_ITEM_FIELDS,
    CamResult,
    ClassScores,
    LocalizationResult,
    OneFilterResult,
    OneFilterTotals,
    one_filter_totals,
    summarise_cam,
    summarise_one_filter,
    summary_dict,
)
from lsg_tf.core import features

# The VOC-layout reader, re-exported: callers use ``loc.read_voc_folder`` and ``loc.VocData``.
from lsg_tf.data.voc import (  # noqa: F401
    VOID_INDEX,
    VOID_NAMES,
    VocData,
    read_classes,
    read_voc_folder,
)

LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# Mask class (MSRC-v2 / PASCAL VOC spelling) -> CIFAR-10 class.
CIFAR10_FROM_MSRC = {
    "aeroplane": "airplane",
    "car": "automobile",
    "bird": "bird",
    "cat": "cat",
    "dog": "dog",
    "boat": "ship",
    "horse": "horse",
}

# (top_fraction, iou_threshold): the paper's (top 20%, AP15) and the authors' later variant.
PAPER_VARIANT = (0.2, 0.15)
LATER_VARIANT = (0.3, 0.3)


# ----------------------------------------------------------------------------------- items
@dataclasses.dataclass
class Item:
    """One evaluation item: an image and one mapped class present in its mask.

    Attributes:
        image: index into :attr:`VocData.images`.
        model_class: the model's class index ``c``.
        target: bool ``[H, W]``, the class's pixels.
        valid: bool ``[H, W]``, the non-void pixels.
    """

    image: int
    model_class: int
    target: np.ndarray
    valid: np.ndarray


def parse_class_map(entries) -> dict:
    """``["mask_name:model_name", ...]`` -> dict (raises ValueError naming a bad entry)."""
    mapping = {}
    for entry in entries:
        mask_name, sep, model_name = entry.partition(":")
        if not sep or not mask_name.strip() or not model_name.strip():
            raise ValueError(f"class map entry {entry!r}: expected 'mask_name:model_name'")
        mapping[mask_name.strip()] = model_name.strip()
    return mapping


def evaluation_items(data: VocData, model_class_names, class_map=None,
                     max_images: int | None = None) -> list:
    """The items: every image and every mapped class present in its mask.

    Args:
        data: from :func:`read_voc_folder`.
        model_class_names: the model's class names (index = class index).
        class_map: mask class name -> model class name (default :data:`CIFAR10_FROM_MSRC`).
        max_images: keep the items of the first this many images with a mapped class.

    Raises:
        ValueError: a mapped name missing from the mask classes or the model's classes, or
            no item at all.
    """
    class_map = CIFAR10_FROM_MSRC if class_map is None else class_map
    model_class_names = list(model_class_names)
    pairs = []
    for mask_name, model_name in class_map.items():
        if mask_name not in data.class_names:
            raise ValueError(f"class map: mask class {mask_name!r} not in classes.txt "
                             f"{data.class_names}")
        if model_name not in model_class_names:
            raise ValueError(f"class map: model class {model_name!r} not in the model's classes "
                             f"{model_class_names}")
        pairs.append((data.class_names.index(mask_name), model_class_names.index(model_name)))
    void = np.array(data.void_indices)
    items, images = [], 0
    for i, mask in enumerate(data.masks):
        if max_images is not None and images >= max_images:
            break
        valid = ~np.isin(mask, void)
        for mask_index, model_index in pairs:
            target = mask == mask_index
            if target.any():
                items.append(Item(image=i, model_class=model_index, target=target, valid=valid))
        images += bool(items) and items[-1].image == i
    if not items:
        raise ValueError(f"no image contains a mapped class {sorted(class_map)}")
    return items


# ---------------------------------------------------------------------------------- maps
def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``[H, W, 1 or 3]`` -> ``[H, W, channels]`` (gray from RGB by BT.601 luma)."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 3 and channels == 1:
        return (image.astype(np.float32) @ np.array(LUMA_WEIGHTS, np.float32))[..., None]
    if have == 1 and channels == 3:
        return np.repeat(image, 3, axis=-1)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels; "
                     "supported: 1 <-> 3")


def feature_maps(model, images, batch_size: int = 64, progress: str | None = None) -> np.ndarray:
    """Last conv feature maps of images of any size.

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel`.
        images: uint8 arrays ``[H_i, W_i, 1 or 3]``.
        batch_size: images per forward pass.
        progress: tqdm description (None: no bar).

    Returns:
        float32 ``[N, h, w, K]``.
    """
    import tensorflow as tf

    height, width, channels = model.backbone.input_shape[1:4]
    resized = np.stack([
        tf.image.resize(to_channels(im, channels).astype(np.float32) / 255.0, (height, width),
                        method="bilinear", antialias=True).numpy()
        for im in images])
    return features.last_conv_maps(model, resized, batch_size, progress)


def upsample(maps: np.ndarray, size) -> np.ndarray:
    """Bilinear upsampling ``[h, w, K]`` -> ``[H, W, K]`` (half-pixel centres)."""
    import tensorflow as tf

    if tuple(maps.shape[:2]) == tuple(size):
        return np.asarray(maps, np.float32)
    return tf.image.resize(np.asarray(maps, np.float32), tuple(size), method="bilinear").numpy()


def top_threshold(values: np.ndarray, top_fraction: float) -> float:
    """The ``ceil(top_fraction * n)``-th largest value: ``values >= t`` is the top fraction."""
    _check_fraction(top_fraction)
    values = np.ravel(values)
    k = max(1, math.ceil(top_fraction * values.size - 1e-9))
    return float(np.partition(values, values.size - k)[values.size - k])


def dataset_thresholds(maps: np.ndarray, sizes, top_fraction: float, bins: int = 4096,
                       progress: str | None = None, keep: int = 1 << 16) -> np.ndarray:
    """Per-filter threshold of the top ``top_fraction`` over all upsampled pixels (E.1).

    Exact and streaming: bilinear values stay within each filter's low-resolution range, so a
    histogram of ``bins`` bins over that range locates the bin holding the threshold (one
    pass); a filter with at most ``keep`` values in that bin keeps them and selects the
    threshold exactly (a second pass), any other narrows its range to the values of that bin
    and repeats (a ReLU map's many equal zeros end it: a range of one value is the
    threshold). Memory: one upsampled image, ``[K, bins]`` counts and at most ``keep`` values
    per filter, whatever N and K.

    Args:
        maps: ``[N, h, w, K]`` low-resolution maps, one per image.
        sizes: ``N`` output sizes ``(H_i, W_i)``.
        top_fraction: in (0, 1].
        bins: histogram bins.
        progress: tqdm description prefix (None: no bars).
        keep: most values per filter kept for the exact selection.

    Returns:
        float32 ``[K]``: segment ``upsampled[..., k] >= t[k]``.
    """
    _check_fraction(top_fraction)
    num_filters = maps.shape[-1]
    flat = maps.reshape(-1, num_filters)
    low = flat.min(axis=0).astype(np.float32)  # the closed value range searched, per filter
    high = flat.max(axis=0).astype(np.float32)
    total = sum(int(h) * int(w) for h, w in sizes)
    rank = np.full(num_filters, max(1, math.ceil(top_fraction * total - 1e-9)))  # from the top
    thresholds = np.full(num_filters, np.nan, np.float32)
    for level in itertools.count(1):
        thresholds = np.where(np.isnan(thresholds) & (low == high), low, thresholds)
        searching = np.isnan(thresholds)
        if not searching.any():
            return thresholds
        tag = progress and f"{progress} (pass {level})"
        search = _RangeSearch(low, high, bins, searching, whole_range=level == 1)
        counts = search.histogram(maps, sizes, _bar(range(len(maps)), tag and f"{tag} count"))
        edge, rank = search.edge_bins(counts, rank)
        collect = searching & (counts[np.arange(num_filters), edge] <= keep)
        values, low, high = search.edge_values(
            maps, sizes, edge, collect, _bar(range(len(maps)), tag and f"{tag} select"))
        for f in np.flatnonzero(collect):
            thresholds[f] = np.sort(values[f])[::-1][rank[f] - 1]


class _RangeSearch:
    """One level of :func:`dataset_thresholds`: ``bins`` bins over ``[low, high]`` per filter."""

    def __init__(self, low, high, bins, searching, whole_range=False):
        self.low, self.high, self.bins, self.searching = low, high, bins, searching
        self.whole_range = whole_range  # every value is inside [low, high]: no range test
        span = np.where(high > low, high.astype(np.float64) - low, 1.0)
        self.scale = (bins / span).astype(np.float32)

    def _bins_of(self, values):  # [P, K] -> bin indices, ``bins`` outside the range
        index = np.minimum(((values - self.low) * self.scale).astype(np.int32), self.bins - 1)
        np.maximum(index, 0, out=index)
        if self.whole_range and self.searching.all():
            return index
        inside = (values >= self.low) & (values <= self.high) & self.searching
        return np.where(inside, index, self.bins)

    def histogram(self, maps, sizes, indices):
        """``[K, bins + 1]`` counts of the upsampled values per bin (last: outside)."""
        num_filters, stride = maps.shape[-1], self.bins + 1
        counts = np.zeros((num_filters, stride), np.int64)
        offsets = np.arange(num_filters) * stride
        for i in indices:
            index = self._bins_of(upsample(maps[i], sizes[i]).reshape(-1, num_filters))
            counts += np.bincount((index + offsets).ravel(),
                                  minlength=num_filters * stride).reshape(num_filters, stride)
        return counts

    def edge_bins(self, counts, rank):
        """The bin holding each filter's ``rank``-th largest value, and its rank inside it."""
        inside = counts[:, :self.bins]
        from_top = np.cumsum(inside[:, ::-1], axis=1)
        hit = np.argmax(from_top >= rank[:, None], axis=1)
        edge = self.bins - 1 - hit
        rows = np.arange(len(rank))
        above = from_top[rows, hit] - inside[rows, edge]
        return edge, np.where(self.searching, rank - above, rank)

    def edge_values(self, maps, sizes, edge, collect, indices):
        """The edge bins' values of the ``collect`` filters (``{filter: array}``), and every
        filter's new range: its edge bin's smallest and largest value while searching."""
        num_filters = maps.shape[-1]
        kept = {int(f): [] for f in np.flatnonzero(collect)}
        low = np.full(num_filters, np.inf, np.float32)
        high = np.full(num_filters, -np.inf, np.float32)
        for i in indices:
            values = upsample(maps[i], sizes[i]).reshape(-1, num_filters)
            member = self._bins_of(values) == edge
            low = np.minimum(low, np.where(member, values, np.inf).min(axis=0))
            high = np.maximum(high, np.where(member, values, -np.inf).max(axis=0))
            rows, cols = np.nonzero(member & collect)
            for f, group in _grouped(cols, values[rows, cols]):
                kept[f].append(group)
        values = {f: np.concatenate(v) for f, v in kept.items()}
        return (values, np.where(self.searching, low, self.low),
                np.where(self.searching, high, self.high))


def _grouped(keys: np.ndarray, values: np.ndarray):
    """``(key, values of that key)`` for each distinct key."""
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else []
    ends = list(starts[1:]) + [keys.size]
    for start, end in zip(starts, ends):
        yield int(keys[start]), values[start:end]


def iou(segmentation: np.ndarray, target: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """IoU over the valid pixels.

    Args:
        segmentation: bool ``[H, W]`` or ``[H, W, K]``.
        target: bool ``[H, W]``.
        valid: bool ``[H, W]``.

    Returns:
        ``[]`` or ``[K]``: ``|S ∩ T| / |S ∪ T|`` on valid pixels (0 when the union is empty).
    """
    if segmentation.ndim == 3:
        target, valid = target[..., None], valid[..., None]
    axes = (0, 1)
    inter = np.sum(segmentation & target & valid, axis=axes)
    union = np.sum((segmentation | target) & valid, axis=axes)
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def one_filter_ious(maps: np.ndarray, items, thresholds: np.ndarray,
                    progress: str | None = None) -> np.ndarray:
    """``IoU_x^k`` of every item and filter: ``[num_items, K]`` (E.1)."""
    out = np.empty((len(items), maps.shape[-1]), np.float64)
    for n, item in enumerate(_bar(items, progress)):
        up = upsample(maps[item.image], item.target.shape)
        out[n] = iou(up >= thresholds, item.target, item.valid)
    return out


def class_activation_map(maps: np.ndarray, kernel: np.ndarray, model_class: int) -> np.ndarray:
    """CAM ``sum_k W[k, c] F_k``: ``[h, w, K]``, kernel ``[K, C]`` -> ``[h, w]``."""
    return np.asarray(maps, np.float32) @ np.asarray(kernel, np.float32)[:, model_class]


def cam_ious(maps: np.ndarray, kernel: np.ndarray, items, top_fraction: float,
             progress: str | None = None) -> np.ndarray:
    """``IoU_x`` of every item's CAM segmented at its own top ``top_fraction`` (E.2)."""
    out = np.empty(len(items), np.float64)
    for n, item in enumerate(_bar(items, progress)):
        cam = upsample(class_activation_map(maps[item.image], kernel, item.model_class)[..., None],
                       item.target.shape)[..., 0]
        out[n] = iou(cam >= top_threshold(cam, top_fraction), item.target, item.valid)
    return out


def item_accuracy(model, maps: np.ndarray, items) -> float:
    """Fraction of items whose labelled class is the model's top-1 class (STD path, GAP + W)."""
    logits = maps.mean(axis=(1, 2)) @ np.asarray(model.classifier.kernel) + np.asarray(
        model.classifier.bias)
    return float(np.mean([np.argmax(logits[item.image]) == item.model_class for item in items]))


# ------------------------------------------------------------------------------ evaluation
def evaluated_classes(items, model_class_names):
    """Model class indices present among the items (ascending) and their names."""
    classes = sorted({item.model_class for item in items})
    return classes, [str(model_class_names[c]) for c in classes]


def localize(model, data: VocData, items, model_class_names, variants=(PAPER_VARIANT,),
             maps: np.ndarray | None = None, progress: str | None = None,
             batch_size: int = 64) -> list:
    """Evaluates one-filter and CAM localization of ``model`` for each variant.

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel` (GAP + one linear layer after the features).
        data: from :func:`read_voc_folder`.
        items: from :func:`evaluation_items`.
        model_class_names: the model's class names.
        variants: ``(top_fraction, iou_threshold)`` pairs.
        maps: precomputed :func:`feature_maps` of ``data.images`` (else computed).
        progress: tqdm description prefix (None: no bars).
        batch_size: forward-pass batch size.

    Returns:
        one :class:`LocalizationResult` per variant.
    """
    if maps is None:
        maps = feature_maps(model, data.images, batch_size, progress and f"{progress} maps")
    kernel = np.asarray(model.classifier.kernel)
    used = sorted({item.image for item in items})
    sizes = [data.masks[i].shape for i in used]
    item_classes = [item.model_class for item in items]
    classes, names = evaluated_classes(items, model_class_names)
    results = []
    for top_fraction, iou_threshold in variants:
        _check_fraction(top_fraction)
        tag = progress and f"{progress} top {top_fraction:g}"
        thresholds = dataset_thresholds(maps[used], sizes, top_fraction, progress=tag)
        filter_ious = one_filter_ious(maps, items, thresholds, tag and f"{tag} one filter")
        item_cam = cam_ious(maps, kernel, items, top_fraction, tag and f"{tag} CAM")
        one_filter = summarise_one_filter(filter_ious, item_classes, classes, names,
                                          iou_threshold)
        one_filter.filter_threshold = thresholds.tolist()
        results.append(LocalizationResult(
            top_fraction=float(top_fraction), iou_threshold=float(iou_threshold),
            num_images=len(used), num_items=len(items),
            one_filter=one_filter,
            cam=summarise_cam(item_cam, item_classes, classes, names, iou_threshold),
            item_image=[item.image for item in items]))
    return results


# ------------------------------------------------------------------ figure (segmentations)
def segmentations(model, maps: np.ndarray, item: Item, filter_index: int,
                  filter_threshold: float, top_fraction: float):
    """Bool ``[H, W]`` masks of one item: the filter's segmentation and the CAM's."""
    size = item.target.shape
    one = upsample(maps[item.image][..., filter_index:filter_index + 1], size)[..., 0]
    cam = upsample(class_activation_map(maps[item.image], np.asarray(model.classifier.kernel),
                                        item.model_class)[..., None], size)[..., 0]
    return one >= filter_threshold, cam >= top_threshold(cam, top_fraction)


def _bar(iterable, progress):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=progress, leave=False)


def _check_fraction(top_fraction):
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction!r}")
