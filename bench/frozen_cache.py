r"""Fine-tuning epoch without ÷ with the frozen part cached (goal ≥ 5): EfficientNet-Lite0, top 2.

  python bench/frozen_cache.py [--steps 8 --batch_size 32 --repeats 3] [--smoke]

One ``efficientnet_lite0_top2`` LSGModel (joint scheme) on 64x64 random images upsampled to
224 inside the model, every layer below the top two MBConv blocks frozen. A: one ``fit``
epoch of the full model on the images (the frozen part runs forward at every step). B: one
epoch of the same network's top on the frozen part's output, computed once beforehand
(``lsg_tf.training.frozen_cache``), as ``--cache_frozen`` trains. The one-time cost of the
cache (the frozen part over the epoch's images) is printed beside the ratio, with the number
of epochs after which it has paid for itself.
"""

from __future__ import annotations

import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402


def main(argv=None) -> int:
    parser = common.arguments(__doc__, repeats=3)
    parser.add_argument("--steps", type=int, default=8, help="training steps per epoch")
    parser.add_argument("--batch_size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.batch_size, args.repeats, args.warmup = 1, 4, 1, 1
    common.set_threads(args.threads)
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    import keras
    import tensorflow as tf

    from bench import _model
    from lsg_tf import data
    from lsg_tf.core import backbones
    from lsg_tf.core.model import LSGModel
    from lsg_tf.core.schedule import Schedule
    from lsg_tf.training import frozen_cache

    name, classes = "efficientnet_lite0_top2", 29
    keras.utils.set_random_seed(0)
    backbone = backbones.build_backbone(name, (64, 64, 3), seed=0)
    frozen, top = backbones.frozen_split(name, backbone)

    def make_model(net, **overrides):
        return LSGModel(net, classes, schedule=Schedule("joint"), density_target=0.15,
                        **overrides)

    full = make_model(backbone)
    cached = frozen_cache.top_model(make_model, top)
    for model in (full, cached):
        model.compile(optimizer=keras.optimizers.Adam(1e-5),
                      gate_optimizer=keras.optimizers.Adam(1e-3))
    images, labels = _model.random_images(args.steps * args.batch_size, (64, 64, 3), classes)
    start = time.perf_counter()
    features = frozen_cache.frozen_features(frozen, full, images, args.batch_size, verbose=0)
    cache_seconds = time.perf_counter() - start
    image_ds = _model.tensor_dataset(images, labels, args.batch_size)
    feature_ds = data.make_feature_dataset(features, labels, args.batch_size, seed=0)

    def epoch(model, dataset):
        def run():
            model.fit(dataset, epochs=1, steps_per_epoch=args.steps, shuffle=False, verbose=0)
        return run

    comparison = common.alternate("uncached epoch", epoch(full, image_ds), "cached epoch",
                                  epoch(cached, feature_ds), repeats=args.repeats,
                                  warmup=args.warmup)
    saved = comparison.median_a - comparison.median_b
    count = args.steps * args.batch_size
    common.report(
        "Frozen-part cache: efficientnet_lite0_top2 at 64 -> 224, epoch without vs with the cache",
        comparison, "≥ 5",
        extra=f"{args.steps} steps × batch {args.batch_size}; images/s: uncached "
              f"{count / comparison.median_a:.0f}, cached {count / comparison.median_b:.0f}; "
              f"the cache itself: {cache_seconds:.1f} s once for {count} images "
              f"({tf.shape(features).numpy().tolist()[1:]} per image), paid back after "
              + (f"{cache_seconds / saved:.2f} epochs" if saved > 0 else "never"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
