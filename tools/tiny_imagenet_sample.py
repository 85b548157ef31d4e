r"""A miniature Tiny ImageNet folder for smoke runs: each image a bright square on its box (in
a colour of its class) over dark noise.

  python -m tools.tiny_imagenet_sample --out=data/tiny-sample
  python -m lsg_tf.reproduce --localization=tiny_imagenet --data_dir=data/tiny-sample \
      --tiny_settings=scratch --variants=std --seeds=0 --epochs=1 --train_subset=128 ...

Writes the release's layout (:mod:`lsg_tf.data.tiny_imagenet`): ``wnids.txt``, ``words.txt``,
``per_class`` training images per class with their boxes and as many validation images. The
flagfiles' gate density target (0.15) needs at least 7 classes.
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags

from lsg_tf.cli import entry

NAMES = ("fox", "owl", "cat", "dog", "frog", "deer", "bird", "horse", "bear", "seal")
"""The classes' names, in order (wnids ``n01``, ``n02``, ...)."""



def _define_flags() -> None:
    """The CLI's flags, defined only when it runs: tests import :func:`write_tree` beside other
    tools that define flags of the same names in the one absl registry."""
    flags.DEFINE_string("out", None, "Folder to write (created).")
    flags.DEFINE_integer("size", 64, "Image side in pixels.", lower_bound=2)
    flags.DEFINE_integer("per_class", 16, "Training (and validation) images per class.",
                         lower_bound=1)
    flags.DEFINE_integer("classes", 8, "Classes.", lower_bound=2, upper_bound=len(NAMES))


def write_tree(root, size: int = 16, per_class: int = 6, classes: int = 2, seed: int = 0) -> str:
    """Writes the folder at ``root``; returns it. Boxes are half the image side."""
    from PIL import Image

    root = str(root)
    rng = np.random.default_rng(seed)
    wnids = [(f"n{c + 1:02d}", NAMES[c]) for c in range(classes)]
    os.makedirs(os.path.join(root, "val", "images"))
    with open(os.path.join(root, "wnids.txt"), "w") as f:
        f.write("".join(f"{wnid}\n" for wnid, _ in wnids))
    with open(os.path.join(root, "words.txt"), "w") as f:
        f.write("".join(f"{wnid}\t{name}\n" for wnid, name in wnids))
    val = []
    for c, (wnid, _) in enumerate(wnids):
        lines = []
        for i in range(per_class * 2):
            x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
            box = (x0, y0, x0 + size // 2 - 1, y0 + size // 2 - 1)
            image = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            image[box[1]:box[3] + 1, box[0]:box[2] + 1, c % 3] = 250 - 60 * (c // 3)
            if i < per_class:
                folder = os.path.join(root, "train", wnid, "images")
                os.makedirs(folder, exist_ok=True)
                name = f"{wnid}_{i}.JPEG"
                Image.fromarray(image).save(os.path.join(folder, name), "JPEG", quality=95)
                lines.append("\t".join(map(str, (name, *box))))
            else:
                name = f"val_{c}_{i}.JPEG"
                Image.fromarray(image).save(os.path.join(root, "val", "images", name), "JPEG",
                                            quality=95)
                val.append("\t".join(map(str, (name, wnid, *box))))
        with open(os.path.join(root, "train", wnid, f"{wnid}_boxes.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(root, "val", "val_annotations.txt"), "w") as f:
        f.write("\n".join(val) + "\n")
    return root


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    if os.path.exists(values.out):
        raise app.UsageError(f"--out={values.out!r} exists: give a new folder")
    print(f"wrote {write_tree(values.out, values.size, values.per_class, values.classes)}")


if __name__ == "__main__":
    _define_flags()
    flags.mark_flags_as_required(["out"])
    entry.run(main)
