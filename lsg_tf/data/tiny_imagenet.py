"""Tiny ImageNet (Le and Yang, 2015) in its own folder layout, with its bounding boxes.

The layout of the release (any subset of its 200 classes)::

    wnids.txt                       one WordNet id (wnid) per line: the classes
    words.txt                       wnid<TAB>names, comma-separated (may list more wnids)
    train/<wnid>/images/*.JPEG      the training images of a class
    train/<wnid>/<wnid>_boxes.txt   file<TAB>x0<TAB>y0<TAB>x1<TAB>y1 per training image
    val/images/*.JPEG               the validation images of all classes
    val/val_annotations.txt         file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1 per image

:func:`load_tiny_imagenet` reads train/ as the train split and val/ as the test split (the
release's test images have no labels) into an :class:`~lsg_tf.data.splits.ImageSplits`.
ImageSplits holds no per-image metadata (and subsets rebuild it with ``dataclasses.replace``),
so the boxes come separately, from :func:`load_tiny_imagenet_boxes`, in exactly the order of
the split's images. Box corners are inclusive pixel coordinates, ``0 <= x0 <= x1 < W`` and
``0 <= y0 <= y1 < H``, as in the annotation files.

Labels follow the *sorted* wnids (:func:`read_wnids`), not the line order of wnids.txt: the
order of an image-folder reader over train/ and of the ImageNet-1k class indices (ImageNet-1k
numbers its classes by sorted wnid), whatever order a wnids.txt lists them in.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

import numpy as np

from lsg_tf.data.image_folder import (
    IMAGE_EXTENSIONS,
    _cache_key,
    _decode_files,
    _read_cache,
    _stack_images,
    _write_cache,
)
from lsg_tf.data.splits import ImageSplits

__all__ = [
    "TinyImageNetBoxes",
    "load_tiny_imagenet",
    "load_tiny_imagenet_boxes",
    "read_class_names",
    "read_wnids",
]

NAME = "tiny_imagenet"
SPLITS = ("train", "test")
"""Split names of :func:`load_tiny_imagenet_boxes`: "train" (train/) and "test" (val/)."""

_INTEGER = re.compile(r"\s*-?[0-9]+\s*")


@dataclasses.dataclass(frozen=True, eq=False)
class TinyImageNetBoxes:
    """The bounding boxes of one split, in the order of that split's images.

    Attributes:
        files: image paths relative to the data folder, e.g. "val/images/val_14.JPEG".
        labels: int32 [N], equal to the split's labels (wnids[label] is the class).
        boxes: int32 [N, 4], (x0, y0, x1, y1) inclusive pixel corners.
        wnids: the classes' wnids; label c is wnids[c].
    """

    files: tuple[str, ...]
    labels: np.ndarray
    boxes: np.ndarray
    wnids: tuple[str, ...]


@dataclasses.dataclass
class _Split:
    paths: list[str]  # absolute image paths
    labels: np.ndarray  # int32 [N]
    boxes: np.ndarray  # int32 [N, 4]
    lines: list[str]  # "<annotation file>, line <n>" of each image


@dataclasses.dataclass
class _Index:
    root: str
    wnids: tuple[str, ...]
    splits: dict[str, _Split]
    annotation_files: list[str]  # every text file read, for the cache key


def _lines(path: str, what: str):
    """Yields (line number, line without its end) of a text file, skipping blank lines."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Tiny ImageNet {what} {path} does not exist")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise ValueError(f"{path}, line {number}: not UTF-8 text") from None
            if line.strip():
                yield number, line


def _read_wnid_lines(root: str) -> list[str]:
    path = os.path.join(root, "wnids.txt")
    wnids: dict[str, int] = {}
    for number, line in _lines(path, "class list"):
        wnid = line.strip()
        if not wnid.isprintable() or len(wnid.split()) != 1:
            raise ValueError(f"{path}, line {number}: expected one wnid per line, got {line!r}")
        if wnid in wnids:
            raise ValueError(f"{path}, line {number}: wnid {wnid} repeats line {wnids[wnid]}")
        wnids[wnid] = number
    if not wnids:
        raise ValueError(f"{path} lists no wnid; expected one wnid per line")
    return list(wnids)


