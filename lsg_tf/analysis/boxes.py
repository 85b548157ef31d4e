"""Localization against one bounding box per image (paper section 4.4, appendix E, on boxes).

For data with one box and one class label per image (e.g. Tiny ImageNet), the box is the
ground-truth region ``S_x`` of appendix E, so the one-filter (E.1) and CAM (E.2) code of
:mod:`lsg_tf.analysis.localization` scores boxes unchanged:

* :func:`boxes_as_voc` encodes the arrays as a :class:`~lsg_tf.data.voc.VocData`. Mask
  classes are the model's classes at their own indices ``0..C-1`` plus :data:`BACKGROUND` at
  index ``C``; an image's mask is its label inside its box (:func:`box_mask`, inclusive
  corners) and ``C`` elsewhere. No pixel is void (``void_indices`` is ``(255,)``, which no
  mask holds). :func:`box_items` maps every class onto the model class of the same name
  (:func:`box_class_map`; background maps to nothing), which yields exactly one evaluation
  item per image, of its labelled class, in image order.
* :data:`CSG_VARIANT` is the class-specific-gate (CSG, ECCV 2020) protocol: segment at the
  top 30% and count success at ``IoU > 0.3``; it is
  :data:`~lsg_tf.analysis.localization.LATER_VARIANT`, to pass to ``localize``'s ``variants``.
* :func:`map_ious` / :func:`summarise_maps` score any per-item map (e.g. Grad-CAM,
  :mod:`lsg_tf.analysis.grad_cam`) by E.2's rule: upsampled, segmented at its own top fraction.
* :func:`pointing_game` (Zhang et al., ECCV 2016): a hit when the map's maximum lies in the box.

Every result keeps per-item values (IoUs, hits) in item order, the same items for LSG and STD,
for :func:`lsg_tf.reporting.stats.paired_bootstrap` (or ``localization_report.comparisons`` on
``localize``'s results). Example, ``maps = loc.feature_maps(model, data.images)``::

    data = boxes_as_voc(images, labels, boxes, class_names)
    items = box_items(data, class_names)
    (result,) = loc.localize(model, data, items, class_names, (CSG_VARIANT,), maps=maps)
    cams = item_cams(maps, model.classifier.kernel, items)
    hits = pointing_game(cams, boxes, images.shape[1:3]).hits
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.analysis import localization as loc
from lsg_tf.data.voc import VOID_INDEX, VocData

BACKGROUND = "background"
# (top_fraction, iou_threshold) of the CSG protocol: the top 30%, success IoU > 0.3.
CSG_VARIANT = loc.LATER_VARIANT
# The pointing-game tolerance of Zhang et al. (2016), in pixels; ours defaults to 0.
ZHANG_TOLERANCE = 15


# ------------------------------------------------------------------------------- boxes
def _check_box(box, height: int, width: int) -> tuple:
    """``(x0, y0, x1, y1)`` as ints, or a ValueError naming the box and the image size."""
    values = np.asarray(box)
    if values.shape != (4,) or values.dtype.kind not in "iuf" or np.any(values != np.round(values)):
        raise ValueError(f"box {box!r}: expected 4 integers (x0, y0, x1, y1), inclusive corners")
    x0, y0, x1, y1 = (int(v) for v in values)
    if x0 > x1 or y0 > y1:
        raise ValueError(f"box {(x0, y0, x1, y1)} (x0, y0, x1, y1) is inverted: needs x0 <= x1 "
                         f"and y0 <= y1 (image {height}x{width})")
    if x0 < 0 or y0 < 0 or x1 >= width or y1 >= height:
        raise ValueError(f"box {(x0, y0, x1, y1)} (x0, y0, x1, y1) is outside the {height}x"
                         f"{width} image: needs 0 <= x <= {width - 1} and 0 <= y <= {height - 1}")
    return x0, y0, x1, y1


def box_mask(box, height: int, width: int) -> np.ndarray:
    """Bool ``[height, width]``: True on the box ``(x0, y0, x1, y1)``, corners included.

    Raises:
        ValueError: a box that is not 4 integers, is inverted or leaves the image.
    """
    x0, y0, x1, y1 = _check_box(box, height, width)
    mask = np.zeros((height, width), bool)
    mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask


def boxes_as_voc(images, labels, boxes, class_names, ids=None) -> VocData:
    """Images with one labelled box each as :class:`VocData` (encoding: see the module doc).

    Args:
        images: uint8 ``[N, H, W, 3]`` (or a list of ``[H_i, W_i, 1 or 3]``).
        labels: ``[N]`` class indices into ``class_names``.
        boxes: ``[N, 4]`` ``(x0, y0, x1, y1)``, inclusive pixel corners.
        class_names: the ``C`` class names (index = label), unique, at most 254.
        ids: ``N`` image names (default ``"0"``, ``"1"``, ...).

    Raises:
        ValueError: mismatched lengths, a label outside ``[0, C)``, a bad box, or class names
            that are repeated, include ``"background"`` or are too many for uint8 masks.
    """
    names = [str(n) for n in class_names]
    if len(set(names)) != len(names) or BACKGROUND in names:
        raise ValueError(f"class_names must be unique and not {BACKGROUND!r}, got {names}")
    if not 1 <= len(names) < VOID_INDEX:
        raise ValueError(f"class_names: {len(names)} classes; boxes_as_voc needs 1 to "
                         f"{VOID_INDEX - 1} (uint8 masks, {VOID_INDEX} is void)")
    labels, boxes = np.asarray(labels), np.asarray(boxes)
    count = len(images)
    if labels.shape != (count,) or boxes.shape != (count, 4):
        raise ValueError(f"{count} images need labels [{count}] and boxes [{count}, 4], got "
                         f"shapes {labels.shape} and {boxes.shape}")
    bad = labels[(labels < 0) | (labels >= len(names)) | (labels != np.round(labels))]
    if bad.size:
        raise ValueError(f"labels: {bad.flat[0].item()!r} is not a class index in [0, "
                         f"{len(names)})")
    ids = [str(i) for i in range(count)] if ids is None else [str(i) for i in ids]
    if len(ids) != count:
        raise ValueError(f"ids has {len(ids)} names for {count} images")
    out_images, masks = [], []
    for i in range(count):
        image = np.asarray(images[i])
        if image.ndim != 3:
            raise ValueError(f"images[{i}]: expected [H, W, 1 or 3], got shape {image.shape}")
        try:
            inside = box_mask(boxes[i], *image.shape[:2])
        except ValueError as error:
            raise ValueError(f"image {ids[i]}: {error}") from None
        masks.append(np.where(inside, np.uint8(labels[i]), np.uint8(len(names))))
        out_images.append(image)
    return VocData(ids=ids, images=out_images, masks=masks, class_names=names + [BACKGROUND],
                   void_indices=(VOID_INDEX,))


def box_class_map(class_names) -> dict:
    """The identity class map ``{name: name}`` of the model classes (background: unmapped)."""
    return {str(n): str(n) for n in class_names if str(n) != BACKGROUND}


def box_items(data: VocData, model_class_names=None) -> list:
    """:func:`~lsg_tf.analysis.localization.evaluation_items` of :func:`boxes_as_voc` data.

    Exactly one item per image, in image order, of the image's labelled class; its target is
    the box. ``model_class_names`` defaults to the data's classes without background.

    Raises:
        ValueError: data not from :func:`boxes_as_voc`, or a class missing from the model's.
    """
    if not data.class_names or data.class_names[-1] != BACKGROUND:
        raise ValueError(f"box_items needs boxes_as_voc data (last class {BACKGROUND!r}), got "
                         f"classes {data.class_names}")
    classes = data.class_names[:-1]
    model_class_names = classes if model_class_names is None else list(model_class_names)
    items = loc.evaluation_items(data, model_class_names, box_class_map(classes))
    if [item.image for item in items] != list(range(len(data.masks))):
        raise ValueError("box_items: every image needs exactly one box of a model class")
    return items


# --------------------------------------------------------------------- per-item maps
def item_cams(maps: np.ndarray, kernel, items) -> np.ndarray:
    """Each item's CAM ``sum_k W[k, c] F_k`` of its class (E.2), ``[num_items, h, w]``."""
    kernel = np.asarray(kernel)
    return np.stack([loc.class_activation_map(maps[item.image], kernel, item.model_class)
                     for item in items])


