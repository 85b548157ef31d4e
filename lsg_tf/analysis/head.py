"""The linear classifier on pooled features, outside the network.

Every analysis that changes what reaches the classifier (Φ's gate, masked filters) works on
the pooled features ``a = GAP(F)`` because the gate and the mask scale whole channels before
global average pooling: ``GAP(F ⊙ g) = GAP(F) ⊙ g`` (paper section 3.2). The backbone then
runs once and the classifier ``logits = a W + b`` is re-applied here.
"""

from __future__ import annotations

import numpy as np


def classifier_weights(model) -> tuple[np.ndarray, np.ndarray]:
    """The classifier of an :class:`~lsg_tf.core.model.LSGModel`.

    Returns:
        ``(kernel [K, C], bias [C])`` float32 numpy arrays.
    """
    kernel, bias = (np.asarray(w, dtype=np.float32) for w in model.classifier.get_weights())
    return kernel, bias


def check_head(features: np.ndarray, kernel: np.ndarray, bias: np.ndarray):
    """Validates and converts ``features [N, K]``, ``kernel [K, C]``, ``bias [C]`` to float32.

    Raises:
        ValueError: naming the array whose shape does not fit.
    """
    features = np.asarray(features, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must have shape [N, K], got shape {features.shape}")
    if kernel.ndim != 2 or kernel.shape[0] != features.shape[1]:
        raise ValueError(
            f"kernel must have shape [K, C] with K={features.shape[1]} (features' width), "
            f"got shape {kernel.shape}")
    if bias.shape != (kernel.shape[1],):
        raise ValueError(f"bias must have shape [C]=[{kernel.shape[1]}], got shape {bias.shape}")
    return features, kernel, bias


def check_labels(labels: np.ndarray, num_examples: int, num_classes: int) -> np.ndarray:
    """Validates integer labels ``[N]`` in ``[0, C)``; returns them as int64.

    Raises:
        ValueError: wrong length, non-integer values or a label outside ``[0, C)``.
    """
    labels = np.asarray(labels)
    if labels.shape != (num_examples,):
        raise ValueError(f"labels must have shape [N]=[{num_examples}], got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must be in [0, {num_classes}), got values in [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)


def logits(features: np.ndarray, kernel: np.ndarray, bias: np.ndarray,
           channel_scale: np.ndarray | None = None) -> np.ndarray:
    """``(a ⊙ scale) W + b``: logits ``[N, C]`` of pooled features ``a`` ``[N, K]``.

    Args:
        features: pooled features ``[N, K]``.
        kernel: ``[K, C]``; bias: ``[C]``.
        channel_scale: optional per-channel factors, ``[K]`` (a mask) or ``[N, K]`` (a gate
            row per image, ``G[y]``).
    """
    features, kernel, bias = check_head(features, kernel, bias)
    if channel_scale is not None:
        features = features * np.asarray(channel_scale, dtype=np.float32)
    return features @ kernel + bias
