"""Image files read for a TF Serving request: png/jpg/npy to one uint8 batch, channels converted."""

from __future__ import annotations

import os

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".npy")


# ITU-R 601-2 luma, as PIL's convert("L").
_LUMA = np.array([0.299, 0.587, 0.114])


def convert_channels(images: np.ndarray, channels: int | None, name: str = "images") -> np.ndarray:
    """Converts the channel axis of uint8 images.

    Args:
        images: uint8 ``[..., h, w, C]`` with C in {1, 3, 4} (a 4th channel is alpha and
            is dropped).
        channels: 1 (gray, ITU-R 601 luma of RGB), 3 (RGB; gray is repeated) or None
            (keep, only alpha is dropped).
        name: what to call ``images`` in error messages.

    Returns:
        uint8 ``[..., h, w, channels]``.

    Raises:
        ValueError: ``channels`` not in {None, 1, 3} or C not in {1, 3, 4}.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3 (or unset), got {channels!r}")
    count = images.shape[-1]
    if count not in (1, 3, 4):
        raise ValueError(f"{name}: {count} channels, expected 1 (gray), 3 (RGB) or 4 (RGBA)")
    if count == 4:
        images, count = images[..., :3], 3
    if channels is None or channels == count:
        return np.ascontiguousarray(images)
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luma = np.rint(images.astype(np.float64) @ _LUMA)
    return np.clip(luma, 0, 255).astype(np.uint8)[..., None]


def read_images(paths, channels: int | None = None) -> tuple[list[str], np.ndarray]:
    """Reads image files into one uint8 batch.

    Args:
        paths: png/jpg files (one image each) and/or ``.npy`` uint8 arrays
            (``[N, h, w, C]``, ``[h, w, C]`` or ``[h, w]``).
        channels: see :func:`convert_channels`.

    Returns:
        ``(names, batch)``: one name per image (``file`` or ``file[i]`` for ``.npy``
        batches) and uint8 ``[N, h, w, C]``.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: no files, unsupported extension, unreadable file, non-uint8 array,
            or images of different sizes / channel counts.
    """
    paths = [p for p in paths if p]
    if not paths:
        raise ValueError("no images given: pass --images=a.png,b.jpg (png, jpg or .npy)")
    names, arrays = [], []
    for path in paths:
        extension = os.path.splitext(path)[1].lower()
        if extension not in IMAGE_EXTENSIONS:
            raise ValueError(f"image file {path}: unsupported extension {extension!r}, "
                             f"allowed {', '.join(IMAGE_EXTENSIONS)}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image file {path} does not exist")
        if extension == ".npy":
            batch = _read_npy(path)
            names += [f"{path}[{i}]" for i in range(len(batch))]
            arrays += [convert_channels(image, channels, path) for image in batch]
        else:
            names.append(path)
            arrays.append(convert_channels(_read_picture(path), channels, path))
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        listing = ", ".join(f"{n} {a.shape[0]}x{a.shape[1]}" for n, a in zip(names, arrays))
        raise ValueError(f"images have different sizes ({listing}): one request needs one "
                         "height x width, send them in separate calls")
    counts = {a.shape[2] for a in arrays}
    if len(counts) > 1:
        listing = ", ".join(f"{n} {a.shape[2]}" for n, a in zip(names, arrays))
        raise ValueError(f"images have different channel counts ({listing}): pass "
                         "--channels=1 or --channels=3")
    return names, np.stack(arrays)


def _read_picture(path: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise ValueError(f"image file {path}: {image.mode} pixels (16-bit or float), "
                                 "only 8-bit images are supported")
            image = image.convert("L" if image.mode in ("1", "L", "LA") else "RGB")
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"image file {path} is unreadable: {one_line(e)}") from None
    return array[..., None] if array.ndim == 2 else array


def _read_npy(path: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"image file {path} is unreadable: {one_line(e)}") from None
    if array.dtype != np.uint8:
        raise ValueError(f"image file {path}: dtype {array.dtype}, expected uint8 pixels 0-255")
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        array = array[None]
    elif array.ndim != 4:
        raise ValueError(f"image file {path}: shape {array.shape}, expected [N, h, w, C], "
                         "[h, w, C] or [h, w]")
    if len(array) == 0:
        raise ValueError(f"image file {path} holds no images")
    return array


def one_line(value) -> str:
    """``value`` (text or bytes) on one line, whitespace runs collapsed."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())
