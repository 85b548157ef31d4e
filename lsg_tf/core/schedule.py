"""Which forward path trains in which epoch (Algorithm 1 and footnote 1 of the paper).

Training schemes:
  * ``alternate`` (Algorithm 1): the LSG path in epochs with ``epoch % period == phase``,
    the STD path in the others. With ``unit="step"`` the same cycle counts optimizer steps
    instead: the LSG path on steps with ``step % period == phase`` (Algorithm 1's cost on a
    finer clock; section 3.3 only asks that the two paths take turns).
  * ``joint`` (footnote 1): both paths every step, cost ``CE + λ (CE_G + sparsity)``.
  * ``std``: plain training; the gate is never used. The baseline.

Epochs are 0-based, as Keras counts them; during the first ``warmup_epochs`` epochs
every scheme trains the STD path only.
"""

from __future__ import annotations

import dataclasses

from lsg_tf.core.choices import PERIOD_UNITS, SCHEMES

# The three train functions a model can compile, one per path.
STD, LSG, JOINT = "std", "lsg", "joint"
PATHS = (STD, LSG, JOINT)
# The label of an epoch whose steps take turns between the LSG and STD paths (unit "step").
MIXED = "lsg+std"


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A training scheme and its timing.

    Args:
        scheme: "alternate", "joint" or "std".
        period: length of the alternating cycle in ``unit`` (Algorithm 1: 3 epochs).
        phase: the epoch (or step) of each cycle that trains the LSG path (Algorithm 1: 1).
        warmup_epochs: epochs of STD-only training before the scheme starts.
        unit: what ``period`` and ``phase`` count, "epoch" (Algorithm 1) or "step" (optimizer
            steps since training began; the warm-up epochs stay STD-only).
    """

    scheme: str = "alternate"
    period: int = 3
    phase: int = 1
    warmup_epochs: int = 0
    unit: str = "epoch"

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.unit not in PERIOD_UNITS:
            raise ValueError(f"unit must be one of {PERIOD_UNITS}, got {self.unit!r}")
        if not isinstance(self.period, int) or self.period < 1:
            raise ValueError(f"period must be an integer >= 1, got {self.period!r}")
        if not isinstance(self.phase, int) or not 0 <= self.phase < self.period:
            raise ValueError(
                f"phase must be an integer in [0, period) = [0, {self.period}), got {self.phase!r}"
            )
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}")

    @property
    def per_step(self) -> bool:
        """Whether the path changes within an epoch (the alternating scheme on a step clock)."""
        return self.scheme == "alternate" and self.unit == "step"

    def path_for_epoch(self, epoch: int) -> str:
        """The path ("std", "lsg" or "joint") trained in 0-based ``epoch``; ``MIXED`` when
        the steps of that epoch take turns (see :meth:`path_for_step`)."""
        if self.scheme == "std" or epoch < self.warmup_epochs:
            return STD
        if self.scheme == "joint":
            return JOINT
        if self.per_step:
            return MIXED
        return LSG if epoch % self.period == self.phase else STD

    def path_for_step(self, epoch: int, step: int) -> str:
        """The path trained by optimizer step ``step`` (0-based, counted from the start of
        training) in ``epoch``; with the epoch unit, the epoch's path."""
        path = self.path_for_epoch(epoch)
        if path != MIXED:
            return path
        return LSG if step % self.period == self.phase else STD

    def gated_steps(self, epochs: int, steps_per_epoch: int, initial_epoch: int = 0) -> int:
        """Optimizer steps from ``initial_epoch`` to ``epochs`` that train the gate (the LSG
        or joint path): what the gate has to reach its target with."""
        count = 0
        for epoch in range(initial_epoch, epochs):
            path = self.path_for_epoch(epoch)
            if path in (LSG, JOINT):
                count += steps_per_epoch
            elif path == MIXED:
                first = epoch * steps_per_epoch
                count += sum(1 for step in range(first, first + steps_per_epoch)
                             if step % self.period == self.phase)
        return count

