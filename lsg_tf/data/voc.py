"""Photos and per-pixel class masks in the PASCAL VOC folder layout (localization data).

A VOC-layout folder holds ``JPEGImages/NAME.jpg``, ``SegmentationClass/NAME.png`` (palette or
gray PNGs of class indices) and ``classes.txt`` (the mask class names).
:func:`read_voc_folder` reads it into a :class:`VocData`; mask index :data:`VOID_INDEX` and
classes named in :data:`VOID_NAMES` are void. Needs numpy, and Pillow inside the reader.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

__all__ = ["VOID_INDEX", "VOID_NAMES", "VocData", "read_classes", "read_voc_folder"]

VOID_INDEX = 255
VOID_NAMES = ("void",)


@dataclasses.dataclass
class VocData:
    """Photos and masks of a VOC-layout folder.

    Attributes:
        ids: image names (file stems), sorted.
        images: uint8 arrays ``[H_i, W_i, 3]`` (or ``[H_i, W_i, 1]`` for gray files).
        masks: uint8 class-index arrays ``[H_i, W_i]``, same size as the image.
        class_names: mask class names; index = class index in the masks.
        void_indices: mask indices ignored in IoU (255 and classes named "void").
    """

    ids: list
    images: list
    masks: list
    class_names: list
    void_indices: tuple


def read_classes(path: str) -> list:
    """Reads ``classes.txt``: one name per line (index = line number) or ``index name`` lines.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: on an empty file or inconsistent indices.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: a VOC folder needs classes.txt")
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise ValueError(f"{path}: no class names; expected one name per line")
    names = {}
    for number, line in enumerate(lines):
        head, _, rest = line.partition(" ")
        if head.isdigit() and rest.strip():
            index, name = int(head), rest.strip()
        else:
            index, name = number, line
        if index in names:
            raise ValueError(f"{path}: class index {index} appears twice")
        names[index] = name
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{path}: class indices must be 0..{len(names) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(names))]


def read_voc_folder(voc_dir: str, max_images: int | None = None) -> VocData:
    """Reads ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` and ``classes.txt``.

    Masks are palette ("P") or gray ("L") PNGs whose pixel values are class indices; 255 and
    classes named "void" are void. Only images with a mask are read (sorted by name).

    Args:
        voc_dir: the folder.
        max_images: read at most this many images (the first ones by name).

    Raises:
        FileNotFoundError: missing folder, classes.txt or no image with a mask.
        ValueError: a mask in another mode, of another size than its image, or with an index
            outside the class list.
    """
    from PIL import Image

    image_dir = os.path.join(voc_dir, "JPEGImages")
    mask_dir = os.path.join(voc_dir, "SegmentationClass")
    for folder in (image_dir, mask_dir):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder} is missing: expected a VOC-layout folder")
    class_names = read_classes(os.path.join(voc_dir, "classes.txt"))
    void = tuple(sorted({VOID_INDEX} | {i for i, n in enumerate(class_names)
                                        if n.lower() in VOID_NAMES}))
    stems = sorted(os.path.splitext(n)[0] for n in os.listdir(mask_dir) if n.endswith(".png"))
    stems = [s for s in stems if os.path.exists(os.path.join(image_dir, s + ".jpg"))]
    if not stems:
        raise FileNotFoundError(
            f"{voc_dir}: no JPEGImages/NAME.jpg with a SegmentationClass/NAME.png")
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images!r}")
        stems = stems[:max_images]
    images, masks = [], []
    for stem in stems:
        mask_path = os.path.join(mask_dir, stem + ".png")
        with Image.open(mask_path) as mask_file:
            if mask_file.mode not in ("P", "L"):
                raise ValueError(f"{mask_path}: mode {mask_file.mode!r}; expected a palette "
                                 "('P') or gray ('L') PNG of class indices")
            mask = np.array(mask_file)  # uint8 class indices
        with Image.open(os.path.join(image_dir, stem + ".jpg")) as image_file:
            image = np.array(image_file.convert("L" if image_file.mode == "L" else "RGB"))
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[:2] != mask.shape:
            raise ValueError(f"{mask_path}: mask size {mask.shape} differs from its image "
                             f"{image.shape[:2]}")
        bad = np.setdiff1d(np.unique(mask), np.array(list(range(len(class_names))) + [VOID_INDEX]))
        if bad.size:
            raise ValueError(f"{mask_path}: class indices {bad.tolist()} outside 0.."
                             f"{len(class_names) - 1} and {VOID_INDEX} (classes.txt)")
        images.append(image)
        masks.append(mask)
    return VocData(ids=stems, images=images, masks=masks, class_names=class_names,
                   void_indices=void)
