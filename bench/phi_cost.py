r"""Φ evaluation time ÷ one inference pass over the same images (goal ≤ 1.5).

  python bench/phi_cost.py [--images 10000 --phi_steps 500 --repeats 5] [--smoke]

Φ (section 3.2) is evaluated as the report does: one pooled-feature pass over the images
(:func:`lsg_tf.core.features.pooled_features_and_logits`), then ``--phi_steps`` Adam steps on the
cached features (:func:`lsg_tf.analysis.phi.filter_ambiguity`). The inference pass is the
same pooled-feature pass alone. Trained or not does not change the cost; a ResNet20
LSGModel with random weights is used.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402


def main(argv=None) -> int:
    parser = common.arguments(__doc__)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--phi_steps", type=int, default=500)
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.phi_steps, args.repeats = 64, 5, 1
    common.set_threads(args.threads)
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    from bench import _model
    from lsg_tf.analysis import head, phi
    from lsg_tf.core import features
    from lsg_tf.core.schedule import Schedule

    model = _model.resnet20_model(Schedule("std"))
    images, labels = _model.random_images(args.images)
    kernel, bias = head.classifier_weights(model)

    def inference():
        features.pooled_features_and_logits(model, images, args.batch_size)

    def phi_evaluation():
        pooled, _ = features.pooled_features_and_logits(model, images, args.batch_size)
        phi.filter_ambiguity(pooled, labels, kernel, bias, steps=args.phi_steps)

    comparison = common.alternate("Φ evaluation", phi_evaluation, "inference pass", inference,
                                  repeats=args.repeats, warmup=args.warmup)
    common.report("Φ cost: ResNet20", comparison, "≤ 1.5",
                  extra=f"{args.images} images, batch {args.batch_size}, "
                        f"{args.phi_steps} Adam steps of Φ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
