"""Detection baselines beside the paper's random forest (Table 4's protocol, section 4.5).

* :class:`MahalanobisDetector` (Lee et al., 2018): class-conditional Gaussians with one shared
  covariance on the penultimate features (the GAP of the last conv map, the STD path's input
  to the classifier); the statistic is the smallest squared Mahalanobis distance to a class
  mean.
* :class:`LIDDetector` (Ma et al., 2018): the local intrinsic dimensionality of each sample's
  features at every conv layer w.r.t. a minibatch of clean samples.
* :class:`KernelDensityUncertaintyDetector` (Feinman et al., 2017): the kernel density of the
  penultimate features under the clean samples of the predicted class, and the Bayesian
  uncertainty of Monte-Carlo dropout on those features.

Each fits its statistic on clean samples and a logistic regression on the statistics of clean
and adversarial training samples (:class:`~lsg_tf.robustness.cross_fitted.
CrossFittedDetector`): ``fit(clean, adversarial, labels)``, ``scores(x)`` (higher: more
adversarial). The detection protocol (:mod:`~lsg_tf.robustness.protocol`) trains and tests
them on the random forest's splits.
"""

from __future__ import annotations

import numpy as np

from lsg_tf.robustness.cross_fitted import CrossFittedDetector, integer, matrix

BASELINES = ("mahalanobis", "lid", "kd_bu")
# The features each baseline reads: "penultimate" (GAP of the last conv map) or "conv" (GAP of
# every conv layer, concatenated: the random forest's features).
VIEWS = {"mahalanobis": "penultimate", "lid": "conv", "kd_bu": "penultimate"}
COVARIANCES = ("ledoit_wolf", "empirical")
BANDWIDTHS = ("scott", "silverman")


class MahalanobisDetector(CrossFittedDetector):
    """Lee et al. (2018): the smallest squared Mahalanobis distance to a class mean.

    Class means of the clean samples and one shared (tied) covariance of the class-centred
    samples (``sklearn.covariance``: Ledoit-Wolf shrinkage by default; Lee et al. use the
    empirical covariance). The smallest distance is minus twice the largest class-conditional
    Gaussian log-density, up to a constant. Lee et al.'s input preprocessing (a gradient step
    on the image) and multi-layer ensemble are not used.

    Args:
        covariance: "ledoit_wolf" or "empirical".
        supervised: True (the protocol's choice, as Lee et al.): a logistic regression on the
            distance of clean and adversarial training samples, which learns the direction;
            False: ``fit`` reads clean samples only and ``scores`` is the distance itself.
        folds, random_state: cross-fitting of the regression (:mod:`~.cross_fitted`).
    """

    needs_labels = True

    def __init__(self, covariance: str = "ledoit_wolf", supervised: bool = True, folds: int = 5,
                 random_state: int = 0):
        super().__init__(folds, random_state)
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {list(COVARIANCES)}, got "
                             f"{covariance!r}")
        self.covariance = covariance
        self.supervised = bool(supervised)

    def fit(self, clean, adversarial=None, labels=None) -> MahalanobisDetector:
        if self.supervised:
            return super().fit(clean, adversarial, labels)
        clean = matrix("clean", clean)
        self._reference = self._fit_reference(clean, self._labels(labels, len(clean)))
        self._columns, self._regression = clean.shape[1], None
        return self

    def _fit_reference(self, clean, labels):
        from sklearn.covariance import EmpiricalCovariance, LedoitWolf

        classes = np.unique(labels)
        means = np.stack([clean[labels == c].mean(0) for c in classes])
        centred = clean - means[np.searchsorted(classes, labels)]
        estimator = LedoitWolf if self.covariance == "ledoit_wolf" else EmpiricalCovariance
        return means, estimator(assume_centered=True).fit(centred)

    def _statistics(self, reference, x):
        means, covariance = reference
        distances = np.stack([covariance.mahalanobis(x - mean) for mean in means], axis=1)
        return distances.min(axis=1, keepdims=True)


