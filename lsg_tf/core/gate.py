"""The label-sensitive gate matrix G: constraint, sparsity term, density, tightening.

G has shape ``[num_classes, K]`` (K = filters of the last conv layer). Row ``G[y]``
multiplies the channels of an image of label ``y`` on the LSG path (paper section 3.2).
Constraints (Eq. 2): every column ``G^k`` has max 1 and entries in [0, 1].

This module is plain maths on ``keras.ops`` / numpy; it is reused by training, the
Φ metric, masking and export.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from lsg_tf.core.choices import SPARSITY_FORMS


@keras.saving.register_keras_serializable(package="lsg_tf")
class GateConstraint(keras.constraints.Constraint):
    """Projects G onto {G : max_c G[c, k] = 1, 0 <= G <= 1} (Algorithm 1, lines 7-8).

    Each column is divided by its maximum and clipped to [0, 1]. A column whose
    maximum is not positive (all zero or all negative, which a large gradient step
    can produce) carries no information about its filter; it is reset to all ones,
    the gate's initial "shared by every class" state, so the constraint
    ``||G^k||_inf = 1`` always holds.

    Args:
        epsilon: column maxima at or below this count as "not positive".
    """

    def __init__(self, epsilon: float = 1e-12):
        if not epsilon > 0:
            raise ValueError(f"GateConstraint epsilon must be > 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def __call__(self, w):
        col_max = ops.max(w, axis=0, keepdims=True)
        alive = col_max > self.epsilon
        scaled = w / ops.where(alive, col_max, ops.ones_like(col_max))
        projected = ops.clip(scaled, 0.0, 1.0)
        return ops.where(alive, projected, ops.ones_like(w))

    def get_config(self):
        return {"epsilon": self.epsilon}


def l1_norm(gate):
    """``||G||_1`` (entries are non-negative under the constraint, abs for safety)."""
    return ops.sum(ops.abs(gate))


def density(gate):
    """``||G||_1 / (C * K)``: 1 for an all-one gate, 1/C for one-hot columns.

    This is the paper's "L1 Norm" column of Table 1 (0.17 for the LSG ResNet20).
    """
    shape = ops.shape(gate)
    return l1_norm(gate) / ops.cast(shape[0] * shape[1], gate.dtype)


def default_density_target(num_classes: int) -> float:
    """``min(1, 1.5 / C)``: about 1.5 classes per filter (0.15 for C = 10)."""
    return min(1.0, 1.5 / num_classes)


TARGET_TOLERANCE = 0.2  # a trained gate may end this fraction of its target above it


def target_check(trained_density: float, density_target: float,
                 tolerance: float = TARGET_TOLERANCE) -> dict:
    """Whether a trained gate reached its target density (the sparsity term of Eq. 2).

    The term pulls ``||G||_1`` to ``s``; a gate that ends above ``(1 + tolerance) * target``
    had too few gated steps (or too low a rate) to get there, and its "class-specific"
    filters are not: such a run must say so.

    Returns:
        ``{"density", "target", "tolerance", "reached"}``.
    """
    if not 0 <= tolerance:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    limit = float(density_target) * (1.0 + tolerance)
    return {"density": float(trained_density), "target": float(density_target),
            "tolerance": float(tolerance), "reached": bool(trained_density <= limit + 1e-9)}


def adam_steps_needed(density_target: float, learning_rate: float) -> int:
    """Fewest Adam steps that can take the all-one start to ``density_target``.

    An Adam step moves an entry by about its learning rate at most (for a steady gradient),
    and the projection of Eq. 2 only raises entries (it divides by column maxima <= 1), so
    the mean entry falls by at most the rate per step and needs ``(1 - target) / rate``
    steps: a necessary bound, not a sufficient one.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    return math.ceil((1.0 - float(density_target)) / float(learning_rate) - 1e-9)


def too_few_steps_line(gated_steps: int, steps_needed: int) -> str:
    """One line for a schedule with fewer gated steps than :func:`adam_steps_needed`."""
    return (f"the schedule gives the gate {gated_steps} gated steps, fewer than the "
            f"{steps_needed} an Adam gate at this rate needs to reach its target from all "
            "ones; raise --gate_learning_rate, --epochs or the gated epochs")


def target_missed_line(check: dict) -> str:
    """One line for a gate that missed its target (empty when it reached it)."""
    if check["reached"]:
        return ""
    return (f"the trained gate's density {check['density']:.3f} is above its target "
            f"{check['target']:.3g} (by more than {check['tolerance']:.0%}): too few gated "
            "steps or too low a gate rate for this run; its filters are not class-specific "
            "yet (raise --gate_learning_rate, --epochs or, for the alternating scheme, the "
            "gated epochs)")


