r"""PASCAL VOC object crops as an image-folder tree (paper section 4, "Training setting").

  python -m tools.prepare_voc_crops --voc_dir=data/VOC2010 --out=data/voc-crops

Crops every annotated object of the chosen classes (default the paper's bird, cat, dog, cow,
horse, sheep) out of ``JPEGImages`` by its ``Annotations/*.xml`` bounding box, resizes it to
``--size`` square (bilinear, antialiased; aspect ratio not kept, as a plain resize) and writes a
seeded random split ``OUT/{train,test}/<class>/<image>_<object>.jpg`` for
``python -m lsg_tf.train --dataset=image_folder``. The paper reassigned 3644 objects for
training and 1700 for testing; ``--num_test`` sets the test size (the rest trains), so the
split matches the paper when the crops number 5344. No segmentation label is used.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
from absl import app, flags

from lsg_tf.cli import entry

PAPER_CLASSES = ("bird", "cat", "dog", "cow", "horse", "sheep")


_VOC_DIR = flags.DEFINE_string("voc_dir", None, "VOC devkit folder (Annotations, JPEGImages).")
_OUT = flags.DEFINE_string("out", None, "Output image-folder root.")
_CLASSES = flags.DEFINE_list("classes", list(PAPER_CLASSES), "VOC classes to crop.")
_SIZE = flags.DEFINE_integer("size", 128, "Square crop size in pixels.", lower_bound=1)
_NUM_TEST = flags.DEFINE_integer("num_test", 1700, "Crops in the test split.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the split.")


def read_objects(voc_dir: str, classes=PAPER_CLASSES, skip_difficult: bool = True) -> list:
    """``(image_stem, object_index, class_name, (xmin, ymin, xmax, ymax))`` of every object.

    Boxes are VOC's 1-based inclusive pixel coordinates. Objects marked ``difficult`` are
    skipped unless ``skip_difficult`` is False.

    Raises:
        FileNotFoundError: ``voc_dir/Annotations`` is missing.
        ValueError: an annotation without a complete ``bndbox``.
    """
    folder = os.path.join(voc_dir, "Annotations")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder} is missing: expected a PASCAL VOC devkit folder")
    objects = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".xml"):
            continue
        root = ET.parse(os.path.join(folder, name)).getroot()
        for index, obj in enumerate(root.iter("object")):
            cls = (obj.findtext("name") or "").strip()
            if cls not in classes:
                continue
            if skip_difficult and (obj.findtext("difficult") or "0").strip() == "1":
                continue
            box = obj.find("bndbox")
            try:
                coords = tuple(int(float(box.findtext(k)))
                               for k in ("xmin", "ymin", "xmax", "ymax"))
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"{name}: object {index} ({cls}) has no complete bndbox "
                                 "(xmin, ymin, xmax, ymax)") from None
            objects.append((os.path.splitext(name)[0], index, cls, coords))
    return objects


def write_crops(voc_dir: str, out_dir: str, classes=PAPER_CLASSES, size: int = 128,
                num_test: int = 1700, seed: int = 0) -> dict:
    """Writes the crops tree; returns ``{"train": {class: n}, "test": {class: n}}``.

    Raises:
        ValueError: no object of the classes, or ``num_test`` not below the object count.
    """
    from PIL import Image

    objects = read_objects(voc_dir, classes)
    if not objects:
        raise ValueError(f"{voc_dir}: no object of the classes {list(classes)}")
    if not 0 < num_test < len(objects):
        raise ValueError(f"num_test must be in [1, {len(objects) - 1}] for {len(objects)} "
                         f"objects, got {num_test}")
    order = np.random.default_rng(seed).permutation(len(objects))
    test = set(order[:num_test].tolist())
    counts = {"train": {c: 0 for c in classes}, "test": {c: 0 for c in classes}}
    for split in counts:
        for cls in classes:
            os.makedirs(os.path.join(out_dir, split, cls), exist_ok=True)
    for n, (stem, index, cls, (x0, y0, x1, y1)) in enumerate(objects):
        split = "test" if n in test else "train"
        with Image.open(os.path.join(voc_dir, "JPEGImages", stem + ".jpg")) as image:
            crop = image.convert("RGB").crop((x0 - 1, y0 - 1, x1, y1))
            crop = crop.resize((size, size), Image.BILINEAR)
            crop.save(os.path.join(out_dir, split, cls, f"{stem}_{index}.jpg"), quality=95)
        counts[split][cls] += 1
    return counts


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    counts = write_crops(_VOC_DIR.value, _OUT.value, tuple(_CLASSES.value), _SIZE.value,
                         _NUM_TEST.value, _SEED.value)
    for split, per_class in counts.items():
        print(f"{split:>5}: {sum(per_class.values())} crops " +
              ", ".join(f"{c} {n}" for c, n in per_class.items()))


if __name__ == "__main__":
    flags.mark_flags_as_required(["voc_dir", "out"])
    entry.run(main)
