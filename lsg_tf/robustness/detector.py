"""A random-forest adversarial detector with ART's detector interface (paper section 4.5).

Following Wang et al. (2018), an adversarial sample behaves like its original class in low
layers and like the target class in high layers; the detector sees the global-average-pooled
output of every conv layer (:func:`lsg_tf.core.features.conv_layer_features`) and a random forest
(Breiman, 2001) separates normal (label 0) from adversarial (label 1) samples. The paper
reports the AUC on a held-out test set (Table 4).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from art.defences.detector.evasion.evasion_detector import EvasionDetector

from lsg_tf.robustness.baseline_detectors import VIEWS


def conv_feature_extractor(model, batch_size: int = 256,
                           progress: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``images [N, H, W, C] in [0, 1] -> features [N, sum_l K_l]`` of an LSGModel.

    The GAP of every conv layer, concatenated, one multi-output forward pass per batch.
    """
    from lsg_tf.core import features

    step = features.conv_layer_feature_step(model)  # traced once for every image set

    def extract(images):
        return features.conv_layer_features(model, images, batch_size=batch_size,
                                            progress=progress, step=step)

    return extract


def detector_inputs(model, batch_size: int = 256, progress: str | None = None,
                    baselines=()) -> tuple[Callable[[np.ndarray], dict], dict]:
    """What the random forest and the ``baselines`` (names of
    :data:`~lsg_tf.robustness.baseline_detectors.BASELINES`) read from an LSGModel.

    Returns:
        ``(extract, readout)``: ``extract(images [N, H, W, C] in [0, 1])`` gives
        ``{"conv": [N, sum_l K_l]}`` (:func:`conv_feature_extractor`) and, when a baseline
        reads it, ``"penultimate": [N, K]``, the GAP of the last conv map (the STD path's
        classifier input); ``readout`` holds ``layer_widths`` (``K_l`` of every conv
        layer), ``kernel`` ``[K, C]`` and ``bias`` ``[C]`` of the classifier, the arguments
        of :func:`lsg_tf.robustness.baseline_detectors.make_baseline`.
    """
    from keras import ops

    from lsg_tf.core import features

    conv = conv_feature_extractor(model, batch_size, progress)
    pooled = (features.pooled_feature_step(model)
              if any(VIEWS[name] == "penultimate" for name in baselines) else None)

    def extract(images):
        views = {"conv": conv(images)}
        if pooled is not None:
            views["penultimate"] = features.pooled_features(model, images, batch_size,
                                                            progress, step=pooled)
        return views

    readout = {"layer_widths": [int(layer.output.shape[-1])
                                for layer in features.conv_layers(model)],
               "kernel": ops.convert_to_numpy(model.classifier.kernel),
               "bias": ops.convert_to_numpy(model.classifier.bias)}
    return extract, readout


