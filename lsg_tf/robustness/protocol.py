"""The adversarial-detection protocol of Table 4 (paper section 4.5).

The paper draws 100, 500 and 1000 images per class for training a random forest on normal
images and their targeted-PGD versions, tests on 100 other images per class (normal and
adversarial), repeats five times and reports the mean AUC.

Here the images come from one *pool* per model comparison, drawn once (stratified, seeded) so
that every model sees the same images and the same PGD targets, and attacked once per model.
Each repeat splits the pool again with its own seed: per class, ``test_per_class`` images form
the test set and the next ``max(train_per_class)`` images the training order, whose prefixes
give the nested training sets of every size. An image and its adversarial version always fall
in the same split, so the test set never holds a version of a training image.

Beside the random forest, the baselines of :mod:`~lsg_tf.robustness.baseline_detectors`
(Mahalanobis, LID, KD + BU) are trained and tested on the same splits (:func:`run_detectors`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.robustness import baseline_detectors, intervals
from lsg_tf.robustness import detector as detector_lib

RANDOM_FOREST = "random_forest"


@dataclasses.dataclass(frozen=True)
class DetectionProtocol:
    """Sizes and seeds of the detection experiment.

    Attributes:
        train_per_class: training-set sizes, images per class (each adds its PGD version).
        test_per_class: test images per class (each adds its PGD version).
        repeats: repetitions with different splits and forest seeds.
        pool_per_class: images per class attacked once and split by every repeat; default
            ``max(train_per_class) + test_per_class``.
        n_estimators: trees of the random forest.
        seed: base seed (repeat ``i`` uses ``seed + i``).
        baselines: detectors run beside the random forest on the same splits, any of
            :data:`~lsg_tf.robustness.baseline_detectors.BASELINES` (each costs seconds on
            features; none needs another attack).
    """

    train_per_class: tuple[int, ...] = (100, 500, 1000)
    test_per_class: int = 100
    repeats: int = 5
    pool_per_class: int | None = None
    n_estimators: int = 100
    seed: int = 0
    baselines: tuple[str, ...] = baseline_detectors.BASELINES

    def __post_init__(self):
        sizes = tuple(int(s) for s in self.train_per_class)
        if not sizes or min(sizes) < 1 or any(int(s) != s for s in self.train_per_class):
            raise ValueError(f"train_per_class must be integers >= 1, got "
                             f"{self.train_per_class!r}")
        object.__setattr__(self, "train_per_class", sizes)
        for name, low in (("test_per_class", 1), ("repeats", 1), ("n_estimators", 1)):
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        baselines = tuple(self.baselines)
        unknown = [b for b in baselines if b not in baseline_detectors.BASELINES]
        if unknown or len(set(baselines)) != len(baselines):
            raise ValueError(f"baselines must be distinct names of "
                             f"{list(baseline_detectors.BASELINES)}, got {list(baselines)}")
        object.__setattr__(self, "baselines", baselines)
        if baselines and min(sizes) < 2:
            raise ValueError(f"train_per_class must be >= 2 with baselines (their regression is "
                             f"cross-fitted over image pairs), got {list(sizes)}; or set "
                             f"baselines=()")
        needed = max(sizes) + self.test_per_class
        if self.pool_per_class is not None and self.pool_per_class < needed:
            raise ValueError(f"pool_per_class={self.pool_per_class} is smaller than "
                             f"max(train_per_class) + test_per_class = {needed}")

    @property
    def pool_size_per_class(self) -> int:
        return self.pool_per_class or max(self.train_per_class) + self.test_per_class


def sample_pool(labels: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` random images of every class, sorted: int64 ``[C * per_class]``.

    Raises:
        ValueError: a class with fewer than ``per_class`` images (the message names it).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} images, fewer than the "
                             f"{per_class} per class the detection pool needs; lower "
                             f"train_per_class/test_per_class")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def split_pool(pool_labels: np.ndarray, protocol: DetectionProtocol,
               seed: int) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """One repeat's split of the pool (positions into the pool).

    Returns:
        ``(train, test)``: ``train[n]`` int ``[C * n]`` positions of the training images for
        each size ``n`` of ``protocol.train_per_class`` (nested: smaller sets are prefixes of
        larger ones per class), ``test`` int ``[C * test_per_class]``, disjoint from all
        training positions.

    Raises:
        ValueError: a class of the pool holds too few images.
    """
    pool_labels = np.asarray(pool_labels)
    rng = np.random.default_rng(seed)
    largest = max(protocol.train_per_class)
    test, order = [], []
    for c in np.unique(pool_labels):
        members = rng.permutation(np.flatnonzero(pool_labels == c))
        if len(members) < largest + protocol.test_per_class:
            raise ValueError(f"class {c} has {len(members)} pool images; the protocol needs "
                             f"{largest + protocol.test_per_class}")
        test.append(members[:protocol.test_per_class])
        order.append(members[protocol.test_per_class:protocol.test_per_class + largest])
    train = {n: np.concatenate([o[:n] for o in order]) for n in protocol.train_per_class}
    return train, np.concatenate(test)


def _check_features(clean_features, adv_features, pool_labels):
    clean_features = np.asarray(clean_features, np.float32)
    adv_features = np.asarray(adv_features, np.float32)
    if clean_features.shape != adv_features.shape or clean_features.ndim != 2:
        raise ValueError(f"clean and adversarial features must share one [P, D] shape, got "
                         f"{clean_features.shape} and {adv_features.shape}")
    if len(pool_labels) != len(clean_features):
        raise ValueError(f"{len(pool_labels)} pool labels for {len(clean_features)} feature rows")
    return clean_features, adv_features, np.asarray(pool_labels)


def _repeats(fit_and_score, clean_features, adv_features, pool_labels, protocol, progress):
    """Every size and repeat: ``fit_and_score(repeat, clean, adv, labels, test)`` trains on a
    training set's pairs and returns the scores of ``test`` (its clean then PGD rows)."""
    clean_features, adv_features, pool_labels = _check_features(clean_features, adv_features,
                                                                pool_labels)
    aucs = {n: [] for n in protocol.train_per_class}
    scores = {n: [] for n in protocol.train_per_class}
    roc = {}
    jobs = [(r, n) for r in range(protocol.repeats) for n in protocol.train_per_class]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc=progress, unit="fit", leave=False)
    splits = {}
    for repeat, size in jobs:
        if repeat not in splits:
            splits = {repeat: split_pool(pool_labels, protocol, protocol.seed + repeat)}
        train, test = splits[repeat]
        x_test = np.concatenate([clean_features[test], adv_features[test]])
        y_test = np.r_[np.zeros(len(test)), np.ones(len(test))]
        index = train[size]
        repeat_scores = np.asarray(fit_and_score(
            repeat, clean_features[index], adv_features[index], pool_labels[index], x_test),
            np.float32)
        aucs[size].append(detector_lib.roc_auc(y_test, repeat_scores))
        scores[size].append(repeat_scores)
        if repeat == 0:
            roc[size] = detector_lib.roc_curve(y_test, repeat_scores)
    return {
        "train_per_class": list(protocol.train_per_class),
        "test_per_class": protocol.test_per_class,
        "repeats": protocol.repeats,
        "auc": {n: aucs[n] for n in protocol.train_per_class},
        "mean_auc": {n: float(np.mean(aucs[n])) for n in protocol.train_per_class},
        "std_auc": {n: float(np.std(aucs[n])) for n in protocol.train_per_class},
        "roc": roc,
        "scores": scores,
    }