def _upsampled(item_map, size) -> np.ndarray:
    """One ``[h, w]`` map upsampled to ``size`` as localization does (bilinear)."""
    return loc.upsample(np.asarray(item_map, np.float32)[..., None], size)[..., 0]


def map_ious(item_maps, items, top_fraction: float) -> np.ndarray:
    """``IoU_x`` of per-item maps ``[h, w]``, each upsampled to its mask and segmented at its
    own top ``top_fraction`` (E.2's rule, as ``cam_ious`` does for CAMs). A constant map
    segments the whole image."""
    if len(item_maps) != len(items):
        raise ValueError(f"{len(item_maps)} maps for {len(items)} items; need one per item")
    out = np.empty(len(items), np.float64)
    for n, (item_map, item) in enumerate(zip(item_maps, items)):
        up = _upsampled(item_map, item.target.shape)
        out[n] = loc.iou(up >= loc.top_threshold(up, top_fraction), item.target, item.valid)
    return out


def summarise_maps(item_maps, items, model_class_names, variant=CSG_VARIANT):
    """:func:`map_ious` summarised like CAMs (E.2): a CamResult with per-item IoUs.

    Args:
        item_maps: one ``[h, w]`` map per item (e.g. :func:`~lsg_tf.analysis.grad_cam.grad_cam`
            of the items' images and classes).
        items: from :func:`box_items` (or ``evaluation_items``).
        model_class_names: the model's class names.
        variant: ``(top_fraction, iou_threshold)``, default :data:`CSG_VARIANT`.
    """
    top_fraction, iou_threshold = variant
    classes, names = loc.evaluated_classes(items, model_class_names)
    return loc.summarise_cam(map_ious(item_maps, items, top_fraction),
                             [item.model_class for item in items], classes, names,
                             iou_threshold)


