"""Image-folder trees ``<root>/{train,test}/<class>/<image>`` read into memory.

:func:`load_image_folder` decodes the files in parallel with tf.data (resizing them with
:func:`lsg_tf.data.pipeline.resize_images` when asked) and optionally caches the decoded
arrays as ``.npz`` keyed by the files' paths, sizes and modification times.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from typing import NoReturn

import numpy as np
import tensorflow as tf

from lsg_tf.data.pipeline import resize_images
from lsg_tf.data.splits import ImageSplits

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder"]

_LOG = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
"""File extensions (case-insensitive) read by :func:`load_image_folder`."""

_CACHE_FORMAT_VERSION = 1


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
        cached = _read_cache(cache_path, name)
        if cached is not None:
            return cached

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


def _read_cache(cache_path: str, name: str) -> ImageSplits | None:
    """The ImageSplits cached at cache_path by :func:`_write_cache`, or None (missing or
    unreadable: a warning, and the caller decodes again)."""
    if not os.path.isfile(cache_path):
        return None
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
        return None


def _write_cache(cache_path: str, splits: ImageSplits) -> None:
    """Writes splits to cache_path as .npz via a temporary file and a rename (never half
    written)."""
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