def run_detection(clean_features: np.ndarray, adv_features: np.ndarray,
                  pool_labels: np.ndarray, protocol: DetectionProtocol,
                  progress: str | None = None) -> dict:
    """Trains and tests the random forest for every size and repeat (Table 4).

    Args:
        clean_features: ``[P, D]`` detector features of the pool's normal images.
        adv_features: ``[P, D]`` features of their adversarial versions (same order).
        pool_labels: int ``[P]`` true labels of the pool.
        protocol: the sizes and seeds.
        progress: a progress-bar label, or None.

    Returns:
        ``{"train_per_class": [...], "test_per_class": n, "repeats": R,
        "auc": {size: [R AUCs]}, "mean_auc": {size: m}, "std_auc": {size: s},
        "roc": {size: (fpr, tpr) of the first repeat},
        "scores": {size: [R arrays [2T]: the detector's scores on the repeat's T test images,
        then on their PGD versions]}}``; sizes are ints, ``std`` is the population standard
        deviation over repeats. The test images of a repeat depend only on the pool labels
        and the seed, so models evaluated on one pool share them (paired intervals).
    """
    def fit_and_score(repeat, clean, adv, labels, x_test):
        forest = detector_lib.RandomForestDetector(
            n_estimators=protocol.n_estimators, random_state=protocol.seed + repeat)
        forest.fit(np.concatenate([clean, adv]), np.r_[np.zeros(len(clean)), np.ones(len(adv))])
        return forest.detect(x_test)[0]["scores"]

    return _repeats(fit_and_score, clean_features, adv_features, pool_labels, protocol,
                    progress)


