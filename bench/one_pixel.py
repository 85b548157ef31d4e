r"""One-pixel attack images/s: DE batched across images ÷ DE per image (goal ≥ 3x, equal success).

  python bench/one_pixel.py [--images 30 --max_iter 100 --population 100 --art_images 2]
                            [--rounds 3] [--no-single] [--smoke]

A ResNet20 LSGModel trained briefly (``--train_steps`` SGD steps of batch 128) on Fashion-MNIST
(/usr/share/datasets/fashion-mnist; generated images where it is missing) is attacked on the
first ``--images`` test images it classifies correctly, untargeted, one pixel, at one budget
(``--max_iter`` generations, ``--population`` candidates) and seed, by

* A: :class:`~lsg_tf.robustness.pixel.BudgetedPixelAttack` (scipy's DE per image, one
  ``predict`` call per generation plus one per success check), images one at a time as
  :func:`~lsg_tf.robustness.black_box.run_black_box_attack` gives them;
* B: :class:`~lsg_tf.robustness.batched_pixel.BatchedPixelAttack` (numpy DE for all images of a
  round at once, ``--batch_size`` images per ``predict`` call, encodings already scored for an
  image not scored again);
* after A/B (not alternated): B with one image per ``generate`` call, as
  ``run_black_box_attack`` would call it (``--no-single`` skips it), and ART's own
  ``PixelAttack`` on the first ``--art_images`` images only (slow; its population is fixed at
  400, so it matches the budget only at ``--population 400``), its images/s scaled.

The images are split into ``--rounds`` equal rounds, and A and B alternate round by round (A B
A B ...) so that a drift of the machine's load hits both alike; a timed run is one round, in
seconds per image. Success is the model's top-1 label of the returned image differing from the
true label (as the Table 5 protocol checks it), with Wilson 95% intervals.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402

GOAL = 3.0  # batched images/s ÷ budgeted images/s, at an equal success rate


def load_images(train: int, seed: int = 0):
    """``(x_train, y_train, x_test, y_test, source)``: uint8 28x28x1 images and int labels."""
    from lsg_tf.data import load_fashion_mnist

    try:
        splits = load_fashion_mnist()
        return (splits.x_train[:train], splits.y_train[:train], splits.x_test, splits.y_test,
                "Fashion-MNIST")
    except FileNotFoundError:
        from bench import _model

        x, y = _model.random_images(train + 2000, (28, 28, 1), seed=seed)
        return x[:train], y[:train], x[train:], y[train:], "generated (random) images"


def main(argv=None) -> int:
    parser = common.arguments(__doc__, repeats=None, warmup=None)
    parser.add_argument("--images", type=int, default=30, help="attacked images (A and B)")
    parser.add_argument("--art_images", type=int, default=2,
                        help="images attacked by ART's PixelAttack (0: skip it)")
    parser.add_argument("--max_iter", type=int, default=100, help="DE generations")
    parser.add_argument("--population", type=int, default=100, help="DE candidates")
    parser.add_argument("--batch_size", type=int, default=256, help="batched attack's calls")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations")
    parser.add_argument("--single", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the batched attack one image per generate call")
    parser.add_argument("--train_steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.art_images, args.max_iter, args.population = 4, 1, 2, 20
        args.rounds, args.train_steps, args.batch_size = 2, 2, 64
    if args.images < args.rounds or args.rounds < 1:
        parser.error(f"--images ({args.images}) must be >= --rounds ({args.rounds}) >= 1")
    common.set_threads(args.threads)
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    import numpy as np
    from art.attacks.evasion import PixelAttack

    from bench import _model
    from lsg_tf.core.schedule import Schedule
    from lsg_tf.reporting.stats import newcombe_difference, wilson_interval
    from lsg_tf.robustness import art_wrapper, batched_pixel, pixel

    x_train, y_train, x_test, y_test, source = load_images(128 * args.train_steps, args.seed)
    model = _model.resnet20_model(Schedule("std"), 10, (28, 28, 1))
    start = time.perf_counter()
    model.fit(_model.tensor_dataset(x_train, y_train, 128), epochs=1,
              steps_per_epoch=args.train_steps, verbose=0)
    train_seconds = time.perf_counter() - start
    classifier = art_wrapper.make_classifier(model, "probabilities")
    pool = x_test[:4000].astype(np.float32) / 255.0
    correct = np.flatnonzero(art_wrapper.predict_labels(classifier, pool) == y_test[:4000])
    accuracy = len(correct) / len(pool)
    if len(correct) < args.images:
        print(f"one_pixel: only {len(correct)} of {len(pool)} test images are classified "
              f"correctly; lower --images", file=sys.stderr)
        return 1
    x = pool[correct[:args.images]]
    y = y_test[correct[:args.images]].astype(np.int64)
    budget = dict(pixels=1, max_iter=args.max_iter, population=args.population, seed=args.seed)

    def attacks():
        return (pixel.BudgetedPixelAttack(classifier, **budget),
                batched_pixel.BatchedPixelAttack(classifier, batch_size=args.batch_size,
                                                 **budget))

    # trace the model's predict for the batch shapes of both sides, then fresh seeded attacks
    for attack, count in zip(attacks(), (1, 2)):
        attack.generate(x[:count], y[:count])
    budgeted, batched = attacks()

    rounds = np.array_split(np.arange(args.images), args.rounds)
    x_adv = {"budgeted": x.copy(), "batched": x.copy()}
    queries = {"budgeted": 0, "batched": 0}

    def side(name, attack_round):
        state = {"round": 0}

        def run():
            index = rounds[state["round"]]
            state["round"] += 1
            before = classifier.queries
            start = time.perf_counter()
            x_adv[name][index] = attack_round(x[index], y[index])
            seconds = time.perf_counter() - start
            queries[name] += classifier.queries - before
            return seconds / len(index)
        return run

    def budgeted_round(xs, ys):  # one image per generate call, as run_black_box_attack does
        return np.concatenate([budgeted.generate(xs[i:i + 1], ys[i:i + 1])
                               for i in range(len(xs))])

    names = ("BudgetedPixelAttack", "BatchedPixelAttack")
    comparison = common.alternate(names[0], side("budgeted", budgeted_round), names[1],
                                  side("batched", batched.generate), repeats=args.rounds,
                                  warmup=0)

    def success_line(label, x_adv_side, ys, seconds, n_queries):
        hits = int(np.sum(art_wrapper.predict_labels(classifier, x_adv_side) != ys))
        low, high = wilson_interval(hits, len(ys))
        line = (f"{label}: success {hits}/{len(ys)} = {hits / len(ys):.1%} "
                f"(Wilson 95% [{low:.1%}, {high:.1%}]), {len(ys) / seconds:.3g} images/s, "
                f"{n_queries / len(ys):.0f} queries/image")
        return hits, line

    seconds = {"budgeted": sum(comparison.seconds_a[i] * len(r) for i, r in enumerate(rounds)),
               "batched": sum(comparison.seconds_b[i] * len(r) for i, r in enumerate(rounds))}
    hits_a, line_a = success_line(names[0], x_adv["budgeted"], y, seconds["budgeted"],
                                  queries["budgeted"])
    hits_b, line_b = success_line(names[1], x_adv["batched"], y, seconds["batched"],
                                  queries["batched"])
    difference, low, high = newcombe_difference(hits_b, len(y), hits_a, len(y))
    equal = low <= 0 <= high
    speedup = seconds["budgeted"] / seconds["batched"]
    lines = [
        f"setup: ResNet20 LSGModel trained {args.train_steps} steps of batch 128 on {source} "
        f"({train_seconds:.0f} s), test accuracy {accuracy:.1%} on {len(pool)} images; "
        f"attacked: the first {args.images} correctly classified test images, untargeted, "
        f"1 pixel, max_iter {args.max_iter}, population {args.population}, seed {args.seed}, "
        f"batched batch_size {args.batch_size}, {args.rounds} alternating rounds",
        line_a,
        line_b,
        f"success difference batched - budgeted: {difference:+.1%} (Newcombe 95% "
        f"[{low:+.1%}, {high:+.1%}]; for independent samples, conservative for these paired "
        f"runs); equal success rate: {'yes' if equal else 'no'}",
        f"images/s ratio batched / budgeted over all images: {speedup:.3f} (goal >= {GOAL:g} "
        f"at an equal success rate: {'met' if speedup >= GOAL and equal else 'not met'})",
    ]
    if args.single:
        single = batched_pixel.BatchedPixelAttack(classifier, batch_size=args.batch_size,
                                                  **budget)
        before = classifier.queries
        start = time.perf_counter()
        x_single = np.concatenate([single.generate(x[i:i + 1], y[i:i + 1])
                                   for i in range(len(x))])
        single_seconds = time.perf_counter() - start
        _, line_c = success_line(f"{names[1]}, one image per generate call (after A/B, "
                                 f"not alternated)", x_single, y, single_seconds,
                                 classifier.queries - before)
        lines.append(line_c + f"; images/s ratio to budgeted "
                              f"{seconds['budgeted'] / single_seconds:.3f}")
    if args.art_images:
        n = min(args.art_images, args.images)
        art = PixelAttack(classifier, th=1, es=1, max_iter=args.max_iter, targeted=False,
                          verbose=False)
        before = classifier.queries
        start = time.perf_counter()
        x_art = np.concatenate([art.generate(x[i:i + 1], y[i:i + 1]) for i in range(n)])
        art_seconds = time.perf_counter() - start
        _, line_art = success_line(f"ART PixelAttack (first {n} images only, images/s scaled "
                                   f"from them; population fixed at 400)", x_art, y[:n],
                                   art_seconds, classifier.queries - before)
        lines.append(line_art)
    common.report("One-pixel attack: DE batched across images vs per image (CPU)", comparison,
                  goal=f"time ratio >= {GOAL:g}, i.e. batched images/s >= {GOAL:g}x, at an "
                       f"equal success rate", unit="s/image", extra="\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