def read_wnids(data_dir: str, classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The wnids of a Tiny ImageNet folder in label order: sorted, label c is wnids[c].

    Args:
        data_dir: the folder holding wnids.txt.
        classes: if given, keep only these wnids (each must be in wnids.txt); still sorted.

    Raises:
        FileNotFoundError: wnids.txt is missing.
        ValueError: a malformed or repeated line, or a bad `classes`.
        TypeError: `classes` is a string, not a list of wnids.
    """
    root = os.path.abspath(os.fspath(data_dir))
    return _select_wnids(root, sorted(_read_wnid_lines(root)), classes)


def _select_wnids(root: str, listed: list[str], classes: Sequence[str] | None) -> tuple[str, ...]:
    if classes is None:
        return tuple(listed)
    if isinstance(classes, str):
        raise TypeError(f"classes must be a list of wnids, got the string {classes!r}")
    wanted = [str(c) for c in classes]
    if not wanted:
        raise ValueError("classes is empty; give at least one wnid of wnids.txt (or None: all)")
    repeated = sorted({c for c in wanted if wanted.count(c) > 1})
    if repeated:
        raise ValueError(f"classes lists {', '.join(repeated)} more than once")
    unknown = [c for c in wanted if c not in listed]
    if unknown:
        raise ValueError(
            f"classes {', '.join(unknown)} not in {os.path.join(root, 'wnids.txt')}; allowed: "
            f"its {len(listed)} wnids ({', '.join(listed[:5])}{', ...' if len(listed) > 5 else ''})"
        )
    return tuple(c for c in listed if c in wanted)


def read_class_names(data_dir: str, wnids: Sequence[str]) -> tuple[str, ...]:
    """Human-readable names of `wnids` from words.txt: the first comma-separated name of each.

    A name shared by several of the wnids (e.g. "crane", bird and machine, in WordNet) gets
    " (<wnid>)" appended, so that names stay unique.

    Raises:
        FileNotFoundError: words.txt is missing.
        ValueError: a line without ``wnid<TAB>names``, or a wnid words.txt does not name.
    """
    path = os.path.join(os.path.abspath(os.fspath(data_dir)), "words.txt")
    wanted = set(wnids)
    names: dict[str, str] = {}
    for number, line in _lines(path, "class name list"):
        wnid, tab, words = line.partition("\t")
        first = words.split(",")[0].strip()
        if not tab or not wnid.strip() or not first:
            raise ValueError(f"{path}, line {number}: expected wnid<TAB>names, got {line!r}")
        if wnid.strip() in wanted:
            names.setdefault(wnid.strip(), first)
    missing = [w for w in wnids if w not in names]
    if missing:
        raise ValueError(f"{path} names no class {', '.join(missing)}; expected a "
                         f"wnid<TAB>names line for every wnid of wnids.txt")
    first_names = [names[w] for w in wnids]
    return tuple(n if first_names.count(n) == 1 else f"{n} ({w})"
                 for w, n in zip(wnids, first_names))


def _parse_box(where: str, fields: Sequence[str]) -> list[int]:
    if not all(_INTEGER.fullmatch(v) for v in fields):
        raise ValueError(f"{where}: box {'/'.join(fields)} is not four integers x0, y0, x1, y1")
    x0, y0, x1, y1 = (int(v) for v in fields)
    if x0 < 0 or y0 < 0:
        raise ValueError(f"{where}: box ({x0}, {y0}, {x1}, {y1}) starts outside the image "
                         f"(negative corner)")
    if x1 < x0 or y1 < y0:
        raise ValueError(f"{where}: box ({x0}, {y0}, {x1}, {y1}) has x1 < x0 or y1 < y0; "
                         f"expected inclusive corners x0 <= x1, y0 <= y1")
    return [x0, y0, x1, y1]


def _read_annotations(path: str, num_fields: int, layout: str, what: str):
    """Yields (where, fields) of an annotation file whose lines have num_fields tab fields."""
    seen: dict[str, int] = {}
    for number, line in _lines(path, what):
        where = f"{path}, line {number}"
        fields = [v.strip() for v in line.split("\t")]
        if len(fields) != num_fields:
            raise ValueError(f"{where}: expected {num_fields} tab-separated fields ({layout}), "
                             f"got {len(fields)}")
        name = fields[0]
        if not name or os.path.basename(name) != name:
            raise ValueError(f"{where}: {name!r} is not an image file name")
        if name in seen:
            raise ValueError(f"{where}: image {name} repeats line {seen[name]}")
        seen[name] = number
        yield where, fields


def _list_image_names(image_dir: str) -> set[str]:
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"Tiny ImageNet image folder {image_dir} does not exist")
    return {
        e.name
        for e in os.scandir(image_dir)
        if e.is_file() and not e.name.startswith(".")
        and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
    }


def _check_every_image_annotated(image_dir: str, names: set[str], annotated: set[str],
                                 annotation_path: str) -> None:
    unannotated = sorted(names - annotated)
    if unannotated:
        raise ValueError(f"image file {os.path.join(image_dir, unannotated[0])} has no line in "
                         f"{annotation_path} ({len(unannotated)} such images)")


def _index(data_dir: str, classes: Sequence[str] | None) -> _Index:
    """Reads every text file of the layout and matches annotations to image files."""
    root = os.path.abspath(os.fspath(data_dir))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Tiny ImageNet folder {root} does not exist")
    for folder in ("train", "val"):
        if not os.path.isdir(os.path.join(root, folder)):
            raise FileNotFoundError(
                f"Tiny ImageNet folder {os.path.join(root, folder)} does not exist; expected "
                f"wnids.txt, words.txt, train/<wnid>/ and val/ under {root}")
    listed = sorted(_read_wnid_lines(root))
    wnids = _select_wnids(root, listed, classes)
    label_of = {w: c for c, w in enumerate(wnids)}
    known = set(listed)
    annotation_files = [os.path.join(root, "wnids.txt"), os.path.join(root, "words.txt")]

    train = _Split([], [], [], [])
    for wnid in wnids:
        class_dir = os.path.join(root, "train", wnid)
        image_dir = os.path.join(class_dir, "images")
        if not os.path.isdir(class_dir):
            raise FileNotFoundError(f"Tiny ImageNet class folder {class_dir} does not exist "
                                    f"(wnid {wnid} of wnids.txt)")
        names = _list_image_names(image_dir)
        if not names:
            raise ValueError(f"class folder {image_dir} holds no image files (class {wnid}; "
                             f"allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
        boxes_path = os.path.join(class_dir, f"{wnid}_boxes.txt")
        annotated = set()
        for where, fields in _read_annotations(boxes_path, 5, "file, x0, y0, x1, y1",
                                               "boxes file"):
            if fields[0] not in names:
                raise ValueError(f"{where}: image {os.path.join(image_dir, fields[0])} does "
                                 f"not exist")
            train.paths.append(os.path.join(image_dir, fields[0]))
            train.labels.append(label_of[wnid])
            train.boxes.append(_parse_box(where, fields[1:]))
            train.lines.append(where)
            annotated.add(fields[0])
        _check_every_image_annotated(image_dir, names, annotated, boxes_path)
        annotation_files.append(boxes_path)

    test = _Split([], [], [], [])
    image_dir = os.path.join(root, "val", "images")
    names = _list_image_names(image_dir)
    val_path = os.path.join(root, "val", "val_annotations.txt")
    annotated = set()
    for where, fields in _read_annotations(val_path, 6, "file, wnid, x0, y0, x1, y1",
                                           "annotation file"):
        if fields[0] not in names:
            raise ValueError(f"{where}: image {os.path.join(image_dir, fields[0])} does not "
                             f"exist")
        if fields[1] not in known:
            raise ValueError(f"{where}: wnid {fields[1]!r} is not in "
                             f"{os.path.join(root, 'wnids.txt')}")
        box = _parse_box(where, fields[2:])
        annotated.add(fields[0])
        if fields[1] in label_of:
            test.paths.append(os.path.join(image_dir, fields[0]))
            test.labels.append(label_of[fields[1]])
            test.boxes.append(box)
            test.lines.append(where)
    _check_every_image_annotated(image_dir, names, annotated, val_path)
    annotation_files.append(val_path)
    empty = sorted(set(wnids) - {wnids[c] for c in test.labels})
    if empty:
        raise ValueError(f"{val_path} has no image of class {', '.join(empty)}; every class "
                         f"needs validation (test) images")

    splits = {}
    for split, s in (("train", train), ("test", test)):
        splits[split] = _Split(s.paths, np.asarray(s.labels, np.int32),
                               np.asarray(s.boxes, np.int32).reshape(-1, 4), s.lines)
    return _Index(root, wnids, splits, annotation_files)


def _check_inside(split: _Split, sizes: Sequence[tuple[int, int]]) -> None:
    """Every box lies inside its image of (H, W) in `sizes`."""
    for path, where, box, (h, w) in zip(split.paths, split.lines, split.boxes, sizes):
        if box[2] >= w or box[3] >= h:
            raise ValueError(f"{where}: box ({', '.join(str(int(v)) for v in box)}) outside "
                             f"the {w}x{h} image {path}; expected x1 < {w}, y1 < {h}")


def load_tiny_imagenet_boxes(
    data_dir: str, split: str = "test", classes: Sequence[str] | None = None
) -> TinyImageNetBoxes:
    """The bounding boxes of a split, aligned with ``load_tiny_imagenet(data_dir, classes=...)``.

    Image i of the split returned by :func:`load_tiny_imagenet` with the same `classes` has
    box ``boxes[i]``. Images are not decoded; only their sizes are read (Pillow), to check that
    every box lies inside its image.

    Args:
        data_dir: the Tiny ImageNet folder.
        split: "test" (val/, the default) or "train" (train/).
        classes: wnids to keep, as for :func:`load_tiny_imagenet`.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_tiny_imagenet`.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS} (test: the val/ images)")
    from PIL import Image, UnidentifiedImageError

    index = _index(data_dir, classes)
    s = index.splits[split]
    sizes = []
    for path in s.paths:
        try:
            with Image.open(path) as image:
                sizes.append((image.height, image.width))
        except (OSError, UnidentifiedImageError) as e:
            raise ValueError(f"cannot read image file {path}: {e}") from None
    _check_inside(s, sizes)
    return TinyImageNetBoxes(
        files=tuple(os.path.relpath(p, index.root) for p in s.paths),
        labels=s.labels, boxes=s.boxes, wnids=index.wnids)


def load_tiny_imagenet(
    data_dir: str,
    cache_dir: str | None = None,
    classes: Sequence[str] | None = None,
) -> ImageSplits:
    """Loads Tiny ImageNet: train/ as the train split, val/ as the test split.

    Label c is the c-th sorted wnid (:func:`read_wnids`); ``class_names[c]`` its first name in
    words.txt (:func:`read_class_names`). Train images come class by class, each class in the
    line order of its boxes file; test images in the line order of val_annotations.txt. Images
    are decoded with ``tf.io.decode_image``; gray JPEGs (the release has some) are repeated to
    RGB. Every annotation line is checked (also those of classes left out by `classes`), and
    every image must have exactly one line. Boxes: :func:`load_tiny_imagenet_boxes`.

    Args:
        data_dir: the folder holding wnids.txt, words.txt, train/ and val/.
        cache_dir: if given, decoded arrays are cached there as .npz, keyed by the folder, the
            classes and every image and text file's relative path, mtime and size (as
            :func:`lsg_tf.data.image_folder.load_image_folder` does).
        classes: wnids of wnids.txt to keep (None: all of them).

    Returns:
        ImageSplits named "tiny_imagenet", uint8 [N, H, W, 3] images (64x64 in the release).

    Raises:
        FileNotFoundError: a missing folder, wnids.txt, words.txt, class folder or annotation
            file (the message names it).
        ValueError: a malformed line, a box outside its image or with x1 < x0 or y1 < y0, a wnid
            of val_annotations.txt not in wnids.txt, an image without a line or a line without
            an image, a class without images, an undecodable image or images of different
            sizes (the message names the file, and the line for annotation errors).
    """
    index = _index(data_dir, classes)
    class_names = read_class_names(index.root, index.wnids)
    train, test = index.splits["train"], index.splits["test"]

    cache_path = None
    if cache_dir is not None:
        key = _cache_key(index.root, None, {"train": train.paths + index.annotation_files,
                                            "test": test.paths})
        cache_path = os.path.join(cache_dir, f"{NAME}-{len(index.wnids)}-{key[:20]}.npz")
        cached = _read_cache(cache_path, NAME)
        if (cached is not None and cached.class_names == class_names
                and np.array_equal(cached.y_train, train.labels)
                and np.array_equal(cached.y_test, test.labels)):
            return cached

    arrays = {}
    reference = None
    for split, s in (("train", train), ("test", test)):
        decoded = _decode_files(s.paths, None, f"decoding {NAME}/{split}")
        if reference is None:
            reference = tuple(decoded[0].shape[:2])
        for path, image in zip(s.paths, decoded):
            if image.shape[-1] not in (1, 3):
                raise ValueError(f"image file {path} has {image.shape[-1]} channels; allowed: "
                                 f"1 (gray) or 3 (RGB)")
            if tuple(image.shape[:2]) != reference:
                raise ValueError(
                    f"image file {path} is {image.shape[0]}x{image.shape[1]} but "
                    f"{train.paths[0]} is {reference[0]}x{reference[1]}; Tiny ImageNet images "
                    f"must share one size")
        _check_inside(s, [reference] * len(s.paths))
        arrays[split] = _stack_images(decoded, s.paths, 3, reference, train.paths[0])
        del decoded
    splits = ImageSplits(name=NAME, x_train=arrays["train"], y_train=train.labels,
                         x_test=arrays["test"], y_test=test.labels, class_names=class_names)
    if cache_path is not None:
        _write_cache(cache_path, splits)
    return splits
