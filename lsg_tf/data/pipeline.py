"""Deterministic, resumable tf.data pipelines over in-memory arrays, augmentation and resize.

Training pipelines use *stateless*, epoch-indexed randomness: the example order and the
augmentation of epoch ``e`` depend only on ``(seed, e)``, so a run resumed at epoch ``e`` sees
exactly the batches an uninterrupted run would have seen (:func:`make_train_dataset`).
:func:`make_eval_dataset` keeps the data set order. :func:`resize_images` is the one resize of
the project (image-folder data and the exported serving graph).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lsg_tf.core.choices import AUGMENTATIONS, CROP_PADDINGS  # the allowed values
from lsg_tf.data.splits import ImageSplits, validate_arrays

__all__ = [
    "AUGMENTATIONS",
    "CROP_PADDING",
    "CROP_PADDINGS",
    "NO_FLIP_DATASETS",
    "default_augmentation",
    "make_eval_dataset",
    "make_train_dataset",
    "pipeline_options",
    "resize_images",
    "steps_per_epoch",
]

# Data sets whose classes are not mirror-symmetric (digits, letters): never flipped by "auto".
NO_FLIP_DATASETS = ("mnist", "emnist", "kmnist")

CROP_PADDING = 4
"""Padding (pixels per side) before the random crop of the ``crop``/``crop_flip`` augmentations."""


def resize_images(images: tf.Tensor, size) -> tf.Tensor:
    """The one resize of the project: uint8 ``[..., H, W, C]`` -> uint8 ``[..., h, w, C]``.

    Bilinear with antialiasing, rounded back to uint8. Image-folder training data and the
    exported serving graph both resize with it, so a photo sent to TF Serving is
    downsampled exactly as the training images were.
    """
    resized = tf.image.resize(images, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def default_augmentation(splits: ImageSplits) -> str:
    """"crop_flip" for 32x32 and 64x64 RGB (CIFAR-like, Tiny ImageNet) and 28x28 gray images,
    "flip" otherwise;
    never a flip for data sets whose classes are not mirror-symmetric (``NO_FLIP_DATASETS``:
    "crop" for their sizes, "none" otherwise)."""
    no_flip = splits.name.split(":validation")[0].split("/")[0] in NO_FLIP_DATASETS
    if splits.image_shape in ((32, 32, 3), (64, 64, 3), (28, 28, 1)):
        return "crop" if no_flip else "crop_flip"
    return "none" if no_flip else "flip"


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Number of full batches per epoch, num_examples // batch_size.

    Raises:
        ValueError: batch_size < 1 or batch_size > num_examples (zero steps).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    steps = int(num_examples) // int(batch_size)
    if steps == 0:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {num_examples} training examples; "
            f"use batch_size <= {num_examples}"
        )
    return steps


def _epoch_key(seed: tf.Tensor, epoch: tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, epoch, alg="philox")


def _augment_batch(images: tf.Tensor, seed: tf.Tensor, augment: str,
                   crop_padding: str = "zeros") -> tf.Tensor:
    """Random crop after padding and/or horizontal flip of a uint8 batch.

    Each example gets its own offsets and flip, drawn from one stateless (Philox) draw seeded by
    `seed`; both are applied as one pair of index gathers.

    Args:
        images: uint8 [B, H, W, C] with static B, H, W.
        seed: int64 [2] stateless seed.
        augment: one of AUGMENTATIONS.
        crop_padding: one of CROP_PADDINGS: "zeros" (black border) or "reflect" (the border
            mirrors the image, without repeating the edge pixel; numpy's and PyTorch's
            "reflect").

    Returns:
        uint8 [B, H, W, C].
    """
    if augment == "none":
        return images
    batch, height, width = images.shape[0], images.shape[1], images.shape[2]
    flip_seed, crop_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2, alg="philox")
    )
    flip = tf.random.stateless_uniform(
        [batch], seed=flip_seed, minval=0, maxval=2, dtype=tf.int32, alg="philox"
    )
    if augment == "crop":
        flip = tf.zeros([batch], tf.int32)
    if augment in ("crop", "crop_flip"):
        pad = CROP_PADDING
        mode = "REFLECT" if crop_padding == "reflect" else "CONSTANT"
        images = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=mode)
        offsets = tf.random.stateless_uniform(
            [batch, 2], seed=crop_seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32, alg="philox"
        )
        rows = offsets[:, :1] + tf.range(height)[None, :]  # [B, H]
        images = tf.gather(images, rows, axis=1, batch_dims=1)  # [B, H, W + 2 * pad, C]
        left = offsets[:, 1:]  # [B, 1]
    else:
        left = tf.zeros([batch, 1], tf.int32)
    mirrored = tf.range(width - 1, -1, -1)[None, :]
    cols = left + tf.where(flip[:, None] == 1, mirrored, tf.range(width)[None, :])  # [B, W]
    return tf.gather(images, cols, axis=2, batch_dims=1)  # [B, H, W, C]


def make_train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int,
    augment: str = "crop_flip",
    start_epoch: int = 0,
    num_epochs: int | None = None,
    crop_padding: str = "zeros",
) -> tf.data.Dataset:
    """Builds a deterministic, resumable training pipeline over in-memory arrays.

    Epochs start_epoch, start_epoch + 1, ... (num_epochs of them, or forever if None) are
    concatenated. Epoch e uses a permutation of all N examples from
    ``tf.random.experimental.stateless_shuffle`` (Philox) seeded by (seed, e), cut into
    N // batch_size full batches (the last partial batch is dropped). Batch b of epoch e is
    augmented with stateless random ops seeded by (seed, e, b). Everything depends only on
    (seed, e), so ``make_train_dataset(..., start_epoch=e)`` yields exactly the batches of epoch e
    of a run started at 0. Pass ``steps_per_epoch(len(x), batch_size)`` to Keras ``fit``.

    Augmentations (AUGMENTATIONS):
        * "none": images unchanged.
        * "flip": horizontal flip with probability 1/2.
        * "crop": the random crop of "crop_flip" without the flip (digits, letters, text).
        * "crop_flip": zero-pad CROP_PADDING (4) pixels per side, take a random H x W crop (each
          of the 9 x 9 offsets equally likely), then flip with probability 1/2 -- the standard
          CIFAR augmentation of He et al. (2016), used for the ResNet20s of paper Section 4.
          Zero padding, as in He et al., is the default; ``crop_padding="reflect"`` mirrors
          the border instead (a common CIFAR variant: no black frame in the crops).

    The arrays are held once in memory as tensors; each batch is gathered from them by index.

    Args:
        x: uint8 images [N, H, W, C] (or [N, H, W]).
        y: int labels [N], >= 0.
        batch_size: examples per batch, 1 <= batch_size <= N.
        seed: integer seed (int64 range).
        augment: one of AUGMENTATIONS.
        start_epoch: index of the first epoch, >= 0.
        num_epochs: number of epochs, >= 1, or None for an infinite dataset.
        crop_padding: one of CROP_PADDINGS, the padding before the random crop ("crop",
            "crop_flip"); ignored by the other augmentations.

    Returns:
        A tf.data.Dataset of (images float32 [B, H, W, C] in [0, 1], labels int32 [B]) with a
        static batch dimension B = batch_size.

    Raises:
        ValueError: bad arrays, batch_size, augment, crop_padding, start_epoch or num_epochs.
    """
    x, y = validate_arrays(x, y, None, "training arrays")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment={augment!r} is not one of {AUGMENTATIONS}")
    if crop_padding not in CROP_PADDINGS:
        raise ValueError(f"crop_padding={crop_padding!r} is not one of {CROP_PADDINGS}")
    if crop_padding == "reflect" and augment in ("crop", "crop_flip") and min(
            x.shape[1], x.shape[2]) <= CROP_PADDING:
        raise ValueError(f"crop_padding='reflect' needs images larger than {CROP_PADDING} "
                         f"pixels per side, got {x.shape[1]}x{x.shape[2]}")
    steps_per_epoch(len(x), batch_size)  # checks batch_size
    if int(start_epoch) < 0:
        raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
    if num_epochs is not None and int(num_epochs) < 1:
        raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
    if not -(2**63) <= int(seed) < 2**63:
        raise ValueError(f"seed must fit in int64, got {seed}")
    x_t = tf.convert_to_tensor(x)
    y_t = tf.convert_to_tensor(y)

    def make_batch(batch_seed, index):
        images = _augment_batch(tf.gather(x_t, index), batch_seed, augment, crop_padding)
        images = tf.cast(images, tf.float32) / 255.0
        return images, tf.gather(y_t, index)

    ds = _epoch_batches(len(x), batch_size, seed, start_epoch, num_epochs).map(
        make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())


def _epoch_batches(n: int, batch_size: int, seed: int, start_epoch: int,
                   num_epochs: int | None) -> tf.data.Dataset:
    """``(batch seed, example indices)`` of every batch of epochs start_epoch, ...: epoch e's
    order is a stateless permutation seeded by (seed, e), batch b's seed folds in (e, b)."""
    steps = steps_per_epoch(n, batch_size)
    base_seed = tf.constant([int(seed), 0], dtype=tf.int64)

    def epoch_batches(epoch):
        key = _epoch_key(base_seed, epoch)
        order_seed = tf.random.experimental.stateless_fold_in(key, 0, alg="philox")
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=order_seed, alg="philox")
        index = tf.reshape(order[: steps * batch_size], [steps, batch_size])
        return tf.data.Dataset.from_tensor_slices(
            (tf.fill([steps], epoch), tf.range(steps, dtype=tf.int64), index)
        )

    def batch_seed(epoch, step, index):
        key = tf.random.experimental.stateless_fold_in(
            _epoch_key(base_seed, epoch), 1, alg="philox"
        )
        return tf.random.experimental.stateless_fold_in(key, step, alg="philox"), index

    if num_epochs is None:
        epochs = tf.data.Dataset.counter(start=int(start_epoch))
    else:
        epochs = tf.data.Dataset.range(int(start_epoch), int(start_epoch) + int(num_epochs))
    return epochs.flat_map(epoch_batches).map(batch_seed)


