r"""LSG-phase epoch time ÷ STD-phase epoch time: same network, data and batch (goal ≤ 1.03).

  python bench/lsg_overhead.py [--steps 50 --batch_size 128 --repeats 5] [--model vit] [--smoke]

One ResNet20 LSGModel (``--model``: a ConvMixer or the ViT instead) with Algorithm 1's
schedule (period 3, phase 1): epoch 0 is an STD epoch, epoch 1 an LSG epoch. Each timed run
is one ``fit`` epoch of ``--steps`` steps on in-memory random images (``initial_epoch``
selects the path), alternating LSG STD LSG STD after warm-up; both compiled train functions
are traced during warm-up.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402


def main(argv=None) -> int:
    parser = common.arguments(__doc__)
    parser.add_argument("--steps", type=int, default=50, help="training steps per epoch")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--jit_compile", action="store_true")
    parser.add_argument("--model", default="resnet20",
                        choices=("resnet20", "convmixer", "convmixer_small", "vit"),
                        help="the backbone (the 32x32 CIFAR ones of lsg_tf.core.backbones)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.batch_size, args.repeats = 2, 8, 1
    common.set_threads(args.threads)
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from bench import _model
    from lsg_tf.core.schedule import Schedule

    model = _model.resnet20_model(Schedule("alternate", period=3, phase=1),
                                  jit_compile=args.jit_compile, backbone=args.model)
    images, labels = _model.random_images(args.steps * args.batch_size)
    dataset = _model.tensor_dataset(images, labels, args.batch_size)
    paths = []

    def epoch(initial_epoch):
        def run():
            model.fit(dataset, initial_epoch=initial_epoch, epochs=initial_epoch + 1,
                      steps_per_epoch=args.steps, shuffle=False, verbose=0)
            paths.append(model.training_path)
        return run

    comparison = common.alternate("LSG epoch", epoch(1), "STD epoch", epoch(0),
                                  repeats=args.repeats, warmup=args.warmup)
    if set(paths[::2]) != {"lsg"} or set(paths[1::2]) != {"std"}:
        raise SystemExit(f"lsg_overhead: expected alternating lsg/std paths, got {paths}")
    images_per_epoch = args.steps * args.batch_size
    common.report(
        f"LSG overhead: {args.model}, LSG-phase vs STD-phase epoch", comparison, "≤ 1.03",
        extra=f"{args.steps} steps × batch {args.batch_size}; images/s: LSG "
              f"{images_per_epoch / comparison.median_a:.0f}, STD "
              f"{images_per_epoch / comparison.median_b:.0f}; jit_compile={args.jit_compile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
