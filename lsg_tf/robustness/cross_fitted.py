"""A two-stage adversarial detector: a statistic on clean samples, a logistic regression on it.

The baselines of :mod:`~lsg_tf.robustness.baseline_detectors` share this shape (Lee et al.,
2018; Ma et al., 2018; Feinman et al., 2017): a statistic fitted on clean reference samples
(class Gaussians, nearest neighbours, kernel densities), and a logistic regression
(scikit-learn, after standardising) on the statistics of clean (0) and adversarial (1)
training samples; ``scores`` is the regression's probability of "adversarial".

The regression's training statistics are cross-fitted: the training pairs (a clean sample
and its adversarial version, kept together) are split into folds (stratified by label), and
each fold's statistics come from a reference fitted on the other folds' clean samples, so no
sample is scored against itself or its clean twin; new inputs are scored against a reference
fitted on every clean training sample.
"""

from __future__ import annotations

import numpy as np


def integer(name, value, low):
    """``value`` as an int, or a one-line ValueError naming ``name`` and the bound."""
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def matrix(name, x, columns=None):
    """``x`` as float64 ``[N, D]`` (N >= 1, D == ``columns`` when given), or a ValueError."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not len(x):
        raise ValueError(f"{name} must be features of shape [N, D] with N >= 1, got shape "
                         f"{x.shape}")
    if columns is not None and x.shape[1] != columns:
        raise ValueError(f"{name} has {x.shape[1]} feature columns; the detector was fitted "
                         f"on {columns}")
    return x


class CrossFittedDetector:
    """A statistic fitted on clean reference samples, then a logistic regression on it
    (module docstring); subclasses define `_fit_reference` and `_statistics`."""

    needs_labels = False

    def __init__(self, folds: int, random_state: int):
        self.folds = integer("folds", folds, 2)
        self.random_state = int(random_state)
        self._reference = None
        self._regression = None
        self._columns = None

    def _fit_reference(self, clean: np.ndarray, labels: np.ndarray | None):
        raise NotImplementedError

    def _statistics(self, reference, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _labels(self, labels, n):
        if labels is None:
            if self.needs_labels:
                raise ValueError(f"labels is required by {type(self).__name__}: the classes of "
                                 "the clean samples")
            return None
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n or not np.all(labels == np.round(labels)):
            raise ValueError(f"labels must hold {n} integer classes (one per clean sample), "
                             f"got {len(labels)} values of type {labels.dtype}")
        return labels.astype(np.int64)

    def _splitter(self, labels, n):
        from sklearn.model_selection import KFold, StratifiedKFold

        if labels is None:
            if n < 2:
                raise ValueError(f"clean needs >= 2 samples to cross-fit, got {n}")
            return KFold(min(self.folds, n), shuffle=True, random_state=self.random_state), None
        classes, counts = np.unique(labels, return_counts=True)
        if counts.min() < 2:
            raise ValueError(f"labels: every class needs >= 2 clean training samples to "
                             f"cross-fit the logistic regression; class {classes[counts.argmin()]} "
                             f"has 1")
        return StratifiedKFold(min(self.folds, int(counts.min())), shuffle=True,
                               random_state=self.random_state), labels

    def fit(self, clean: np.ndarray, adversarial: np.ndarray | None,
            labels: np.ndarray | None = None) -> CrossFittedDetector:
        """Fits the reference on ``clean`` and the logistic regression on both.

        Args:
            clean: ``[N, D]`` features of clean training samples.
            adversarial: ``[N, D]``: row i is the adversarial version of clean row i (the
                protocol's pairs, kept in one fold).
            labels: int ``[N]`` true classes of the clean samples.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        clean = matrix("clean", clean)
        labels = self._labels(labels, len(clean))
        if adversarial is None:
            raise ValueError(f"adversarial is required: {type(self).__name__} fits a logistic "
                             "regression on clean and adversarial statistics")
        adversarial = matrix("adversarial", adversarial)
        if adversarial.shape != clean.shape:
            raise ValueError(f"adversarial has shape {adversarial.shape}; it must match clean "
                             f"{clean.shape} (row i: the adversarial version of clean row i)")
        splitter, strata = self._splitter(labels, len(clean))
        normal, attacked = [], []
        for ref, out in splitter.split(clean, strata):
            reference = self._fit_reference(clean[ref], None if labels is None else labels[ref])
            normal.append(self._statistics(reference, clean[out]))
            attacked.append(self._statistics(reference, adversarial[out]))
        stats = np.concatenate(normal + attacked)
        target = np.r_[np.zeros(len(clean)), np.ones(len(clean))]
        self._regression = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self._regression.fit(stats, target)
        self._reference = self._fit_reference(clean, labels)
        self._columns = clean.shape[1]
        return self

    def statistics(self, x: np.ndarray) -> np.ndarray:
        """The per-sample statistic ``[N, S]`` under the reference of every clean sample."""
        if self._reference is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit first")
        return self._statistics(self._reference, matrix("x", x, self._columns))

    def scores(self, x: np.ndarray) -> np.ndarray:
        """``[N]``, higher: more adversarial: the regression's probability of "adversarial",
        or the statistic itself for a detector fitted without a regression."""
        statistics = self.statistics(x)
        if self._regression is None:
            return statistics[:, 0]
        return self._regression.predict_proba(statistics)[:, 1]
