r"""Adversarial evaluation of trained runs: the paper's Table 4 (detection) and Table 5.

  python -m lsg_tf.attack_eval --run=runs/std --run=runs/lsg \
      --attacks=pgd,pixel,local_search --detect --out=DIR

Every run is evaluated on the same images and the same PGD targets (the runs must share a
data set). Writes ``DIR/attack_eval.md``, ``DIR/attack_eval.json``,
``DIR/attack_eval_examples.png`` and ``DIR/attack_eval_roc.png``. The defaults are the
paper's protocol (PGD at ε = 1/255, 2/255, 4/255, 8/255 and the paper's 0.3, 40 iterations;
detection with 100/500/1000 training images per
class, 100 test images per class, 5 repeats); lower the sizes for a CPU run, e.g.
``--detect_train_per_class=20,50,100 --detect_test_per_class=50 --detect_repeats=3``.
In a checkout also ``python -m tools.attack_eval`` or ``python tools/attack_eval.py``.
"""

from __future__ import annotations

import logging
import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.reproduction import commands
from lsg_tf.robustness.radii import (
    EPS_RANGE,
    EPS_SWEEP,
    check_eps,
    eps_label,
    parse_eps,
)

ATTACKS = ("pgd", "pixel", "local_search")
COMMAND = "lsg_tf.attack_eval"
"""The module a report's recorded command runs."""

_RUN = flags.DEFINE_multi_string("run", None, "A finished run folder; repeat for each run.")
_OUT = flags.DEFINE_string("out", None, "Output folder for attack_eval.md/.json and figures.")
_ATTACKS = flags.DEFINE_list("attacks", list(ATTACKS), f"Attacks, any of {list(ATTACKS)}.")
_DETECT = flags.DEFINE_boolean("detect", False, "Run the detection protocol (Table 4).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of image samples, PGD targets and attacks.")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Overrides the runs' data folder (if the data moved).")
_ACCURACY_IMAGES = flags.DEFINE_integer("accuracy_images", None,
                                        "Test images for clean accuracy (default: all).")
