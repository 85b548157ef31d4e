"""Φ, the filter-ambiguity metric of Eq. 2 (paper section 3.2).

    Φ(θ) = min_G  CE(y, ŷ_θ^G) + a·| ||G||_1 − s |   s.t. max_c G[c, k] = 1, G ∈ [0, 1]

with the network θ frozen. The gate scales channels before global average pooling, and
``GAP(F ⊙ g) = GAP(F) ⊙ g``, so the gated logits of an image are ``(a ⊙ G[y]) W + b`` on
its pooled features ``a``: the backbone runs once (:func:`lsg_tf.core.features.pooled_features`)
and G is optimised on the cached ``[N, K]`` features by projected gradient descent: Adam on
the full batch, then :class:`lsg_tf.core.gate.GateConstraint` (column max-normalise + clip, as in
Algorithm 1) after every step. The sparsity term is :func:`lsg_tf.core.gate.sparsity_penalty`.

Comparing models needs identical ``a``, ``s``, initial G, optimiser and step count; the
defaults here are the training defaults (``a = 0.01``, ``s = 0.15·C·K`` for C = 10).
A lower Φ means more class-specific filters.

Dynamics worth knowing: a gradient that is equal for every entry of a column (the sparsity
term's, on its own) is undone by the column max-normalisation, so from the all-ones start G
moves only where the cross-entropy's gradient differs between classes; once an entry falls
below its column's maximum the sparsity term pushes it down at the optimiser's pace. Adam's
per-entry step size makes that pace ``learning_rate`` per step whatever ``a`` is. ``history``
shows whether the budget sufficed.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from lsg_tf.analysis import head
from lsg_tf.core import gate as gate_lib


@dataclasses.dataclass
class PhiResult:
    """Φ and its minimiser.

    Attributes:
        phi: ``cross_entropy + sparsity`` at the best gate found.
        cross_entropy: mean gated cross-entropy (nats) at that gate.
        sparsity: ``a·| ||G||_1 − s |`` (or the hinge form) at that gate.
        density: ``||G||_1 / (C K)`` of that gate.
        gate: the minimising gate, ``[C, K]`` float32.
        coefficient, target, form: the ``a``, ``s`` (raw units) and sparsity form used.
        steps, learning_rate: the optimiser budget.
        history: the objective before each step, ``[steps]`` (for convergence checks).
        seconds: wall time of the optimisation (tracing included, feature pass excluded).
    """

    phi: float
    cross_entropy: float
    sparsity: float
    density: float
    gate: np.ndarray
    coefficient: float
    target: float
    form: str
    steps: int
    learning_rate: float
    history: np.ndarray
    seconds: float


def filter_ambiguity(features: np.ndarray, labels: np.ndarray, kernel: np.ndarray,
                     bias: np.ndarray, coefficient: float = 0.01,
                     density_target: float | None = None, form: str = "abs",
                     steps: int = 500, learning_rate: float = 0.1,
                     initial_gate: np.ndarray | None = None) -> PhiResult:
    """Computes Φ (Eq. 2) on cached pooled features.

    Args:
        features: pooled last-conv features ``a``, ``[N, K]``.
        labels: int ``[N]`` in ``[0, C)``.
        kernel: the classifier's kernel ``[K, C]``; bias: ``[C]``
            (:func:`lsg_tf.analysis.head.classifier_weights`).
        coefficient: ``a`` of Eq. 2, raw units (per-entry gradient of the sparsity term).
        density_target: ``s / (C K)``, in ``[1/C, 1]``; default
            :func:`lsg_tf.core.gate.default_density_target` (0.15 for C = 10).
        form: "abs" (the paper's) or "hinge", see :func:`lsg_tf.core.gate.sparsity_penalty`.
        steps: Adam steps (full batch), each followed by the gate projection.
        learning_rate: Adam's learning rate.
        initial_gate: ``[C, K]`` start point, projected first; default all ones
            (every filter open to every class, the training initialisation).

    Returns:
        A :class:`PhiResult`; the reported gate is the best of the visited gates
        (objective evaluated before every step and after the last one).

    Raises:
        ValueError: bad shapes, labels, ``steps < 1``, ``learning_rate <= 0``,
            ``coefficient < 0``, an unknown form or a density target outside ``[1/C, 1]``.
    """
    import keras
    import tensorflow as tf

    features, kernel, bias = head.check_head(features, kernel, bias)
    num_filters, num_classes = kernel.shape
    labels = head.check_labels(labels, len(features), num_classes)
    if not len(labels):
        raise ValueError("Φ needs at least one example, got N=0")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if coefficient < 0:
        raise ValueError(f"coefficient (a) must be >= 0, got {coefficient!r}")
    gate_lib.check_sparsity_form(form)
    if density_target is None:
        density_target = gate_lib.default_density_target(num_classes)
    target = gate_lib.target_norm(density_target, num_classes, num_filters)
    if initial_gate is None:
        initial_gate = np.ones((num_classes, num_filters), np.float32)
    initial_gate = np.asarray(initial_gate, dtype=np.float32)
    if initial_gate.shape != (num_classes, num_filters):
        raise ValueError(f"initial_gate must have shape [C, K]={[num_classes, num_filters]}, "
                         f"got shape {initial_gate.shape}")

    start = time.perf_counter()
    constraint = gate_lib.GateConstraint()
    gate = keras.Variable(constraint(initial_gate), name="phi_gate")
    # keras.Variable(...) silently ignores a `constraint` argument; the attribute is what
    # the optimizer applies after each update.
    gate.constraint = constraint
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([gate])
    best_gate = tf.Variable(gate.value)
    best_value = tf.Variable(np.inf, dtype=tf.float32)
    a = tf.constant(features)
    onehot = tf.one_hot(labels, num_classes, dtype=tf.float32)
    w, b = tf.constant(kernel), tf.constant(bias)
    y = tf.constant(labels)

    def objective(g):
        gated = (a * tf.matmul(onehot, g)) @ w + b
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, gated))
        return ce, gate_lib.sparsity_penalty(g, coefficient, target, form)

    def keep_if_best(value):
        better = value < best_value
        best_value.assign(tf.where(better, value, best_value))
        best_gate.assign(tf.where(better, gate.value, best_gate))

    @tf.function
    def optimise():
        history = tf.TensorArray(tf.float32, size=steps)
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                ce, sparsity = objective(gate)
                value = ce + sparsity
            keep_if_best(value)
            history = history.write(step, value)
            optimizer.apply(tape.gradient(value, [gate]), [gate])
        ce, sparsity = objective(gate)
        keep_if_best(ce + sparsity)
        return history.stack()

    history = optimise().numpy()
    best = best_gate.numpy()
    ce, sparsity = (float(t) for t in objective(tf.constant(best)))
    seconds = time.perf_counter() - start
    return PhiResult(
        phi=ce + sparsity, cross_entropy=ce, sparsity=sparsity,
        density=float(gate_lib.density(best)), gate=best, coefficient=float(coefficient),
        target=float(target), form=form, steps=int(steps), learning_rate=float(learning_rate),
        history=history, seconds=seconds)


def model_filter_ambiguity(model, images: np.ndarray, labels: np.ndarray,
                           batch_size: int = 256, progress: str | None = None,
                           **kwargs) -> PhiResult:
    """Φ of an :class:`~lsg_tf.core.model.LSGModel` on images: one pooled-feature pass
    (:func:`lsg_tf.core.features.pooled_features`), then :func:`filter_ambiguity`.

    Args:
        model: the network θ (frozen).
        images: uint8 (0-255) or float (0-1) ``[N, H, W, C]``; labels: int ``[N]``.
        batch_size, progress: of the feature pass.
        **kwargs: :func:`filter_ambiguity`'s options (coefficient, density_target, ...).
    """
    from lsg_tf.core import features

    pooled = features.pooled_features(model, images, batch_size, progress)
    kernel, bias = head.classifier_weights(model)
    return filter_ambiguity(pooled, labels, kernel, bias, **kwargs)
