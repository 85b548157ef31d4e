"""Learning-rate schedules of the training recipe (warm-up, one-cycle).

The paper trains ResNet20 with SGD at 0.1 and a step decay over 150 epochs. At a short CPU
budget the first steps matter more: at G = 1 the joint cost doubles the backbone's gradient
(both paths see the same features), and the gate falls from density 1 to about 0.2 within the
first LSG epoch. A warm-up lets the network and the gate settle while the rate is small.

* :class:`LinearWarmup` wraps any schedule: a linear ramp from ``initial_learning_rate`` to
  the wrapped schedule's first value over ``warmup_steps``, then the wrapped schedule,
  shifted by ``warmup_steps``.
* :class:`OneCycle` is PyTorch's ``OneCycleLR`` learning rate with its defaults
  (``anneal_strategy="cos"``, ``div_factor=25``, ``final_div_factor=1e4``): a cosine ramp
  from ``peak / 25`` to ``peak`` over ``pct_start`` of the steps, then a cosine anneal to
  ``peak / 25e4``. (PyTorch also cycles the momentum; this schedule does not.)
"""

from __future__ import annotations

import math

import keras
from keras import ops

WARMUP_DIV_FACTOR = 25.0
"""The warm-up starts at ``peak / 25``, as PyTorch's ``OneCycleLR`` does."""


def _cosine_anneal(start, end, fraction):
    return end + (start - end) / 2.0 * (1.0 + ops.cos(math.pi * fraction))


@keras.saving.register_keras_serializable(package="lsg_tf")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``after(0)`` over ``warmup_steps``, then ``after(step - warmup_steps)``.

    Args:
        after: the schedule (or constant rate) that follows the warm-up.
        warmup_steps: number of warm-up steps, >= 1.
        initial_learning_rate: the rate at step 0.
    """

    def __init__(self, after, warmup_steps: int, initial_learning_rate: float):
        if int(warmup_steps) < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps!r}")
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.initial_learning_rate = float(initial_learning_rate)

    def _after(self, step):
        if isinstance(self.after, keras.optimizers.schedules.LearningRateSchedule):
            return ops.cast(self.after(step), "float32")
        return ops.cast(self.after, "float32")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self._after(ops.zeros_like(step))
        fraction = ops.minimum(step / self.warmup_steps, 1.0)
        ramp = self.initial_learning_rate + (peak - self.initial_learning_rate) * fraction
        later = self._after(ops.maximum(step - self.warmup_steps, 0.0))
        return ops.where(step < self.warmup_steps, ramp, later)

    def get_config(self):
        after = self.after
        if isinstance(after, keras.optimizers.schedules.LearningRateSchedule):
            after = keras.saving.serialize_keras_object(after)
        return {"after": after, "warmup_steps": self.warmup_steps,
                "initial_learning_rate": self.initial_learning_rate}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["after"], dict):
            config["after"] = keras.saving.deserialize_keras_object(config["after"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="lsg_tf")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """PyTorch's ``OneCycleLR`` learning rate (cosine up, cosine down).

    Args:
        peak: the maximum rate, reached after ``pct_start * total_steps`` steps.
        total_steps: length of training in steps.
        pct_start: fraction of the steps spent ramping up, in (0, 1).
        div_factor: the start rate is ``peak / div_factor``.
        final_div_factor: the final rate is ``peak / (div_factor * final_div_factor)``.
    """

    def __init__(self, peak: float, total_steps: int, pct_start: float = 0.15,
                 div_factor: float = WARMUP_DIV_FACTOR, final_div_factor: float = 1e4):
        if int(total_steps) < 2:
            raise ValueError(f"total_steps must be >= 2, got {total_steps!r}")
        if not 0 < pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start!r}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start = self.peak / self.div_factor
        final = start / self.final_div_factor
        # PyTorch's phase ends (in steps): the peak at pct_start * total - 1, the end at total - 1.
        up_end = max(self.pct_start * self.total_steps - 1.0, 1.0)
        down_end = self.total_steps - 1.0
        up = _cosine_anneal(start, self.peak, ops.minimum(step / up_end, 1.0))
        down_fraction = ops.clip((step - up_end) / (down_end - up_end), 0.0, 1.0)
        down = _cosine_anneal(self.peak, final, down_fraction)
        return ops.where(step <= up_end, up, down)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}
