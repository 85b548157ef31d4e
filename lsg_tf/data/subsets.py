"""Stratified draws: train/test subsets and the validation hold-out.

One draw (:func:`_stratified_index`: as equal as possible per class, PCG64-seeded) serves
:func:`stratified_subset`, :func:`apply_subsets` and :func:`hold_out_validation`.
Needs numpy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lsg_tf.data.splits import ImageSplits

__all__ = ["apply_subsets", "hold_out_validation", "stratified_subset"]


def _class_quotas(counts: np.ndarray, n: int) -> np.ndarray:
    """Splits n as equally as possible over classes with the given capacities.

    Classes that are too small are filled completely and the rest is shared among the others;
    a remainder that cannot be split equally goes one each to the lowest class positions.
    """
    quotas = np.zeros_like(counts)
    remaining = n
    while remaining > 0:
        open_classes = np.flatnonzero(quotas < counts)
        share, extra = divmod(remaining, len(open_classes))
        wanted = np.full(len(open_classes), share)
        wanted[:extra] += 1
        room = counts[open_classes] - quotas[open_classes]
        take = np.minimum(wanted, room)
        quotas[open_classes] += take
        remaining -= int(take.sum())
    return quotas


def stratified_subset(
    x: np.ndarray, y: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draws n examples, as equally as possible per class, keeping the original order.

    Each class present in y gets n // K examples (K classes); the remainder goes one each to the
    classes with the smallest labels; a class with too few examples gives all it has and the
    difference is shared by the others in the same way. Within a class, examples are drawn
    without replacement by numpy's PCG64 generator seeded with `seed`.

    Args:
        x: [N, ...] examples.
        y: int [N] labels.
        n: total number of examples wanted, 1 <= n <= N.
        seed: random seed.

    Returns:
        (x_sub, y_sub): [n, ...] and [n], sorted by original index.

    Raises:
        ValueError: n < 1, n > N, or len(x) != len(y).
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"stratified_subset: {len(x)} examples but {len(y)} labels")
    n = int(n)
    if n < 1:
        raise ValueError(f"subset size n={n} must be >= 1")
    if n > len(y):
        raise ValueError(f"subset size n={n} is larger than the {len(y)} available examples")
    index = _stratified_index(y, n, seed)
    return x[index], y[index]


def _stratified_index(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of n examples drawn per class as in :func:`stratified_subset`."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quotas = _class_quotas(counts, n)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == k), size=int(quotas[k]), replace=False)
              for k in range(len(classes))]
    return np.sort(np.concatenate(chosen))


def apply_subsets(
    splits: ImageSplits, train_subset: int | None, test_subset: int | None, seed: int
) -> ImageSplits:
    """Returns splits with stratified subsets of the train and/or test split.

    Args:
        splits: the full data set.
        train_subset: number of train images to keep, or None for all.
        test_subset: number of test images to keep, or None for all.
        seed: seed of stratified_subset (seed for train, seed + 1 for test).

    Returns:
        A new ImageSplits (the input is unchanged).
    """
    x_train, y_train = splits.x_train, splits.y_train
    x_test, y_test = splits.x_test, splits.y_test
    if train_subset is not None:
        x_train, y_train = stratified_subset(x_train, y_train, train_subset, seed)
    if test_subset is not None:
        x_test, y_test = stratified_subset(x_test, y_test, test_subset, seed + 1)
    return dataclasses.replace(
        splits, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
    )


def hold_out_validation(splits: ImageSplits, size: int, seed: int) -> ImageSplits:
    """Carves a stratified validation set of ``size`` images out of the training split.

    For choosing settings without reading the test set: the returned splits train on the
    rest and hold the validation images in place of the test split (which is dropped).

    Args:
        splits: the data set (after any subsets).
        size: validation images, 1 <= size < number of training images.
        seed: seed of the stratified draw (``seed + 2``; subsets use ``seed`` and ``seed + 1``).

    Returns:
        A new ImageSplits named ``<name>:validation``.
    """
    n = len(splits.y_train)
    if not 1 <= int(size) < n:
        raise ValueError(f"validation_size must be in [1, {n - 1}] (training images: {n}), "
                         f"got {size!r}")
    held = np.zeros(n, dtype=bool)
    held[_stratified_index(splits.y_train, int(size), seed + 2)] = True
    return dataclasses.replace(
        splits, name=f"{splits.name}:validation",
        x_train=splits.x_train[~held], y_train=splits.y_train[~held],
        x_test=splits.x_train[held], y_test=splits.y_train[held])