def target_norm(density_target: float, num_classes: int, num_filters: int) -> float:
    """The paper's target norm ``s = density_target * C * K`` (Eq. 2).

    Args:
        density_target: wanted ``||G||_1 / (C*K)``, in [1/C, 1]: 1/C means one
            class per filter, 1 means every filter shared by every class.

    Raises:
        ValueError: if ``density_target`` is outside [1/C, 1].
    """
    low = 1.0 / num_classes
    if not (low - 1e-9 <= density_target <= 1.0):
        raise ValueError(
            f"density_target must be in [1/C, 1] = [{low:.4g}, 1] for C={num_classes}, "
            f"got {density_target!r}"
        )
    return float(density_target) * num_classes * num_filters


def sparsity_penalty(gate, coefficient: float, target: float, form: str = "abs"):
    """The sparsity term of Eq. 2/3.

    ``form="abs"``: the paper's ``a * | ||G||_1 - s |``;
    ``form="hinge"``: ``a * max(0, ||G||_1 - s)`` (only penalises a gate denser
    than the target).

    Args:
        gate: G, ``[C, K]``.
        coefficient: ``a``, in the paper's raw units (``||G||_1`` is not normalised,
            so the per-entry gradient is ``a``).
        target: ``s`` in raw units, see :func:`target_norm`.
        form: "abs" or "hinge".
    """
    check_sparsity_form(form)
    excess = l1_norm(gate) - target
    if form == "abs":
        return coefficient * ops.abs(excess)
    return coefficient * ops.relu(excess)


def check_sparsity_form(form: str) -> None:
    if form not in SPARSITY_FORMS:
        raise ValueError(f"sparsity form must be one of {SPARSITY_FORMS}, got {form!r}")


def tighten_gate(gate: np.ndarray, threshold: float) -> np.ndarray:
    """Tightens G to {0, 1} (section 3.3).

    A column with exactly one entry ``>= threshold`` becomes one-hot at that entry
    (a class-specific filter); every other column becomes all-one (a shared filter).

    Args:
        gate: ``[C, K]`` array.
        threshold: h in (0, 1].

    Returns:
        float32 ``[C, K]`` array of zeros and ones.
    """
    gate = np.asarray(gate, dtype=np.float32)
    if gate.ndim != 2:
        raise ValueError(f"gate must have shape [C, K], got shape {gate.shape}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold h must be in (0, 1], got {threshold!r}")
    above = gate >= threshold
    specific = above.sum(axis=0) == 1
    tight = np.ones_like(gate)
    tight[:, specific] = above[:, specific].astype(np.float32)
    return tight


def class_specific_filters(gate: np.ndarray, threshold: float) -> np.ndarray:
    """Number of filters each class monopolises after tightening with h, ``[C]`` ints."""
    tight = tighten_gate(gate, threshold)
    specific = tight.sum(axis=0) == 1
    return tight[:, specific].sum(axis=1).astype(np.int64)


def fixed_gate_matrix(num_classes: int, per_class: int, shared: int) -> np.ndarray:
    """The manually fixed gate of appendix C.

    Class c monopolises filters ``[c*per_class, (c+1)*per_class)``; the last
    ``shared`` filters are shared by every class. For C=10, 6 per class and 4
    shared this is the paper's 10 x 64 matrix (Fig. 9).

    Returns:
        float32 ``[num_classes, num_classes * per_class + shared]``.
    """
    for name, value, low in (("num_classes", num_classes, 1), ("per_class", per_class, 1),
                             ("shared", shared, 0)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    k = num_classes * per_class + shared
    gate = np.zeros((num_classes, k), dtype=np.float32)
    for c in range(num_classes):
        gate[c, c * per_class:(c + 1) * per_class] = 1.0
    gate[:, num_classes * per_class:] = 1.0
    return gate


def parse_fixed_gate(spec: str, num_classes: int, num_filters: int) -> np.ndarray:
    """Builds a fixed gate from ``"PER_CLASS,SHARED"`` (e.g. "6,4") or a ``.npy`` path.

    Raises:
        ValueError: if the spec is malformed or the matrix is not ``[C, K]``.
    """
    if spec.endswith(".npy"):
        try:
            gate = np.load(spec, allow_pickle=False).astype(np.float32)
        except FileNotFoundError:
            raise ValueError(f"fixed gate file {spec!r} does not exist") from None
        except (OSError, ValueError) as err:
            raise ValueError(f"fixed gate file {spec!r} is not a NumPy .npy array file "
                             f"({str(err).splitlines()[0]})") from None
    else:
        parts = spec.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(
                f"fixed gate must be 'PER_CLASS,SHARED' (e.g. '6,4') or a .npy file, got {spec!r}"
            )
        gate = fixed_gate_matrix(num_classes, int(parts[0]), int(parts[1]))
    if gate.shape != (num_classes, num_filters):
        raise ValueError(
            f"fixed gate {spec!r} has shape {gate.shape}, the model needs "
            f"[num_classes, K] = [{num_classes}, {num_filters}]"
        )
    if gate.min() < 0 or gate.max() > 1 or not np.allclose(gate.max(axis=0), 1.0):
        raise ValueError(
            f"fixed gate {spec!r} must have entries in [0, 1] and max 1 in every column"
        )
    return gate
