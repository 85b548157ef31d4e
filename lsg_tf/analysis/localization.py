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
                       progress: str | None = None) -> np.ndarray:
    """Per-filter threshold of the top ``top_fraction`` over all upsampled pixels (E.1).

    Exact and streaming: bilinear values stay within each filter's low-resolution range, so a
    histogram of ``bins`` bins over that range locates the bin holding the threshold (pass 1),
    and the values in that bin alone are kept to select it exactly (pass 2). Memory: one
    upsampled image plus ``[K, bins]`` counts.

    Args:
        maps: ``[N, h, w, K]`` low-resolution maps, one per image.
        sizes: ``N`` output sizes ``(H_i, W_i)``.
        top_fraction: in (0, 1].
        bins: histogram bins.
        progress: tqdm description prefix (None: no bars).

    Returns:
        float32 ``[K]``: segment ``upsampled[..., k] >= t[k]``.
    """
    _check_fraction(top_fraction)
    num_filters = maps.shape[-1]
    low = maps.reshape(-1, num_filters).min(axis=0).astype(np.float64)
    high = maps.reshape(-1, num_filters).max(axis=0).astype(np.float64)
    width = np.where(high > low, (high - low) / bins, 1.0)

    def bin_of(values):  # [P, K] -> bin indices [P, K]
        return np.clip(((values - low) / width).astype(np.int64), 0, bins - 1)

    counts = np.zeros((num_filters, bins), np.int64)
    offsets = np.arange(num_filters) * bins
    for i in _bar(range(len(maps)), progress and f"{progress} (histogram)"):
        values = upsample(maps[i], sizes[i]).reshape(-1, num_filters)
        counts += np.bincount((bin_of(values) + offsets).ravel(),
                              minlength=num_filters * bins).reshape(num_filters, bins)
    total = int(counts[0].sum())
    k = max(1, math.ceil(top_fraction * total - 1e-9))  # pixels at or above the threshold
    from_top = np.cumsum(counts[:, ::-1], axis=1)
    hit = np.argmax(from_top >= k, axis=1)  # bins counted from the top
    edge_bin = bins - 1 - hit
    above = from_top[np.arange(num_filters), hit] - counts[np.arange(num_filters), edge_bin]
    rank = k - above  # rank of the threshold inside its bin, from the top
    kept = [[] for _ in range(num_filters)]
    for i in _bar(range(len(maps)), progress and f"{progress} (exact)"):
        values = upsample(maps[i], sizes[i]).reshape(-1, num_filters)
        in_edge = bin_of(values) == edge_bin
        for f in range(num_filters):
            kept[f].append(values[in_edge[:, f], f])
    thresholds = np.empty(num_filters, np.float32)
    for f in range(num_filters):
        candidates = np.sort(np.concatenate(kept[f]))[::-1]
        thresholds[f] = candidates[rank[f] - 1]
    return thresholds


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