# ---------------------------------------------------------------------- pointing game
@dataclasses.dataclass
class PointingResult:
    """Pointing game per item: ``hits`` bool ``[N]``, ``points`` int ``[N, 2]`` (y, x) of the
    map's maximum in image pixels; ``tolerance`` in pixels."""

    hits: np.ndarray
    points: np.ndarray
    tolerance: float

    @property
    def accuracy(self) -> float:
        """Fraction of hits (Zhang et al. 2016's pointing accuracy)."""
        return float(np.mean(self.hits))


def pointing_game(item_maps, boxes, image_size, tolerance: float = 0.0) -> PointingResult:
    """The pointing game of Zhang et al. (ECCV 2016, "Top-down neural attention by
    excitation backprop") against one box per item.

    Each map is upsampled bilinearly to its image size (as localization does); its maximum is
    the first maximal pixel in row-major order (``np.argmax``; ties go to the top-most, then
    left-most pixel, so a constant map points at (0, 0)). A hit when that pixel lies within
    ``tolerance`` pixels (Euclidean) of a box pixel; Zhang et al. use
    :data:`ZHANG_TOLERANCE` = 15.

    Args:
        item_maps: one ``[h, w]`` map per item, e.g. :func:`item_cams` or Grad-CAM, at
            feature-map resolution or already at the image size (then used as it is).
        boxes: ``[N, 4]`` ``(x0, y0, x1, y1)``, inclusive, in image pixels.
        image_size: ``(H, W)`` of every image, or ``N`` such pairs.
        tolerance: pixels, >= 0.

    Raises:
        ValueError: mismatched lengths, a bad box, a non-finite map or a negative tolerance.
    """
    count = len(item_maps)
    boxes = np.asarray(boxes)
    if boxes.shape != (count, 4):
        raise ValueError(f"{count} maps need boxes [{count}, 4], got shape {boxes.shape}")
    sizes = np.asarray(image_size, np.int64)
    sizes = np.broadcast_to(sizes, (count, 2)) if sizes.shape == (2,) else sizes
    if sizes.shape != (count, 2):
        raise ValueError(f"image_size must be (H, W) or {count} such pairs, got "
                         f"{np.shape(image_size)}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance!r}")
    hits, points = np.zeros(count, bool), np.zeros((count, 2), np.int64)
    for n in range(count):
        height, width = (int(v) for v in sizes[n])
        try:
            x0, y0, x1, y1 = _check_box(boxes[n], height, width)
        except ValueError as error:
            raise ValueError(f"boxes[{n}]: {error}") from None
        up = _upsampled(item_maps[n], (height, width))
        if not np.all(np.isfinite(up)):
            raise ValueError(f"item_maps[{n}] has non-finite values")
        y, x = np.unravel_index(np.argmax(up), up.shape)
        dx, dy = max(x0 - x, 0, x - x1), max(y0 - y, 0, y - y1)
        points[n] = y, x
        hits[n] = dx * dx + dy * dy <= tolerance * tolerance
    return PointingResult(hits=hits, points=points, tolerance=float(tolerance))
