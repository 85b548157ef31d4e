"""In-memory image data sets and deterministic, resumable tf.data input pipelines.

The data sets used for LSG training (Fashion-MNIST, CIFAR-10/100 and the 128x128 PASCAL VOC
object crops of paper Section 4, "Training setting") fit in memory, so every loader returns uint8
numpy arrays wrapped in an :class:`ImageSplits`. Training pipelines are built on top of those
arrays with *stateless*, epoch-indexed randomness: the example order and the augmentation of epoch
``e`` depend only on ``(seed, e)``, so a run resumed at epoch ``e`` sees exactly the batches an
uninterrupted run would have seen.

Loaders:

* :func:`load_fashion_mnist` reads the four original IDX files (gzip-compressed or raw), e.g. from
  the Debian/Ubuntu package ``dataset-fashion-mnist`` (no network needed).
* :func:`load_image_folder` reads a ``<root>/{train,test}/<class>/<image>`` tree.
* :func:`load_tfds` reads an already prepared TensorFlow Datasets data set, never downloading.
* :func:`load_dataset` dispatches on a data set name.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Sequence
from typing import NoReturn

import numpy as np
import tensorflow as tf

__all__ = [
    "AUGMENTATIONS",
    "CROP_PADDING",
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_DEFAULT_DIR",
    "IMAGE_EXTENSIONS",
    "TFDS_BARE_NAMES",
    "ImageSplits",
    "apply_subsets",
    "default_augmentation",
    "load_dataset",
    "load_fashion_mnist",
    "load_image_folder",
    "load_tfds",
    "make_eval_dataset",
    "make_train_dataset",
    "read_idx",
    "steps_per_epoch",
    "stratified_subset",
    "validate_arrays",
]

_LOG = logging.getLogger(__name__)

AUGMENTATIONS = ("none", "flip", "crop", "crop_flip")
# Data sets whose classes are not mirror-symmetric (digits, letters): never flipped by "auto".
NO_FLIP_DATASETS = ("mnist", "emnist", "kmnist")
"""Allowed values of the ``augment`` argument of :func:`make_train_dataset`."""

CROP_PADDING = 4
"""Zero padding (pixels per side) before the random crop of the ``crop_flip`` augmentation."""

FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
"""Where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs the IDX files."""

FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
"""File extensions (case-insensitive) read by :func:`load_image_folder`."""

TFDS_BARE_NAMES = ("cifar10", "cifar100", "mnist")
"""TFDS data sets that :func:`load_dataset` accepts without the ``tfds:`` prefix."""

_OFFLINE_HINT = (
    "offline options: --dataset=fashion_mnist (Debian package dataset-fashion-mnist), "
    "--dataset=image_folder --data_dir=<root with train/<class>/ and test/<class>/>, "
    "or prepare the TFDS data with network access first (tfds.load(name, data_dir=...))"
)

_CACHE_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# Validation and the ImageSplits container.
# --------------------------------------------------------------------------------------------


def validate_arrays(
    x: np.ndarray, y: np.ndarray, num_classes: int | None, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Checks an image/label pair and returns it in canonical form.

    Args:
        x: uint8 images, shape [N, H, W, C] with C in {1, 3}, or [N, H, W] (gray; a channel axis
            is added).
        y: integer labels, shape [N].
        num_classes: if given, labels must lie in [0, num_classes); otherwise they must be >= 0.
        what: name of the arrays used in error messages (e.g. "train split of cifar10").

    Returns:
        (x, y): x uint8 [N, H, W, C] (a view of the input when possible), y int32 [N].

    Raises:
        ValueError: on a wrong rank, channel count, dtype, length mismatch, empty arrays or labels
            outside the allowed range.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise ValueError(
            f"{what}: images must have shape [N, H, W, C] or [N, H, W], got shape {x.shape}"
        )
    if x.shape[-1] not in (1, 3):
        raise ValueError(
            f"{what}: images must have 1 or 3 channels, got {x.shape[-1]} (shape {x.shape})"
        )
    if x.dtype != np.uint8:
        raise ValueError(f"{what}: images must be uint8 in [0, 255], got dtype {x.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{what}: labels must have shape [N], got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} images but {len(y)} labels; lengths must be equal")
    if len(x) == 0:
        raise ValueError(f"{what}: no examples (empty split)")
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{what}: images must have positive height and width, got {x.shape}")
    low, high = int(y.min()), int(y.max())
    if num_classes is not None:
        if num_classes < 1:
            raise ValueError(f"{what}: num_classes must be >= 1, got {num_classes}")
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"{what}: label {bad} is outside [0, {num_classes}) for {num_classes} classes"
            )
    elif low < 0 or high > np.iinfo(np.int32).max:
        bad = low if low < 0 else high
        raise ValueError(f"{what}: label {bad} is outside [0, 2**31 - 1]")
    return x, y.astype(np.int32, copy=False)


@dataclasses.dataclass(frozen=True, eq=False)
class ImageSplits:
    """A labelled image classification data set held in memory.

    Arrays are validated and canonicalised on construction (gray [N, H, W] images get a channel
    axis, labels become int32). ``eq=False`` keeps identity comparison: element-wise array
    comparison has no single truth value.

    Attributes:
        name: data set name, e.g. "fashion_mnist" or "cifar10".
        x_train: uint8 [N_train, H, W, C], C in {1, 3}.
        y_train: int32 [N_train], values in [0, num_classes).
        x_test: uint8 [N_test, H, W, C], same H, W, C as x_train.
        y_test: int32 [N_test], values in [0, num_classes).
        class_names: one name per class; label c is class_names[c].
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        class_names = tuple(str(c) for c in self.class_names)
        if not class_names:
            raise ValueError(f"data set {self.name!r}: class_names is empty; need >= 1 class")
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"data set {self.name!r}: duplicate class names in {class_names}")
        num_classes = len(class_names)
        x_train, y_train = validate_arrays(
            self.x_train, self.y_train, num_classes, f"train split of {self.name}"
        )
        x_test, y_test = validate_arrays(
            self.x_test, self.y_test, num_classes, f"test split of {self.name}"
        )
        if x_train.shape[1:] != x_test.shape[1:]:
            raise ValueError(
                f"data set {self.name!r}: train images are {x_train.shape[1:]} but test images "
                f"are {x_test.shape[1:]}; both splits must share one [H, W, C]"
            )
        object.__setattr__(self, "class_names", class_names)
        object.__setattr__(self, "x_train", x_train)
        object.__setattr__(self, "y_train", y_train)
        object.__setattr__(self, "x_test", x_test)
        object.__setattr__(self, "y_test", y_test)

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        h, w, c = self.x_train.shape[1:]
        return int(h), int(w), int(c)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and (population) standard deviation of x_train in [0, 1] units.

        Computed exactly from per-channel 256-bin histograms, accumulated over chunks of images,
        so it needs no float copy of the data set.

        Returns:
            (mean, std): two lists of C floats.
        """
        num_channels = self.x_train.shape[-1]
        histograms = np.zeros((num_channels, 256), dtype=np.int64)
        chunk = 4096
        for start in range(0, len(self.x_train), chunk):
            pixels = self.x_train[start : start + chunk].reshape(-1, num_channels)
            for c in range(num_channels):
                histograms[c] += np.bincount(pixels[:, c], minlength=256)
        levels = np.arange(256, dtype=np.float64) / 255.0
        means, stds = [], []
        for c in range(num_channels):
            counts = histograms[c].astype(np.float64)
            total = counts.sum()
            mean = float((counts * levels).sum() / total)
            var = float((counts * (levels - mean) ** 2).sum() / total)
            means.append(mean)
            stds.append(float(np.sqrt(var)))
        return means, stds


# --------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX files).
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (the MNIST/Fashion-MNIST format), gzip-compressed or raw.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions D, D big-endian uint32 sizes, then the
    row-major data. Compression is detected from the gzip magic bytes, not the file name.

    Args:
        path: file path.

    Returns:
        Array of the stored shape (e.g. uint8 [N, 28, 28] for images, uint8 [N] for labels).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is not a well-formed IDX file.
    """
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            try:
                data = gzip.decompress(f.read())
            except (OSError, EOFError) as e:
                raise ValueError(f"{path}: corrupt gzip data ({e})") from None
        else:
            data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (expected magic bytes 00 00 <type> <ndim>)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        allowed = ", ".join(f"0x{k:02X}" for k in _IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X}; allowed: {allowed}")
    header = 4 + 4 * ndim
    if ndim < 1 or len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions, {len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header declares shape {shape} ({expected} data bytes) but the file "
            f"holds {len(data) - header} data bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False
    )


