"""MIS, a mutual-information score of class-specificity (the LSG authors' later metric).

    MIS = mean_k max_c MI(a_k, 1[y = c])

over the pooled features ``a`` ``[N, K]``: for every filter k, the mutual information
between its pooled activation and the indicator of the class it tells apart best, averaged
over filters. A filter that fires for exactly one class reaches ``H(1[y = c])`` (0.325 nats for
10 balanced classes); a filter unrelated to the labels scores ~0. MI is estimated by
scikit-learn's k-nearest-neighbour estimator (``mutual_info_classif``), seeded, in nats.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.analysis import head

# The subset size MIS is estimated on by default where a run is analysed (the report, the
# end of training): the kNN estimator costs O(N log N) per filter and class.
DEFAULT_MAX_EXAMPLES = 5000


@dataclasses.dataclass
class MISResult:
    """MIS and its parts.

    Attributes:
        mis: ``mean_k max_c MI[k, c]`` (nats).
        mutual_information: ``MI[k, c]`` ``[K, C]``, filter k vs. the indicator of class c.
        best_class: ``argmax_c MI[k, c]`` per filter, ``[K]``.
        num_examples: examples used (after ``max_examples`` subsampling).
    """

    mis: float
    mutual_information: np.ndarray
    best_class: np.ndarray
    num_examples: int


def mutual_information_score(features: np.ndarray, labels: np.ndarray, num_classes: int,
                             seed: int = 0, n_neighbors: int = 3,
                             max_examples: int | None = None,
                             n_jobs: int | None = None,
                             progress: str | None = None) -> MISResult:
    """Computes MIS on pooled features.

    Args:
        features: ``[N, K]`` pooled features.
        labels: int ``[N]`` in ``[0, C)``.
        num_classes: C.
        seed: ``random_state`` of the estimator (it adds tiny noise to break ties) and of
            the subsample.
        n_neighbors: k of the kNN estimator.
        max_examples: estimate on a seeded random subset of this size (the estimator is
            ``O(N log N)`` per filter and class); None uses every example.
        n_jobs: parallel jobs of the estimator (scikit-learn's ``n_jobs``).
        progress: a progress-bar label (one step per class), or None.

    Raises:
        ValueError: bad shapes or labels, ``n_neighbors < 1``, ``max_examples < 2``.
    """
    from sklearn.feature_selection import mutual_info_classif

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must have shape [N, K], got shape {features.shape}")
    labels = head.check_labels(labels, len(features), num_classes)
    if int(n_neighbors) != n_neighbors or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be an integer >= 1, got {n_neighbors!r}")
    if len(labels) <= n_neighbors:
        raise ValueError(
            f"MIS needs more than n_neighbors={n_neighbors} examples, got {len(labels)}")
    if max_examples is not None:
        if max_examples < 2:
            raise ValueError(f"max_examples must be >= 2 or None, got {max_examples!r}")
        if max_examples < len(labels):
            index = np.sort(np.random.default_rng(seed).choice(len(labels), max_examples,
                                                               replace=False))
            features, labels = features[index], labels[index]
    classes = range(num_classes)
    if progress:
        from tqdm.auto import tqdm

        classes = tqdm(classes, desc=progress, unit="class", leave=False)
    mi = np.zeros((features.shape[1], num_classes))
    for c in classes:
        indicator = (labels == c).astype(np.int64)
        if indicator.min() == indicator.max():
            continue  # class absent (or the only one): the indicator carries no information
        mi[:, c] = mutual_info_classif(features, indicator, discrete_features=False,
                                       n_neighbors=n_neighbors, random_state=seed,
                                       n_jobs=n_jobs)
    return MISResult(mis=float(mi.max(axis=1).mean()), mutual_information=mi,
                     best_class=mi.argmax(axis=1), num_examples=len(labels))