_EXAMPLES = flags.DEFINE_integer("examples", 4, "Example images per run and attack in the figure.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "Batch size of features and accuracy.")

_PGD_EPS = flags.DEFINE_list("pgd_eps", [eps_label(e) for e in EPS_SWEEP],
                             "PGD L∞ radii on [0, 1] images (Table 4 is measured at each), "
                             f"each in {EPS_RANGE}: numbers or fractions such as 8/255.")
_PGD_STEP = flags.DEFINE_float("pgd_eps_step", None,
                               f"PGD step size for every ε, in {EPS_RANGE} (default: "
                               "2.5 ε / iterations).")
_PGD_ITER = flags.DEFINE_integer("pgd_iter", 40, "PGD iterations.")
_PGD_BATCH = flags.DEFINE_integer("pgd_batch_size", 128, "PGD batch size.")
_PGD_IMAGES = flags.DEFINE_integer("pgd_images", 500,
                                   "Test images for PGD without --detect (else the pool).")

_DET_TRAIN = flags.DEFINE_list("detect_train_per_class", ["100", "500", "1000"],
                               "Detector training sizes, images per class.")
_DET_TEST = flags.DEFINE_integer("detect_test_per_class", 100, "Detector test images per class.")
_DET_REPEATS = flags.DEFINE_integer("detect_repeats", 5, "Repeats with different seeds.")
_DET_POOL = flags.DEFINE_integer("detect_pool_per_class", None,
                                 "Images per class attacked once and split by every repeat "
                                 "(default: max train size + test size).")
_DET_SPLIT = flags.DEFINE_enum("detect_split", "test", ["test", "train"],
                               "Split the detection images are drawn from.")
_DET_TREES = flags.DEFINE_integer("detect_trees", 100, "Trees of the random forest.")
_DET_BASELINES = flags.DEFINE_list("detect_baselines", ["mahalanobis", "lid", "kd_bu"],
                                   "Detectors beside the random forest on the same splits, any "
                                   "of mahalanobis, lid, kd_bu (empty: none).")

_PIXEL_IMAGES = flags.DEFINE_integer("pixel_images", 100, "Test images for the one-pixel attack.")
_PIXEL_PIXELS = flags.DEFINE_integer("pixel_pixels", 1, "Pixels changed by the pixel attack.")
_PIXEL_ITER = flags.DEFINE_integer("pixel_iter", 100, "Differential-evolution generations.")
_PIXEL_POP = flags.DEFINE_integer("pixel_population", 400, "Candidates per generation.")

_LS_IMAGES = flags.DEFINE_integer("ls_images", 100, "Test images for the local-search attack.")
_LS_P = flags.DEFINE_float("ls_p", 10.0, "Local search: sensitivity perturbation p.")
_LS_R = flags.DEFINE_float("ls_r", 1.5, "Local search: cyclic perturbation r in [0, 2].")
_LS_D = flags.DEFINE_integer("ls_d", 5, "Local search: neighbourhood half side d.")
_LS_T = flags.DEFINE_integer("ls_t", 5, "Local search: pixels perturbed per round t.")
_LS_K = flags.DEFINE_integer("ls_k", 1, "Local search: top-k success criterion k.")
_LS_ROUNDS = flags.DEFINE_integer("ls_rounds", 150, "Local search: rounds R.")
_LS_MAX_CANDIDATES = flags.DEFINE_integer("ls_max_candidates", None,
                                          "Local search: cap on candidates per round "
                                          "(default: all, as the paper).")
_PROGRESS = flags.DEFINE_boolean("progress", True, "Show progress bars.")


def _valid_radii(values) -> bool:
    """Flag validator of --pgd_eps: every entry a number in EPS_RANGE (ε on [0, 1] images)."""
    if not values:
        raise flags.ValidationError(f"give at least one ε in {EPS_RANGE}")
    for value in values:
        try:
            parse_eps(value)
        except ValueError as e:
            raise flags.ValidationError(str(e)) from None
    return True


def _valid_step(value) -> bool:
    """Flag validator of --pgd_eps_step: unset, or a step in EPS_RANGE."""
    try:
        return value is None or bool(check_eps(value))
    except ValueError as e:
        raise flags.ValidationError(str(e).replace("ε", "the step")) from None


flags.register_validator("pgd_eps", _valid_radii)
flags.register_validator("pgd_eps_step", _valid_step)


def config_from_flags():
    """Builds an :class:`~lsg_tf.robustness.evaluate.AttackEvalConfig` from the flags."""
    from lsg_tf.robustness import evaluate
    from lsg_tf.robustness.protocol import DetectionProtocol

    try:
        train_sizes = tuple(int(v) for v in _DET_TRAIN.value)
    except ValueError:
        raise app.UsageError(f"--detect_train_per_class must be integers, got "
                             f"{_DET_TRAIN.value}") from None
    radii = tuple(parse_eps(v) for v in _PGD_EPS.value)  # checked by _valid_radii
    try:
        return evaluate.AttackEvalConfig(
            attacks=tuple(_ATTACKS.value),
            detect=_DETECT.value,
            pgd=evaluate.PGDConfig(eps=radii, eps_step=_PGD_STEP.value,
                                   max_iter=_PGD_ITER.value, batch_size=_PGD_BATCH.value,
                                   images=_PGD_IMAGES.value),
            detection=DetectionProtocol(train_per_class=train_sizes,
                                        test_per_class=_DET_TEST.value,
                                        repeats=_DET_REPEATS.value,
                                        pool_per_class=_DET_POOL.value,
                                        n_estimators=_DET_TREES.value, seed=_SEED.value,
                                        baselines=tuple(_DET_BASELINES.value)),
            pixel=evaluate.PixelConfig(images=_PIXEL_IMAGES.value, pixels=_PIXEL_PIXELS.value,
                                       max_iter=_PIXEL_ITER.value,
                                       population=_PIXEL_POP.value),
            local_search=evaluate.LocalSearchConfig(
                images=_LS_IMAGES.value, p=_LS_P.value, r=_LS_R.value, d=_LS_D.value,
                t=_LS_T.value, k=_LS_K.value, rounds=_LS_ROUNDS.value,
                max_candidates=_LS_MAX_CANDIDATES.value),
            accuracy_images=_ACCURACY_IMAGES.value,
            detection_split=_DET_SPLIT.value,
            seed=_SEED.value,
            data_dir=_DATA_DIR.value,
            examples=_EXAMPLES.value,
            batch_size=_BATCH_SIZE.value,
        )
    except ValueError as e:
        raise app.UsageError(str(e)) from None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import print_line, quiet_logs

    quiet_logs()
    if not _RUN.value:
        raise app.UsageError("--run is required (repeat it for each run)")
    config = config_from_flags()
    if not config.attacks and not config.detect:
        raise app.UsageError("nothing to do: give --attacks and/or --detect")
    from lsg_tf import run_io

    try:  # the runs read and the folder written, before any attack
        run_io.check_finished_runs(_RUN.value)
        run_io.check_writable_folder(_OUT.value, "--out")
    except run_io.RunIOError as error:
        sys.exit(f"error: {error}")
    from lsg_tf.robustness import attack_report, evaluate

    logging.getLogger("art").setLevel(logging.WARNING)  # ART logs every batch at INFO
    results = evaluate.evaluate_runs(_RUN.value, config, progress=_PROGRESS.value,
                                     log=None if _PROGRESS.value else print_line)
    command = commands.typed_command(COMMAND, sys.argv)
    paths = attack_report.write_report(results, _OUT.value, command=command)
    print(attack_report.markdown(results, command))
    print("wrote " + ", ".join(paths.values()))


def run(argv=None) -> None:
    """The command line: ``--run`` and ``--out`` required, then :func:`main`."""
    flags.mark_flags_as_required(["run", "out"])
    entry.run(main, argv)


if __name__ == "__main__":
    run()