def _find_idx_file(data_dir: str, stem: str) -> str:
    for candidate in (stem + ".gz", stem):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}.gz (or {stem}) not found in {data_dir}; install the "
        f"Debian/Ubuntu package dataset-fashion-mnist (files go to {FASHION_MNIST_DEFAULT_DIR}) "
        f"or pass data_dir=<folder with the four IDX files>"
    )


def load_fashion_mnist(data_dir: str | None = None) -> ImageSplits:
    """Loads Fashion-MNIST from its four original IDX files.

    Args:
        data_dir: folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
            t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally with ".gz".
            Defaults to FASHION_MNIST_DEFAULT_DIR (Debian package dataset-fashion-mnist).

    Returns:
        ImageSplits "fashion_mnist": uint8 [60000, 28, 28, 1] train and [10000, 28, 28, 1] test
        images for the real files, 10 classes (FASHION_MNIST_CLASS_NAMES).

    Raises:
        FileNotFoundError: a file is missing (the message names it and how to install it).
        ValueError: a file is malformed, image and label counts differ, or a label is not in
            [0, 10).
    """
    data_dir = FASHION_MNIST_DEFAULT_DIR if data_dir is None else data_dir
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path = _find_idx_file(data_dir, f"{prefix}-images-idx3-ubyte")
        labels_path = _find_idx_file(data_dir, f"{prefix}-labels-idx1-ubyte")
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(
                f"{images_path}: expected uint8 images of shape [N, H, W], got {images.dtype} "
                f"{images.shape}"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"{labels_path}: expected integer labels of shape [N], got {labels.dtype} "
                f"{labels.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} holds {len(images)} images but {labels_path} holds "
                f"{len(labels)} labels; counts must be equal"
            )
        if len(labels) and int(labels.max()) >= len(FASHION_MNIST_CLASS_NAMES):
            raise ValueError(
                f"{labels_path}: label {int(labels.max())} is outside [0, "
                f"{len(FASHION_MNIST_CLASS_NAMES)})"
            )
        arrays[split] = (images[..., np.newaxis], labels.astype(np.int32))
    return ImageSplits(
        name="fashion_mnist",
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        x_test=arrays["test"][0],
        y_test=arrays["test"][1],
        class_names=FASHION_MNIST_CLASS_NAMES,
    )


