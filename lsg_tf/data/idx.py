"""Fashion-MNIST from its original IDX files (gzip-compressed or raw), no network needed.

:func:`read_idx` reads one IDX file (the MNIST format); :func:`load_fashion_mnist` reads the
four files, e.g. from the Debian/Ubuntu package ``dataset-fashion-mnist``
(:data:`FASHION_MNIST_DEFAULT_DIR`). Needs numpy only.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from lsg_tf.data.splits import ImageSplits

__all__ = [
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_DEFAULT_DIR",
    "load_fashion_mnist",
    "read_idx",
]

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