def make_feature_dataset(features: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                         start_epoch: int = 0) -> tf.data.Dataset:
    """The batches of :func:`make_train_dataset` (same order for the same seed and epoch) over
    cached float feature maps ``[N, h, w, c]`` instead of images: no augmentation, no scaling.
    """
    features = np.asarray(features)
    if features.dtype.kind != "f" or features.ndim != 4 or len(features) != len(y):
        raise ValueError(f"features must be float [N, h, w, c] with one label each, got "
                         f"{features.dtype} {features.shape} and {len(y)} labels")
    if int(start_epoch) < 0:
        raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
    f_t = tf.convert_to_tensor(features, tf.float32)
    y_t = tf.convert_to_tensor(np.asarray(y, np.int32))
    ds = _epoch_batches(len(features), batch_size, seed, start_epoch, None).map(
        lambda _, index: (tf.gather(f_t, index), tf.gather(y_t, index)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())


def pipeline_options() -> tf.data.Options:
    """Options of the training and evaluation pipelines: deterministic, no autotuning.

    With tf.data's autotuning on, destroying an iterator waits for its autotuning thread
    to wake up, which Keras does at the end of every ``fit``/``evaluate`` pass (measured in
    ``bench/input_pipeline.py``: passes of ResNet20 steps took either ~3.2 s or exactly 5.1 s,
    and an epoch with validation ~9% longer; docs/benchmarks.md). The pipelines here are a
    gather and a cast per batch, which need no tuning: ``AUTOTUNE`` then means one
    parallel call per core.
    """
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return options


def make_eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Builds an evaluation pipeline: dataset order, no augmentation, last partial batch kept.

    Args:
        x: uint8 images [N, H, W, C] (or [N, H, W]).
        y: int labels [N], >= 0.
        batch_size: examples per batch, >= 1.

    Returns:
        A tf.data.Dataset of (images float32 [B, H, W, C] in [0, 1], labels int32 [B]);
        ceil(N / batch_size) batches.

    Raises:
        ValueError: bad arrays or batch_size < 1.
    """
    x, y = validate_arrays(x, y, None, "evaluation arrays")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x_t = tf.convert_to_tensor(x)
    y_t = tf.convert_to_tensor(y)

    def make_batch(start):
        stop = start + batch_size
        return tf.cast(x_t[start:stop], tf.float32) / 255.0, y_t[start:stop]

    ds = tf.data.Dataset.range(0, len(x), batch_size)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())
