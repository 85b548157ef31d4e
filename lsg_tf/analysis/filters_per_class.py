"""How many filters each class monopolises (paper section 4.3, "Constraint Tightening").

After tightening G with threshold h (:func:`lsg_tf.core.gate.tighten_gate`), a filter is specific
to class c when c is the only class with ``G[c, k] >= h``; every other filter is shared. The
paper found each CIFAR-10 class monopolising about 10 % of ResNet20's 64 filters (6), which
motivated the fixed gate of appendix C (6 per class, 4 shared).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.core import gate as gate_lib


@dataclasses.dataclass
class FiltersPerClass:
    """Attributes:
        threshold: h.
        per_class: ``[C]`` filters monopolised by each class.
        shared: filters not specific to one class.
        num_filters: K.
    """

    threshold: float
    per_class: np.ndarray
    shared: int
    num_filters: int


def filters_per_class(gate: np.ndarray, threshold: float = 0.5) -> FiltersPerClass:
    """Counts class-specific filters of ``gate`` ``[C, K]`` at threshold h in (0, 1]."""
    counts = gate_lib.class_specific_filters(gate, threshold)
    num_filters = int(np.asarray(gate).shape[1])
    return FiltersPerClass(threshold=float(threshold), per_class=counts,
                           shared=num_filters - int(counts.sum()), num_filters=num_filters)