# --------------------------------------------------------------------------------------------
# Image folder trees.
# --------------------------------------------------------------------------------------------


def _list_classes(split_dir: str) -> list[str]:
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(
            f"image folder split {split_dir} does not exist; expected <root>/train/<class>/* and "
            f"<root>/test/<class>/*"
        )
    classes = sorted(
        e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")
    )
    if not classes:
        raise ValueError(f"image folder split {split_dir} has no class folders")
    bad = [c for c in classes if not c.isprintable()]
    if bad:
        raise ValueError(f"image folder split {split_dir}: class folder name {bad[0]!r} has a "
                         "newline or other unprintable character; rename the folder")
    return classes


def _list_images(class_dir: str) -> list[str]:
    files = sorted(
        e.name
        for e in os.scandir(class_dir)
        if e.is_file()
        and not e.name.startswith(".")
        and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise ValueError(
            f"class folder {class_dir} holds no image files (allowed extensions: "
            f"{', '.join(IMAGE_EXTENSIONS)})"
        )
    return [os.path.join(class_dir, f) for f in files]


def _cache_key(root: str, image_size, files: dict[str, list[str]]) -> str:
    digest = hashlib.sha256()
    header = {"version": _CACHE_FORMAT_VERSION, "root": root, "image_size": image_size}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for split in ("train", "test"):
        for path in files[split]:
            st = os.stat(path)
            entry = f"\n{os.path.relpath(path, root)}\t{st.st_mtime_ns}\t{st.st_size}"
            digest.update(entry.encode())
    return digest.hexdigest()


def resize_images(images: tf.Tensor, size) -> tf.Tensor:
    """The one resize of the project: uint8 ``[..., H, W, C]`` -> uint8 ``[..., h, w, C]``.

    Bilinear with antialiasing, rounded back to uint8. Image-folder training data and the
    exported serving graph both resize with it, so a photo sent to TF Serving is
    downsampled exactly as the training images were.
    """
    resized = tf.image.resize(images, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _decode_files(
    paths: Sequence[str], image_size: tuple[int, int] | None, desc: str
) -> list[np.ndarray]:
    """Decodes image files in parallel; returns uint8 [H, W, C] arrays in input order."""
    from tqdm import tqdm  # Imported here so that importing the package stays light.

    def decode(path):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=0, dtype=tf.uint8, expand_animations=False
        )
        if image_size is not None:
            image = resize_images(image, image_size)
        return image

    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    images: list[np.ndarray] = []
    iterator = iter(ds.as_numpy_iterator())
    with tqdm(total=len(paths), desc=desc, unit="img", mininterval=1.0) as bar:
        while True:
            try:
                image = next(iterator)
            except StopIteration:
                break
            except tf.errors.OpError as e:
                _raise_decode_error(paths, len(images), e)
            images.append(image)
            bar.update(1)
    return images


def _raise_decode_error(paths: Sequence[str], position: int, error: Exception) -> NoReturn:
    """Finds the first undecodable file from `position` on and raises a ValueError naming it."""
    for path in paths[position:]:
        try:
            tf.io.decode_image(
                tf.io.read_file(path), channels=0, dtype=tf.uint8, expand_animations=False
            )
        except tf.errors.OpError as e:
            message = e.message.splitlines()[0] if e.message else type(e).__name__
            raise ValueError(f"cannot decode image file {path}: {message}") from None
    raise ValueError(f"cannot decode image file near {paths[position]}: {error}") from None


def _stack_images(
    images: list[np.ndarray],
    paths: Sequence[str],
    channels: int,
    reference: tuple[int, int],
    reference_path: str,
) -> np.ndarray:
    """Stacks decoded images into uint8 [N, H, W, channels], expanding gray to RGB if needed."""
    h, w = reference
    out = np.empty((len(images), h, w, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        if image.shape[:2] != (h, w):
            raise ValueError(
                f"image file {paths[i]} is {image.shape[0]}x{image.shape[1]} but "
                f"{reference_path} is {h}x{w}; all images must share one size unless "
                f"image_size=(H, W) is given"
            )
        out[i] = image  # Broadcasts a 1-channel image to 3 channels when channels == 3.
    return out


def load_image_folder(
    root: str,
    image_size: tuple[int, int] | None = None,
    cache_dir: str | None = None,
) -> ImageSplits:
    """Loads an image-folder tree ``<root>/{train,test}/<class>/<image>`` into memory.

    Class names are the sorted sub-folder names of ``<root>/train`` (label c is the c-th name) and
    must equal those of ``<root>/test``. Files with the extensions in IMAGE_EXTENSIONS
    (case-insensitive) are decoded with ``tf.io.decode_image`` (first frame of an animated GIF);
    other files and hidden entries are ignored. Images keep their channel count (1 or 3); if any
    image has 3 channels, gray images are repeated to RGB so that all share 3 channels.

    Args:
        root: the tree's root folder.
        image_size: (H, W) to resize every image to (bilinear with antialiasing, rounded to
            uint8); None requires all images to share one size.
        cache_dir: if given, decoded arrays are cached there as .npz, keyed by a hash of the root
            path, image_size and every file's relative path, mtime and size; a later call with
            unchanged files loads the cache instead of decoding.

    Returns:
        ImageSplits named after the root folder's base name, uint8 [N, H, W, C] images.

    Raises:
        FileNotFoundError: root, root/train or root/test is missing.
        ValueError: an empty or missing class folder, differing train/test classes, an
            undecodable file or one with 2 or 4 channels (the message names it), or images of
            different sizes without image_size.
    """
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder root {root} does not exist")
    if image_size is not None:
        if len(image_size) != 2 or any(int(s) < 1 for s in image_size):
            raise ValueError(f"image_size must be (H, W) with H, W >= 1, got {image_size}")
        image_size = (int(image_size[0]), int(image_size[1]))
    train_classes = _list_classes(os.path.join(root, "train"))
    test_classes = _list_classes(os.path.join(root, "test"))
    if train_classes != test_classes:
        only_train = sorted(set(train_classes) - set(test_classes))
        only_test = sorted(set(test_classes) - set(train_classes))
        raise ValueError(
            f"image folder {root}: test classes differ from train classes (only in train: "
            f"{only_train}, only in test: {only_test}); both splits need the same class folders"
        )
    files: dict[str, list[str]] = {}
    labels: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        per_class = [_list_images(os.path.join(root, split, c)) for c in train_classes]
        files[split] = [p for paths in per_class for p in paths]
        labels[split] = np.repeat(
            np.arange(len(train_classes), dtype=np.int32), [len(p) for p in per_class]
        )
    name = os.path.basename(root.rstrip(os.sep)) or "image_folder"

    cache_path = None
    if cache_dir is not None:
        key = _cache_key(root, image_size, files)
        cache_path = os.path.join(cache_dir, f"image_folder-{name}-{key[:20]}.npz")
        if os.path.isfile(cache_path):
            try:
                with np.load(cache_path, allow_pickle=False) as z:
                    return ImageSplits(
                        name=name,
                        x_train=z["x_train"],
                        y_train=z["y_train"],
                        x_test=z["x_test"],
                        y_test=z["y_test"],
                        class_names=tuple(str(c) for c in z["class_names"]),
                    )
            except (OSError, KeyError, ValueError) as e:
                _LOG.warning("ignoring unreadable cache %s (%s); decoding again", cache_path, e)

    decoded = {
        split: _decode_files(files[split], image_size, f"decoding {name}/{split}")
        for split in ("train", "test")
    }
    channels = set()
    for split in ("train", "test"):
        for path, image in zip(files[split], decoded[split]):
            if image.shape[-1] not in (1, 3):
                raise ValueError(
                    f"image file {path} has {image.shape[-1]} channels; allowed: 1 (gray) or 3 "
                    f"(RGB), convert images with an alpha channel first"
                )
            channels.add(image.shape[-1])
    num_channels = 3 if 3 in channels else 1
    # Sizes are checked against the first train image, so train and test agree too.
    reference = tuple(decoded["train"][0].shape[:2])
    arrays = {}
    for split in ("train", "test"):
        arrays[split] = _stack_images(
            decoded[split], files[split], num_channels, reference, files["train"][0]
        )
        decoded[split] = []  # Free the per-image arrays early.
    splits = ImageSplits(
        name=name,
        x_train=arrays["train"],
        y_train=labels["train"],
        x_test=arrays["test"],
        y_test=labels["test"],
        class_names=tuple(train_classes),
    )
    if cache_path is not None:
        _write_cache(cache_path, splits)
    return splits


def _write_cache(cache_path: str, splits: ImageSplits) -> None:
    cache_dir = os.path.dirname(cache_path)
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                x_train=splits.x_train,
                y_train=splits.y_train,
                x_test=splits.x_test,
                y_test=splits.y_test,
                class_names=np.array(splits.class_names, dtype=str),
            )
        os.chmod(tmp_path, 0o644)  # mkstemp creates 0600 files.
        os.replace(tmp_path, cache_path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


# --------------------------------------------------------------------------------------------
# TensorFlow Datasets.
# --------------------------------------------------------------------------------------------


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


def load_dataset(
    name: str,
    data_dir: str | None = None,
    image_size: tuple[int, int] | None = None,
    cache_dir: str | None = None,
) -> ImageSplits:
    """Loads a data set by name.

    Allowed names:
        * "fashion_mnist": IDX files in data_dir (default FASHION_MNIST_DEFAULT_DIR); offline.
        * "image_folder": load_image_folder(data_dir, image_size, cache_dir); data_dir required.
        * "tfds:<name>" or a bare name in TFDS_BARE_NAMES ("cifar10", "cifar100", "mnist"):
          load_tfds(name, data_dir), which never downloads.

    Args:
        name: one of the forms above.
        data_dir: data folder (meaning depends on the form, see above).
        image_size: (H, W) resize target; only supported for "image_folder".
        cache_dir: decoded-array cache folder; only used by "image_folder".

    Returns:
        The loaded ImageSplits.

    Raises:
        ValueError: unknown name, missing data_dir for "image_folder", image_size for another
            data set, or any loader error.
    """
    allowed = (
        f"'fashion_mnist', 'image_folder' (with data_dir), 'tfds:<name>', or one of "
        f"{', '.join(repr(n) for n in TFDS_BARE_NAMES)}"
    )
    if name != "image_folder" and image_size is not None:
        raise ValueError(
            f"image_size={image_size} is only supported for dataset 'image_folder', not {name!r}"
        )
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir)
    if name == "image_folder":
        if not data_dir:
            raise ValueError("dataset 'image_folder' needs data_dir=<root with train/ and test/>")
        return load_image_folder(data_dir, image_size=image_size, cache_dir=cache_dir)
    if name.startswith("tfds:") and len(name) > len("tfds:"):
        return load_tfds(name[len("tfds:"):], data_dir)
    if name in TFDS_BARE_NAMES:
        return load_tfds(name, data_dir)
    raise ValueError(f"unknown dataset {name!r}; allowed: {allowed}")


# --------------------------------------------------------------------------------------------
# Subsets.
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# tf.data pipelines.
# --------------------------------------------------------------------------------------------


def default_augmentation(splits: ImageSplits) -> str:
    """"crop_flip" for 32x32 RGB (CIFAR-like) and 28x28 gray images, "flip" otherwise;
    never a flip for data sets whose classes are not mirror-symmetric (``NO_FLIP_DATASETS``:
    "crop" for their sizes, "none" otherwise)."""
    no_flip = splits.name.split(":validation")[0].split("/")[0] in NO_FLIP_DATASETS
    if splits.image_shape in ((32, 32, 3), (28, 28, 1)):
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


def _augment_batch(images: tf.Tensor, seed: tf.Tensor, augment: str) -> tf.Tensor:
    """Random crop after zero padding and/or horizontal flip of a uint8 batch.

    Each example gets its own offsets and flip, drawn from one stateless (Philox) draw seeded by
    `seed`; both are applied as one pair of index gathers.

    Args:
        images: uint8 [B, H, W, C] with static B, H, W.
        seed: int64 [2] stateless seed.
        augment: one of AUGMENTATIONS.

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
        images = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
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
          Zero padding (not reflection) is the choice here, as in He et al.

    The arrays are held once in memory as tensors; each batch is gathered from them by index.

    Args:
        x: uint8 images [N, H, W, C] (or [N, H, W]).
        y: int labels [N], >= 0.
        batch_size: examples per batch, 1 <= batch_size <= N.
        seed: integer seed (int64 range).
        augment: one of AUGMENTATIONS.
        start_epoch: index of the first epoch, >= 0.
        num_epochs: number of epochs, >= 1, or None for an infinite dataset.

    Returns:
        A tf.data.Dataset of (images float32 [B, H, W, C] in [0, 1], labels int32 [B]) with a
        static batch dimension B = batch_size.

    Raises:
        ValueError: bad arrays, batch_size, augment, start_epoch or num_epochs.
    """
    x, y = validate_arrays(x, y, None, "training arrays")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment={augment!r} is not one of {AUGMENTATIONS}")
    steps = steps_per_epoch(len(x), batch_size)
    if int(start_epoch) < 0:
        raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
    if num_epochs is not None and int(num_epochs) < 1:
        raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
    if not -(2**63) <= int(seed) < 2**63:
        raise ValueError(f"seed must fit in int64, got {seed}")
    n = len(x)
    x_t = tf.convert_to_tensor(x)
    y_t = tf.convert_to_tensor(y)
    base_seed = tf.constant([int(seed), 0], dtype=tf.int64)

    def epoch_batches(epoch):
        key = _epoch_key(base_seed, epoch)
        order_seed = tf.random.experimental.stateless_fold_in(key, 0, alg="philox")
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=order_seed, alg="philox")
        index = tf.reshape(order[: steps * batch_size], [steps, batch_size])
        return tf.data.Dataset.from_tensor_slices(
            (tf.fill([steps], epoch), tf.range(steps, dtype=tf.int64), index)
        )

    def make_batch(epoch, step, index):
        key = tf.random.experimental.stateless_fold_in(
            _epoch_key(base_seed, epoch), 1, alg="philox"
        )
        batch_seed = tf.random.experimental.stateless_fold_in(key, step, alg="philox")
        images = _augment_batch(tf.gather(x_t, index), batch_seed, augment)
        images = tf.cast(images, tf.float32) / 255.0
        return images, tf.gather(y_t, index)

    if num_epochs is None:
        epochs = tf.data.Dataset.counter(start=int(start_epoch))
    else:
        epochs = tf.data.Dataset.range(int(start_epoch), int(start_epoch) + int(num_epochs))
    ds = epochs.flat_map(epoch_batches)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
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
