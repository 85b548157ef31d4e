"""Validation of image/label arrays and :class:`ImageSplits`, the in-memory data set container.

Every loader of :mod:`lsg_tf.data` returns uint8 numpy arrays wrapped in an :class:`ImageSplits`;
:func:`validate_arrays` is the one check (shape, channels, dtype, labels) all arrays pass.
Needs numpy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["ImageSplits", "validate_arrays"]


def validate_arrays(
    x: np.ndarray, y: np.ndarray, num_classes: int | None, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Checks an image/label pair and returns it in canonical form.

    Args:
        x: uint8 images, shape [N, H, W, C] with C in {1, 3}, or [N, H, W] (gray; a channel axis
            is added).
        y: integer labels, shape [N].
        num_classes: if given, labels must lie in [0, num_classes); otherwise they must be >= 0.
        what: name of the arrays used in error messages (e.g. "train split of cifar10").

    Returns:
        (x, y): x uint8 [N, H, W, C] (a view of the input when possible), y int32 [N].

    Raises:
        ValueError: on a wrong rank, channel count, dtype, length mismatch, empty arrays or labels
            outside the allowed range.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise ValueError(
            f"{what}: images must have shape [N, H, W, C] or [N, H, W], got shape {x.shape}"
        )
    if x.shape[-1] not in (1, 3):
        raise ValueError(
            f"{what}: images must have 1 or 3 channels, got {x.shape[-1]} (shape {x.shape})"
        )
    if x.dtype != np.uint8:
        raise ValueError(f"{what}: images must be uint8 in [0, 255], got dtype {x.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{what}: labels must have shape [N], got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} images but {len(y)} labels; lengths must be equal")
    if len(x) == 0:
        raise ValueError(f"{what}: no examples (empty split)")
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{what}: images must have positive height and width, got {x.shape}")
    low, high = int(y.min()), int(y.max())
    if num_classes is not None:
        if num_classes < 1:
            raise ValueError(f"{what}: num_classes must be >= 1, got {num_classes}")
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"{what}: label {bad} is outside [0, {num_classes}) for {num_classes} classes"
            )
    elif low < 0 or high > np.iinfo(np.int32).max:
        bad = low if low < 0 else high
        raise ValueError(f"{what}: label {bad} is outside [0, 2**31 - 1]")
    return x, y.astype(np.int32, copy=False)


@dataclasses.dataclass(frozen=True, eq=False)
class ImageSplits:
    """A labelled image classification data set held in memory.

    Arrays are validated and canonicalised on construction (gray [N, H, W] images get a channel
    axis, labels become int32). ``eq=False`` keeps identity comparison: element-wise array
    comparison has no single truth value.

    Attributes:
        name: data set name, e.g. "fashion_mnist" or "cifar10".
        x_train: uint8 [N_train, H, W, C], C in {1, 3}.
        y_train: int32 [N_train], values in [0, num_classes).
        x_test: uint8 [N_test, H, W, C], same H, W, C as x_train.
        y_test: int32 [N_test], values in [0, num_classes).
        class_names: one name per class; label c is class_names[c].
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        class_names = tuple(str(c) for c in self.class_names)
        if not class_names:
            raise ValueError(f"data set {self.name!r}: class_names is empty; need >= 1 class")
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"data set {self.name!r}: duplicate class names in {class_names}")
        num_classes = len(class_names)
        x_train, y_train = validate_arrays(
            self.x_train, self.y_train, num_classes, f"train split of {self.name}"
        )
        x_test, y_test = validate_arrays(
            self.x_test, self.y_test, num_classes, f"test split of {self.name}"
        )
        if x_train.shape[1:] != x_test.shape[1:]:
            raise ValueError(
                f"data set {self.name!r}: train images are {x_train.shape[1:]} but test images "
                f"are {x_test.shape[1:]}; both splits must share one [H, W, C]"
            )
        object.__setattr__(self, "class_names", class_names)
        object.__setattr__(self, "x_train", x_train)
        object.__setattr__(self, "y_train", y_train)
        object.__setattr__(self, "x_test", x_test)
        object.__setattr__(self, "y_test", y_test)

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        h, w, c = self.x_train.shape[1:]
        return int(h), int(w), int(c)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and (population) standard deviation of x_train in [0, 1] units.

        Computed exactly from per-channel 256-bin histograms, accumulated over chunks of images,
        so it needs no float copy of the data set.

        Returns:
            (mean, std): two lists of C floats.
        """
        num_channels = self.x_train.shape[-1]
        histograms = np.zeros((num_channels, 256), dtype=np.int64)
        chunk = 4096
        for start in range(0, len(self.x_train), chunk):
            pixels = self.x_train[start : start + chunk].reshape(-1, num_channels)
            for c in range(num_channels):
                histograms[c] += np.bincount(pixels[:, c], minlength=256)
        levels = np.arange(256, dtype=np.float64) / 255.0
        means, stds = [], []
        for c in range(num_channels):
            counts = histograms[c].astype(np.float64)
            total = counts.sum()
            mean = float((counts * levels).sum() / total)
            var = float((counts * (levels - mean) ** 2).sum() / total)
            means.append(mean)
            stds.append(float(np.sqrt(var)))
        return means, stds