def run_baseline(name: str, clean_features: np.ndarray, adv_features: np.ndarray,
                 pool_labels: np.ndarray, protocol: DetectionProtocol,
                 progress: str | None = None, **options) -> dict:
    """:func:`run_detection` for the baseline ``name`` (same splits, same result keys).

    ``options``: ``layer_widths``, ``kernel``, ``bias`` of
    :func:`~lsg_tf.robustness.baseline_detectors.make_baseline`; the features are the
    baseline's view (:data:`~lsg_tf.robustness.baseline_detectors.VIEWS`).
    """
    baseline_detectors.make_baseline(name, **options)  # a bad name fails before any fit

    def fit_and_score(repeat, clean, adv, labels, x_test):
        baseline = baseline_detectors.make_baseline(name, random_state=protocol.seed + repeat,
                                                    **options)
        return baseline.fit(clean, adv, labels).scores(x_test)

    return _repeats(fit_and_score, clean_features, adv_features, pool_labels, protocol,
                    progress)


def run_detectors(clean: dict, adversarial: dict, pool_labels: np.ndarray,
                  protocol: DetectionProtocol, options: dict | None = None,
                  progress: str | None = None, resamples: int = intervals.RESAMPLES) -> dict:
    """The random forest and ``protocol.baselines`` on the same splits, each AUC with its
    interval.

    Args:
        clean, adversarial: the pool's features by view, ``{"conv": [P, D]}`` (the random
            forest's and LID's) and, for Mahalanobis and KD + BU, ``"penultimate": [P, K]``.
        options: the baselines' model readout (``layer_widths``, ``kernel``, ``bias``).
        resamples: bootstrap resamples of each interval.

    Returns:
        :func:`run_detection`'s dict for the random forest, plus ``"detectors"``: for
        ``"random_forest"`` and every baseline, ``{"auc", "mean_auc", "std_auc",
        "interval": {size: [low, high]}}``, the 95% interval of the mean AUC from a bootstrap
        over the test images, each with its PGD version
        (:func:`~lsg_tf.robustness.intervals.auc_interval`); and ``"detector_scores"``:
        ``{name: scores}`` as :func:`run_detection`'s ``"scores"``.
    """
    needed = {"conv"} | {baseline_detectors.VIEWS[b] for b in protocol.baselines}
    missing = sorted(needed - (set(clean) & set(adversarial)))
    if missing:
        raise ValueError(f"clean and adversarial features lack the view(s) {missing} that "
                         f"the detectors {[RANDOM_FOREST, *protocol.baselines]} read")
    detection = run_detection(clean["conv"], adversarial["conv"], pool_labels, protocol,
                              progress)
    results = {RANDOM_FOREST: detection}
    for name in protocol.baselines:
        view = baseline_detectors.VIEWS[name]
        results[name] = run_baseline(name, clean[view], adversarial[view], pool_labels,
                                     protocol, f"{progress} {name}" if progress else None,
                                     **(options or {}))
    detection["detectors"], detection["detector_scores"] = {}, {}
    for name, result in results.items():
        detection["detectors"][name] = {key: result[key] for key in
                                        ("auc", "mean_auc", "std_auc")}
        detection["detectors"][name]["interval"] = {
            n: list(intervals.auc_interval(result["scores"][n], resamples)[1:])
            for n in protocol.train_per_class}
        detection["detector_scores"][name] = result["scores"]
    return detection
