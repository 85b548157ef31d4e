"""Feature extraction shared by the analyses and the detectors.

* :func:`pooled_features`: the GAP output ``a`` of the last conv layer (paper section 4.2),
  the input of Φ, MIS, masking, similarity and cluster analyses.
* :func:`last_conv_maps`: the last conv feature maps themselves (localization, section 4.4).
* :func:`conv_layer_features`: the GAP output of *every* conv layer, concatenated, in one
  multi-output forward pass per batch (the adversarial detector of section 4.5).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _batches(images: np.ndarray, batch_size: int, progress: str | None):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    starts = range(0, len(images), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
    for start in starts:
        yield images[start:start + batch_size]


def as_unit_images(images: np.ndarray) -> np.ndarray:
    """uint8 0-255 or float [0, 1] images ``[N, H, W, C]`` -> float32 in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape [N, H, W, C], got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32, copy=False)


def pooled_features_and_logits(model, images: np.ndarray, batch_size: int = 256,
                               progress: str | None = None, step=None):
    """GAP features ``[N, K]`` and STD-path logits ``[N, C]`` of an LSGModel, batched.

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel`.
        images: uint8 (0-255) or float (0-1) ``[N, H, W, C]``.
        progress: a progress-bar label, or None for no bar.
        step: a :func:`pooled_feature_step` of ``model`` to reuse (default: a new one).
    """
    images = as_unit_images(images)
    step = step or pooled_feature_step(model)
    features, logits = [], []
    for batch in _batches(images, batch_size, progress):
        a, z = step(ops.convert_to_tensor(batch))
        features.append(ops.convert_to_numpy(a))
        logits.append(ops.convert_to_numpy(z))
    k, c = model.num_filters, model.num_classes
    return (np.concatenate(features) if features else np.zeros((0, k), np.float32),
            np.concatenate(logits) if logits else np.zeros((0, c), np.float32))


def pooled_features(model, images: np.ndarray, batch_size: int = 256,
                    progress: str | None = None, step=None) -> np.ndarray:
    """GAP output ``a`` of the last conv layer, ``[N, K]`` float32."""
    return pooled_features_and_logits(model, images, batch_size, progress, step)[0]


def last_conv_maps(model, images: np.ndarray, batch_size: int = 256,
                   progress: str | None = None) -> np.ndarray:
    """The last conv feature maps ``F``, ``[N, h, w, K]`` float32 (localization, CAM)."""
    images = as_unit_images(images)
    chunks = [ops.convert_to_numpy(model.feature_maps(ops.convert_to_tensor(b), training=False))
              for b in _batches(images, batch_size, progress)]
    if not chunks:
        return np.zeros((0,) + tuple(model.backbone.output_shape[1:]), np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def pooled_feature_step(model):
    """A compiled ``batch -> (GAP features, logits)``: build it once for many image sets."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(batch):
        pooled = model.pooled_features(batch, training=False)
        return pooled, model.classifier(pooled)

    return step


_CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def conv_layers(model) -> list:
    """Every convolution layer of ``model``'s backbone, in graph order."""
    layers = [layer for layer in model.backbone._flatten_layers(include_self=False)
              if isinstance(layer, _CONV_TYPES)]
    if not layers:
        raise ValueError(f"backbone {model.backbone.name!r} has no convolution layer")
    return layers


def last_kernel_layer(model):
    """The backbone's last convolution or Dense layer in graph order, or None if it has none.

    A Dense layer there acts on tokens or pixels (a ViT's last MLP projection, ConvNeXt's
    pointwise layers): a 1x1 convolution in all but name. Attention projections
    (``EinsumDense``) are not Dense layers.
    """
    layers = [layer for layer in model.backbone._flatten_layers(include_self=False)
              if isinstance(layer, (*_CONV_TYPES, keras.layers.Dense))]
    return layers[-1] if layers else None


def conv_layer_feature_step(model):
    """A compiled ``batch [B, H, W, C] in [0, 1] -> [B, sum_l K_l]`` GAP of every conv layer:
    build it once and reuse it for many image sets (one trace, not one per call)."""
    import tensorflow as tf

    outputs = [layer.output for layer in conv_layers(model)]
    probe = keras.Model(model.backbone.inputs, outputs)

    @tf.function(reduce_retracing=True)
    def step(batch):
        maps = probe(model.normalise(batch), training=False)
        maps = maps if isinstance(maps, (list, tuple)) else [maps]
        return tf.concat([tf.reduce_mean(m, axis=[1, 2]) for m in maps], axis=1)

    step.width = sum(int(o.shape[-1]) for o in outputs)
    return step


def conv_layer_features(model, images: np.ndarray, batch_size: int = 256,
                        progress: str | None = None, step=None) -> np.ndarray:
    """GAP of every conv layer's output, concatenated: ``[N, sum_l K_l]`` float32.

    One forward pass per batch through a multi-output view of the backbone; ``step`` is a
    :func:`conv_layer_feature_step` of ``model`` to reuse (default: a new one).
    """
    images = as_unit_images(images)
    step = step or conv_layer_feature_step(model)
    chunks = [ops.convert_to_numpy(step(ops.convert_to_tensor(b)))
              for b in _batches(images, batch_size, progress)]
    return np.concatenate(chunks) if chunks else np.zeros((0, step.width), np.float32)
