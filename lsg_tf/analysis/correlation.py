"""Correlation between filters (paper section 4.3, Fig. 7, Table 2).

* :func:`last_filters`: the weights of the last convolution of the backbone, one row
  per filter. In ResNet20 that convolution's output is added to the block's shortcut before
  the final ReLU, so the pooled feature k is not that filter's output alone; the paper
  analyses the same layer. A token model's counterpart (the ViT backbone) is its last
  Dense layer, the last block's MLP output projection: column k of its kernel writes
  channel k of the map (through the residual sum and the final LayerNorm). A backbone whose
  last such layer does not write the K feature channels (or that has none) raises
  :class:`NoFilterWeights`: its filter correlation and C_IC are n/a, never 0.
* :func:`filter_correlation`: ``C[k, k'] = <w_k, w_k'> / (|w_k| |w_k'|)``, ``[K, K]``.
* :func:`redundancy_curve`: for each threshold t, the fraction of filter pairs (off-diagonal
  entries) with ``C[k, k'] > t`` (Fig. 7e).
* :func:`dominant_filters` and :func:`inter_class_correlation`: each class's ``m`` filters with
  the highest mean activation on its images (m = 6 for ResNet20, 25 for AlexNet), and

      C_IC = 1 / (C (C-1) m²) · Σ_c Σ_{c' ≠ c} Σ_{k ∈ A_c} Σ_{k' ∈ A_c'} C[k, k']  (Table 2)

  The paper calls ``C`` the correlation of filters without saying whether it is centred
  (Pearson: each filter minus its mean weight) or not (cosine of the raw weights), nor whether
  C_IC averages signed or absolute values. :data:`C_IC_VARIANTS` names the four readings and
  :func:`inter_class_correlation_variants` computes them side by side; ``cosine`` (signed,
  uncentred, the formula above read literally) is the one the verdicts use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lsg_tf.analysis import head


class NoFilterWeights(ValueError):
    """The backbone has no last kernel layer writing its feature channels: C_IC is n/a."""


def last_filters(model) -> np.ndarray:
    """The filters of the backbone's last kernel layer, one row per feature channel.

    A convolution's kernel ``[kh, kw, C_in, K]`` gives ``[K, kh*kw*C_in]`` (a separable one's
    pointwise kernel ``[1, 1, C_in, K]``); a Dense layer's kernel ``[D_in, K]`` (a ViT's last
    MLP projection) its columns, ``[K, D_in]``; float32.
    The layer is :func:`lsg_tf.core.features.last_kernel_layer`.

    Raises:
        NoFilterWeights: the backbone has no convolution or Dense layer, or its last one does
            not have the K outputs of the feature map.
    """
    from lsg_tf.core import features

    layer = features.last_kernel_layer(model)
    kernel = None
    if layer is not None:
        # A separable convolution's outputs are those of its pointwise (1x1) part.
        weight = layer.pointwise_kernel if hasattr(layer, "pointwise_kernel") else layer.kernel
        kernel = np.asarray(weight, dtype=np.float32)
    if kernel is None or kernel.shape[-1] != model.num_filters:
        found = "none" if layer is None else f"{layer.name!r} with {kernel.shape[-1]} outputs"
        raise NoFilterWeights(
            f"backbone {model.backbone.name!r} has no last convolution or Dense layer writing "
            f"its K={model.num_filters} feature channels (found {found}): filter correlation "
            "and C_IC are n/a")
    return kernel.reshape(-1, kernel.shape[-1]).T


C_IC_VARIANTS = {
    "cosine": "signed cosine of the raw weights (uncentred); the literal reading, used by verdicts",
    "abs_cosine": "absolute cosine of the raw weights: anti-aligned filters count as similar",
    "pearson": "signed Pearson correlation (each filter centred on its mean weight)",
    "abs_pearson": "absolute Pearson correlation",
}
"""The readings of the paper's C_IC, name -> definition (see the module docstring)."""


def filter_correlation(weights: np.ndarray, centred: bool = False) -> np.ndarray:
    """Inner products of normalised filter weights, ``[K, K]`` float64.

    Args:
        weights: ``[K, D]``, one flattened filter per row. An all-zero filter (pruned or
            dead) has correlation 0 with every filter, itself included.
        centred: subtract each filter's mean weight first (Pearson correlation); a constant
            filter then counts as all-zero.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"filter weights must have shape [K, D], got shape {weights.shape}")
    if centred:
        weights = weights - weights.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(weights, axis=1, keepdims=True)
    unit = np.divide(weights, norms, out=np.zeros_like(weights), where=norms > 0)
    return unit @ unit.T


def redundancy_curve(correlation: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Fraction of off-diagonal entries of ``correlation`` above each threshold, ``[T]``."""
    correlation = np.asarray(correlation, dtype=np.float64)
    if correlation.ndim != 2 or correlation.shape[0] != correlation.shape[1] \
            or correlation.shape[0] < 2:
        raise ValueError(f"correlation must be square [K, K] with K >= 2, "
                         f"got shape {correlation.shape}")
    off = correlation[~np.eye(len(correlation), dtype=bool)]
    return np.array([float(np.mean(off > t)) for t in thresholds])


