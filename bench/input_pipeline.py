r"""Training step time with the real input pipeline ÷ with in-memory tensors (goal ≤ 1.10).

  python bench/input_pipeline.py --data_dir=DATA/cifar10 [--images 10000 --steps 50] [--smoke]

The real pipeline is what ``lsg_tf.train`` uses: the JPEG image-folder tree decoded once by
:func:`lsg_tf.data.load_image_folder` (into a cache), then
:func:`lsg_tf.data.make_train_dataset`: a stateless shuffle per epoch, batches gathered by
index, the CIFAR crop-and-flip augmentation, float conversion. The reference feeds the same
images as pre-converted in-memory tensors without shuffling or augmentation. Both train the
same ResNet20 (STD path) for ``--steps`` steps per timed run, alternating after warm-up.
Without ``--data_dir``, a generated 32×32 JPEG tree is used (``--smoke`` does that).
"""

from __future__ import annotations

import os
import sys
import tempfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402


def write_jpeg_tree(root: str, per_class: int, num_classes: int = 10, seed: int = 0) -> str:
    """A CIFAR-shaped tree ``root/{train,test}/class_i/*.jpg`` of random 32×32 images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("test", 2)):
        for c in range(num_classes):
            folder = os.path.join(root, split, f"class_{c}")
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    os.path.join(folder, f"{i}.jpg"))
    return root


def main(argv=None) -> int:
    parser = common.arguments(__doc__)
    parser.add_argument("--data_dir", default=None, help="image-folder tree (default: generated)")
    parser.add_argument("--cache_dir", default=None, help="decoded-image cache of the tree")
    parser.add_argument("--images", type=int, default=10000, help="training images used")
    parser.add_argument("--steps", type=int, default=50, help="training steps per timed run")
    parser.add_argument("--batch_size", type=int, default=128)
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.steps, args.batch_size, args.repeats = 40, 2, 8, 1
    if args.data_dir and not os.path.isdir(args.data_dir):
        parser.error(f"--data_dir={args.data_dir!r} is not a folder")
    common.set_threads(args.threads)
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from bench import _model
    from lsg_tf import data
    from lsg_tf.core.schedule import Schedule

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or write_jpeg_tree(os.path.join(tmp, "tree"),
                                                    per_class=-(-args.images // 10))
        splits = data.load_image_folder(data_dir, cache_dir=args.cache_dir)
    splits = data.apply_subsets(splits, args.images, None, seed=0)
    x, y = splits.x_train, splits.y_train
    augment = data.default_augmentation(splits)
    model = _model.resnet20_model(Schedule("std"), num_classes=splits.num_classes,
                                  image_shape=splits.image_shape)
    pipeline = data.make_train_dataset(x, y, args.batch_size, seed=0, augment=augment)
    reference = _model.tensor_dataset(x, y, args.batch_size)

    def train_on(dataset):
        def run():  # both datasets repeat forever; each run takes its first --steps batches
            model.fit(dataset, epochs=1, steps_per_epoch=args.steps, shuffle=False, verbose=0)
        return run

    comparison = common.alternate("real pipeline", train_on(pipeline), "in-memory tensors",
                                  train_on(reference), repeats=args.repeats,
                                  warmup=args.warmup)
    images = args.steps * args.batch_size
    common.report(
        "Input pipeline: ResNet20 training steps", comparison, "≤ 1.10",
        extra=f"{len(x)} images of {'the given tree' if args.data_dir else 'a generated tree'}, "
              f"augmentation {augment!r}, {args.steps} steps × batch {args.batch_size}; "
              f"images/s: pipeline {images / comparison.median_a:.0f}, tensors "
              f"{images / comparison.median_b:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
