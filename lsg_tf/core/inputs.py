"""What LSGModel accepts as inputs: the first batch's checks and per-channel statistics."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def check_first_batch(x, y, num_classes: int) -> None:
    """Raises ValueError for images or labels that would train silently wrong.

    Looks at NumPy arrays / tensors given to ``fit`` directly, or at the first batch of a
    ``tf.data.Dataset`` of ``(images, labels[, weights])``.
    """
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            return
        for batch in x.take(1):
            x, y = batch[0], batch[1]
    if x is None or y is None or isinstance(x, (dict, list, tuple)):
        return
    images, labels = np.asarray(x), np.asarray(y)
    if images.dtype.kind == "f" and images.size and float(np.nanmax(images)) > 1.5:
        raise ValueError(
            f"images: float pixel values reach {float(np.nanmax(images)):.1f}; LSGModel expects "
            "floats in [0, 1] (or uint8 in 0-255): divide by 255 or pass uint8")
    if labels.dtype.kind == "f":
        bad = labels[labels != np.round(labels)]
        if bad.size:
            raise ValueError(f"labels: must be integer class indices, got {bad.flat[0].item()!r}")
    if labels.dtype.kind in "biuf" and labels.size:
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.size:
            value = bad.flat[0].item()
            value = int(value) if float(value).is_integer() else value
            raise ValueError(f"labels: {value!r} is outside [0, {num_classes}) "
                             f"(num_classes={num_classes})")


def channel_list(values, channels, default, name):
    if values is None:
        return [float(default)] * channels
    values = [float(v) for v in np.ravel(values)]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ValueError(f"{name} needs 1 or {channels} values (one per channel), got {values}")
    return values