def local_intrinsic_dimensionality(distances: np.ndarray) -> np.ndarray:
    """Ma et al.'s maximum-likelihood LID ``-(1/k sum_i log(r_i / r_k))^-1`` per row.

    Args:
        distances: ``[N, k]`` distances to the k nearest neighbours, ascending, k >= 2.

    Its mean on uniform data of dimension m is ``m k / (k - 2)``. A zero distance counts as
    1e-12 and equal distances give 1e12.
    """
    distances = np.maximum(np.asarray(distances, np.float64), 1e-12)
    mean_log = np.mean(np.log(distances / distances[:, -1:]), axis=1)
    return -1.0 / np.minimum(mean_log, -1e-12)


class LIDDetector(CrossFittedDetector):
    """Ma et al. (2018): the LID of each sample at every layer, then a logistic regression.

    The LID of a sample at a layer is estimated from its k nearest neighbours
    (``sklearn.neighbors.NearestNeighbors``, Euclidean) among a minibatch of clean reference
    samples (Ma et al.: 100 samples, k = 20 on CIFAR-10).

    Args:
        k: neighbours, >= 2 (one neighbour gives no estimate); at most the minibatch size.
        layer_widths: column widths of the layers in the features (the per-layer GAP of
            :func:`lsg_tf.core.features.conv_layer_features`); None: one layer.
        reference_size: clean samples of the minibatch (a seeded random subset); None: all.
        folds, random_state: cross-fitting of the regression (:mod:`~.cross_fitted`).
    """

    def __init__(self, k: int = 20, layer_widths=None, reference_size: int | None = 100,
                 folds: int = 5, random_state: int = 0):
        super().__init__(folds, random_state)
        self.k = integer("k", k, 2)
        self.layer_widths = None if layer_widths is None else tuple(
            integer("layer_widths entries", w, 1) for w in layer_widths)
        self.reference_size = None if reference_size is None else integer(
            "reference_size", reference_size, 2)

    def _blocks(self, x):
        widths = self.layer_widths or (x.shape[1],)
        if sum(widths) != x.shape[1]:
            raise ValueError(f"layer_widths sum to {sum(widths)}; the features have "
                             f"{x.shape[1]} columns")
        return np.split(x, np.cumsum(widths)[:-1], axis=1)

    def _fit_reference(self, clean, labels):
        from sklearn.neighbors import NearestNeighbors

        if self.reference_size is not None and len(clean) > self.reference_size:
            rng = np.random.default_rng(self.random_state)
            clean = clean[np.sort(rng.choice(len(clean), self.reference_size, replace=False))]
        if len(clean) < 2:
            raise ValueError(f"LID needs >= 2 clean reference samples, got {len(clean)}")
        k = min(self.k, len(clean))
        return [NearestNeighbors(n_neighbors=k).fit(b) for b in self._blocks(clean)]

    def _statistics(self, reference, x):
        return np.stack([local_intrinsic_dimensionality(search.kneighbors(block)[0])
                         for search, block in zip(reference, self._blocks(x))], axis=1)


