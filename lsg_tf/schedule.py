"""Which forward path trains in which epoch (Algorithm 1 and footnote 1 of the paper).

Training schemes:
  * ``alternate`` (Algorithm 1): the LSG path in epochs with ``epoch % period == phase``,
    the STD path in the others.
  * ``joint`` (footnote 1): both paths every step, cost ``CE + λ (CE_G + sparsity)``.
  * ``std``: plain training; the gate is never used. The baseline.

Epochs are 0-based, as Keras counts them; during the first ``warmup_epochs`` epochs
every scheme trains the STD path only.
"""

from __future__ import annotations

import dataclasses

from lsg_tf.choices import SCHEMES

# The three train functions a model can compile, one per path.
STD, LSG, JOINT = "std", "lsg", "joint"
PATHS = (STD, LSG, JOINT)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A training scheme and its timing.

    Args:
        scheme: "alternate", "joint" or "std".
        period: length of the alternating cycle in epochs (Algorithm 1: 3).
        phase: the epoch of each cycle that trains the LSG path (Algorithm 1: 1).
        warmup_epochs: epochs of STD-only training before the scheme starts.
    """

    scheme: str = "alternate"
    period: int = 3
    phase: int = 1
    warmup_epochs: int = 0

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if not isinstance(self.period, int) or self.period < 1:
            raise ValueError(f"period must be an integer >= 1, got {self.period!r}")
        if not isinstance(self.phase, int) or not 0 <= self.phase < self.period:
            raise ValueError(
                f"phase must be an integer in [0, period) = [0, {self.period}), got {self.phase!r}"
            )
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}")

    def path_for_epoch(self, epoch: int) -> str:
        """The path ("std", "lsg" or "joint") trained in 0-based ``epoch``."""
        if self.scheme == "std" or epoch < self.warmup_epochs:
            return STD
        if self.scheme == "joint":
            return JOINT
        return LSG if epoch % self.period == self.phase else STD