class RandomForestDetector(EvasionDetector):
    """Binary detector: ``fit`` on normal/adversarial inputs, ``detect`` new ones.

    Args:
        feature_fn: maps inputs ``x`` to features ``[N, D]`` (e.g.
            :func:`conv_feature_extractor`); None: ``x`` already is ``[N, D]`` features.
        n_estimators: trees, >= 1.
        max_depth: tree depth limit (None: unlimited), >= 1.
        threshold: ``is_adversarial = score >= threshold``, in [0, 1].
        random_state: seed of the forest.
        n_jobs: scikit-learn parallel jobs (None: 1).
    """

    defence_params = ["feature_fn", "n_estimators", "max_depth", "threshold", "random_state",
                      "n_jobs"]

    def __init__(self, feature_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 n_estimators: int = 100, max_depth: int | None = None, threshold: float = 0.5,
                 random_state: int = 0, n_jobs: int | None = None):
        super().__init__()
        self.feature_fn = feature_fn
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.threshold = threshold
        self.random_state = random_state
        self.n_jobs = n_jobs
        self._check_params()
        self._forest = None
        self._num_features = None

    def _check_params(self) -> None:
        if self.feature_fn is not None and not callable(self.feature_fn):
            raise ValueError(f"feature_fn must be callable or None, got {self.feature_fn!r}")
        if isinstance(self.n_estimators, bool) or int(self.n_estimators) != self.n_estimators \
                or self.n_estimators < 1:
            raise ValueError(f"n_estimators must be an integer >= 1, got {self.n_estimators!r}")
        if self.max_depth is not None and (int(self.max_depth) != self.max_depth
                                           or self.max_depth < 1):
            raise ValueError(f"max_depth must be None or an integer >= 1, got {self.max_depth!r}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold!r}")

    def set_params(self, **kwargs) -> None:
        """Sets parameters of ``defence_params``; unknown names raise ValueError."""
        unknown = sorted(set(kwargs) - set(self.defence_params))
        if unknown:
            raise ValueError(f"unknown detector parameter(s) {unknown}; allowed: "
                             f"{self.defence_params}")
        super().set_params(**kwargs)

    def _features(self, x: np.ndarray) -> np.ndarray:
        features = self.feature_fn(x) if self.feature_fn is not None else x
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(f"detector features must have shape [N, D], got {features.shape}"
                             + ("" if self.feature_fn else " (pass feature_fn for images)"))
        return features

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 20,
            **kwargs) -> None:
        """Fits the forest.

        Args:
            x: inputs (``feature_fn``'s input, or features ``[N, D]``).
            y: ``[N]`` 0 (normal) / 1 (adversarial), bool or int; both classes present.
            batch_size, nb_epochs: part of ART's interface; unused by a forest.

        Raises:
            ValueError: extra keyword arguments, labels other than 0/1, a single class, or
                lengths that differ.
        """
        from sklearn.ensemble import RandomForestClassifier

        if kwargs:
            raise ValueError(f"unknown fit argument(s) {sorted(kwargs)}")
        features = self._features(x)
        y = np.asarray(y).reshape(-1)
        if len(y) != len(features):
            raise ValueError(f"y has {len(y)} labels for {len(features)} inputs")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"y must hold 0 (normal) or 1 (adversarial), got values "
                             f"{np.unique(y)[:5].tolist()}")
        if len(np.unique(y)) != 2:
            raise ValueError("y must contain both normal (0) and adversarial (1) samples")
        self._forest = RandomForestClassifier(
            n_estimators=int(self.n_estimators), max_depth=self.max_depth,
            random_state=self.random_state, n_jobs=self.n_jobs)
        self._forest.fit(features, y.astype(np.int32))
        self._num_features = features.shape[1]

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Probability of "adversarial" ``[N]`` float in [0, 1]."""
        if self._forest is None:
            raise ValueError("RandomForestDetector is not fitted; call fit(x, y) first")
        features = self._features(x)
        if features.shape[1] != self._num_features:
            raise ValueError(f"features have {features.shape[1]} columns; the detector was "
                             f"fitted on {self._num_features}")
        column = list(self._forest.classes_).index(1)
        return self._forest.predict_proba(features)[:, column]

    def detect(self, x: np.ndarray, batch_size: int = 128, **kwargs) -> tuple[dict, np.ndarray]:
        """ART's detector output.

        Returns:
            ``(report, is_adversarial)``: ``report["scores"]`` float ``[N]`` probabilities of
            "adversarial"; ``is_adversarial`` bool ``[N]`` (``scores >= threshold``).
        """
        if kwargs:
            raise ValueError(f"unknown detect argument(s) {sorted(kwargs)}")
        scores = self.scores(x)
        return {"scores": scores}, scores >= self.threshold


def roc_auc(is_adversarial: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary labels ``[N]``."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(is_adversarial).astype(int), scores))


def roc_curve(is_adversarial: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates ``([M], [M])`` of ``scores`` for binary labels."""
    from sklearn import metrics

    fpr, tpr, _ = metrics.roc_curve(np.asarray(is_adversarial).astype(int), scores)
    return fpr, tpr