class KernelDensityUncertaintyDetector(CrossFittedDetector):
    """Feinman et al. (2017): kernel density (KD) and Bayesian uncertainty (BU).

    KD: the log density of the standardised penultimate features under a Gaussian kernel
    density (``sklearn.neighbors.KernelDensity``) of the clean samples of the *predicted*
    class (argmax of ``x @ kernel + bias``); features are standardised with the clean samples'
    mean and std, the bandwidth is Scott's rule ``n_c^(-1/(d+4))`` per class by default
    (Feinman et al. tune a fixed bandwidth per data set). BU: Feinman et al.'s
    ``mean_t p_t·p_t - p̄·p̄`` of the softmax over ``passes`` forward passes with dropout
    (rate ``dropout``; inverted: kept features scaled by ``1/(1 - rate)``) on the penultimate
    features before the linear classifier, since the models have no dropout layer of their
    own (Feinman et al.: rate 0.5, 50 passes). A logistic regression combines KD and BU.

    Args:
        kernel, bias: the linear classifier ``[K, C]``, ``[C]`` (the STD path's Dense layer).
        bandwidth: "scott", "silverman" or a positive number (on standardised features).
        dropout: rate in [0, 1); 0 gives BU = 0.
        passes: stochastic forward passes, >= 2.
        folds, random_state: cross-fitting of the regression; ``random_state`` also seeds the
            dropout masks.
    """

    needs_labels = True

    def __init__(self, kernel, bias, bandwidth="scott", dropout: float = 0.5, passes: int = 50,
                 folds: int = 5, random_state: int = 0):
        super().__init__(folds, random_state)
        self.kernel = np.asarray(kernel, np.float64)
        self.bias = np.asarray(bias, np.float64)
        if self.kernel.ndim != 2 or self.bias.shape != self.kernel.shape[1:]:
            raise ValueError(f"kernel [K, C] and bias [C] must match, got shapes "
                             f"{self.kernel.shape} and {self.bias.shape}")
        if isinstance(bandwidth, str) and bandwidth not in BANDWIDTHS or \
                not isinstance(bandwidth, str) and not float(bandwidth) > 0:
            raise ValueError(f"bandwidth must be one of {list(BANDWIDTHS)} or a number > 0, "
                             f"got {bandwidth!r}")
        self.bandwidth = bandwidth
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.passes = integer("passes", passes, 2)

    def _fit_reference(self, clean, labels):
        from sklearn.neighbors import KernelDensity
        from sklearn.preprocessing import StandardScaler

        matrix("features", clean, self.kernel.shape[0])
        missing = sorted(set(range(self.kernel.shape[1])) - set(labels.tolist()))
        if missing:
            raise ValueError(f"labels must cover every class of the classifier "
                             f"(0..{self.kernel.shape[1] - 1}); no clean sample of {missing}")
        scaler = StandardScaler().fit(clean)
        scaled = scaler.transform(clean)
        densities = [KernelDensity(bandwidth=self.bandwidth).fit(scaled[labels == c])
                     for c in range(self.kernel.shape[1])]
        return scaler, densities

    def predictions(self, x: np.ndarray) -> np.ndarray:
        """The classifier's labels ``[N]`` of features ``x`` (no dropout)."""
        x = matrix("x", x, self.kernel.shape[0])
        return np.argmax(x @ self.kernel + self.bias, axis=1)

    def uncertainty(self, x: np.ndarray) -> np.ndarray:
        """BU ``[N]`` >= 0: the summed variance of the softmax over the dropout passes."""
        from scipy.special import softmax

        x = matrix("x", x, self.kernel.shape[0])
        if self.dropout == 0:
            return np.zeros(len(x))
        rng = np.random.default_rng(self.random_state)
        total = np.zeros((len(x), self.kernel.shape[1]))
        squares = np.zeros(len(x))
        for _ in range(self.passes):
            kept = rng.random(x.shape) >= self.dropout
            p = softmax((x * kept / (1 - self.dropout)) @ self.kernel + self.bias, axis=1)
            total += p
            squares += np.sum(p * p, axis=1)
        mean = total / self.passes
        return np.maximum(squares / self.passes - np.sum(mean * mean, axis=1), 0.0)

    def _statistics(self, reference, x):
        scaler, densities = reference
        scaled = scaler.transform(x)
        predicted = self.predictions(x)
        density = np.zeros(len(x))
        for c in np.unique(predicted):
            density[predicted == c] = densities[c].score_samples(scaled[predicted == c])
        return np.stack([density, self.uncertainty(x)], axis=1)


def make_baseline(name: str, layer_widths=None, kernel=None, bias=None,
                  random_state: int = 0) -> CrossFittedDetector:
    """The baseline ``name`` of :data:`BASELINES` with the protocol's settings.

    ``layer_widths`` is read by "lid", ``kernel`` and ``bias`` (the classifier) by "kd_bu".
    """
    if name == "mahalanobis":
        return MahalanobisDetector(random_state=random_state)
    if name == "lid":
        return LIDDetector(layer_widths=layer_widths, random_state=random_state)
    if name == "kd_bu":
        if kernel is None or bias is None:
            raise ValueError("kd_bu needs the classifier's kernel and bias")
        return KernelDensityUncertaintyDetector(kernel, bias, random_state=random_state)
    raise ValueError(f"detector must be one of {list(BASELINES)}, got {name!r}")