def dominant_filters(features: np.ndarray, labels: np.ndarray, num_classes: int,
                     m: int) -> np.ndarray:
    """Each class's ``m`` filters with the highest mean pooled activation on its images.

    Args:
        features: pooled features ``[N, K]``; labels: int ``[N]``.
        num_classes: C; m: group size, ``1 <= m <= K``.

    Returns:
        int ``[C, m]``, row c = A_c, strongest first.

    Raises:
        ValueError: bad shapes, m outside ``[1, K]``, or a class without images.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must have shape [N, K], got shape {features.shape}")
    labels = head.check_labels(labels, len(features), num_classes)
    if int(m) != m or not 1 <= m <= features.shape[1]:
        raise ValueError(f"m must be an integer in [1, K={features.shape[1]}], got {m!r}")
    groups = np.zeros((num_classes, int(m)), np.int64)
    for c in range(num_classes):
        rows = labels == c
        if not rows.any():
            raise ValueError(f"class {c} has no images: its dominant filters are undefined")
        mean = features[rows].mean(axis=0)
        groups[c] = np.argsort(-mean, kind="stable")[:m]
    return groups


def inter_class_correlation(correlation: np.ndarray, groups: np.ndarray,
                            absolute: bool = False) -> float:
    """C_IC of Table 2: mean ``C[k, k']`` over k in A_c, k' in A_c', c != c'.

    Args:
        correlation: ``[K, K]`` filter correlation.
        groups: int ``[C, m]``, row c = A_c (:func:`dominant_filters`).
        absolute: average ``|C[k, k']|`` instead.
    """
    correlation = np.asarray(correlation, dtype=np.float64)
    if absolute:
        correlation = np.abs(correlation)
    groups = np.asarray(groups)
    if groups.ndim != 2 or groups.shape[0] < 2:
        raise ValueError(f"groups must have shape [C, m] with C >= 2, got shape {groups.shape}")
    if groups.min() < 0 or groups.max() >= len(correlation):
        raise ValueError(f"group filter indices must be in [0, K={len(correlation)})")
    num_classes, m = groups.shape
    total = 0.0
    for c in range(num_classes):
        for c2 in range(num_classes):
            if c != c2:
                total += correlation[np.ix_(groups[c], groups[c2])].sum()
    return float(total / (num_classes * (num_classes - 1) * m * m))


def inter_class_correlation_variants(weights: np.ndarray, groups: np.ndarray) -> dict:
    """C_IC under each reading of :data:`C_IC_VARIANTS`, ``{name: value}``.

    Args:
        weights: ``[K, D]`` filters (:func:`last_filters`); groups: int ``[C, m]``.
    """
    cosine = filter_correlation(weights)
    pearson = filter_correlation(weights, centred=True)
    return {
        "cosine": inter_class_correlation(cosine, groups),
        "abs_cosine": inter_class_correlation(cosine, groups, absolute=True),
        "pearson": inter_class_correlation(pearson, groups),
        "abs_pearson": inter_class_correlation(pearson, groups, absolute=True),
    }


def model_c_ic(model, features: np.ndarray, labels: np.ndarray, num_classes: int,
               m: int = 6) -> float:
    """Table 2's C_IC (the ``cosine`` reading) of a model's last filters, with each class's
    ``m`` dominant filters on ``features``; NaN (n/a) for a model without filter weights."""
    groups = dominant_filters(features, labels, num_classes, min(m, np.shape(features)[1]))
    try:
        return inter_class_correlation(filter_correlation(last_filters(model)), groups)
    except NoFilterWeights:
        return float("nan")


def filter_order(gate: np.ndarray) -> np.ndarray:
    """A filter permutation that groups filters by the class they serve, for display.

    Filters are sorted by the class of their largest gate value, then the most class-specific
    first (smallest column sum); filters open to every class (column sum >= C - 0.5) go last.
    """
    gate = np.asarray(gate, dtype=np.float64)
    if gate.ndim != 2:
        raise ValueError(f"gate must have shape [C, K], got shape {gate.shape}")
    owner = gate.argmax(axis=0)
    spread = gate.sum(axis=0)
    shared = spread >= gate.shape[0] - 0.5
    owner = np.where(shared, gate.shape[0], owner)
    return np.lexsort((spread, owner))
