"""Prepared TensorFlow Datasets data sets (CIFAR-10/100, MNIST, ...), never downloaded.

``tensorflow_datasets`` is imported inside :func:`load_tfds` only.
"""

from __future__ import annotations

import numpy as np

from lsg_tf.data.splits import ImageSplits

__all__ = ["TFDS_BARE_NAMES", "load_tfds"]

TFDS_BARE_NAMES = ("cifar10", "cifar100", "mnist")
"""TFDS data sets that :func:`load_dataset` accepts without the ``tfds:`` prefix."""

_OFFLINE_HINT = (
    "offline options: --dataset=fashion_mnist (Debian package dataset-fashion-mnist), "
    "--dataset=image_folder --data_dir=<root with train/<class>/ and test/<class>/>, "
    "or prepare the TFDS data with network access first (tfds.load(name, data_dir=...))"
)


def load_tfds(name: str, data_dir: str | None = None) -> ImageSplits:
    """Loads the train and test splits of a prepared TFDS image data set, never downloading.

    Args:
        name: TFDS name, e.g. "cifar10", "cifar100", "mnist".
        data_dir: TFDS data folder; None uses TFDS's default (~/tensorflow_datasets or
            $TFDS_DATA_DIR).

    Returns:
        ImageSplits with uint8 [N, H, W, C] images and the data set's label names.

    Raises:
        ValueError: the data set is unknown or not prepared in data_dir (fails in about a
            second, naming the offline alternatives), or it lacks train/test splits.
    """
    import tensorflow_datasets as tfds  # Heavy; only needed here.

    where = data_dir if data_dir is not None else "the default TFDS data_dir"
    try:
        (train, test), info = tfds.load(
            name,
            split=["train", "test"],
            data_dir=data_dir,
            download=False,
            as_supervised=True,
            batch_size=-1,
            with_info=True,
        )
    except (AssertionError, tfds.core.registered.DatasetNotFoundError, FileNotFoundError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"TFDS data set {name!r} is not available in {where} ({reason}); {_OFFLINE_HINT}"
        ) from None
    except ValueError as e:  # e.g. a missing split.
        raise ValueError(
            f"TFDS data set {name!r} in {where} cannot be loaded as train/test splits: "
            f"{str(e).splitlines()[0]}"
        ) from None
    x_train, y_train = tfds.as_numpy(train)
    x_test, y_test = tfds.as_numpy(test)
    label = info.features["label"]
    return ImageSplits(
        name=name,
        x_train=x_train,
        y_train=np.asarray(y_train).astype(np.int64),
        x_test=x_test,
        y_test=np.asarray(y_test).astype(np.int64),
        class_names=tuple(label.names),
    )
