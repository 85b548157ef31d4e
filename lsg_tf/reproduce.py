r"""Reproduces the paper's CIFAR-10 tables at a chosen budget and writes a results page.

  python -m lsg_tf.reproduce --data_dir=DATA/cifar10 --voc_dir=DATA/msrc-v2 \
      --out=docs/results --budget=cpu

Trains STD, LSG-alternate (Algorithm 1), LSG-joint (footnote 1) and the two ablations
(a = 0, fixed gate) as ResNet20s with identical data, seed, optimiser and schedule, then runs
the report, the attack evaluation and localization on all of them and writes
``OUT/README.md``. ``--seeds=0,1,2`` also trains every variant with seeds 1 and 2 and adds
their table (mean ± std, LSG − STD with intervals) to the page. Interrupted? Run the same command
again: finished stages are skipped and training resumes from its last epoch. ``--data_dir`` is the
CIFAR-10 image-folder tree (``train/<class>/*.jpg``, ``test/<class>/*.jpg``); without it TFDS
``cifar10`` is read.
``--voc_dir`` is MSRC-v2 in the VOC layout (without it, localization is skipped).

``--budget_curve=15,30,60`` instead trains STD, LSG-alternate and LSG-joint at each epoch count
and writes the accuracy gap against epochs (``lsg_tf.reproduction.budget_curve``).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.reproduction import commands

_OUT = flags.DEFINE_string("out", "docs/results", "Folder of the results page and its files.")
_BUDGET = flags.DEFINE_enum("budget", "cpu", ["cpu", "paper"],
                            "cpu: a 2-core CPU, about 20 min of training per model plus the "
                            "analyses (the page lists each stage's time); paper: the paper's "
                            "setting.")
_RUNS_DIR = flags.DEFINE_string("runs_dir", None,
                                "Folder of the training runs (default runs/reproduce-BUDGET).")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "CIFAR-10 image-folder root (default: TFDS cifar10).")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None,
                                 "Decoded-image cache of the image folder "
                                 "(default RUNS_DIR/cache).")
_VOC_DIR = flags.DEFINE_string("voc_dir", None,
                               "MSRC-v2 (VOC layout) for localization; empty: skip it.")
_ABLATIONS = flags.DEFINE_boolean("ablations", True,
                                  "Also train the a = 0 and fixed-gate ablations.")
_PROGRESS = flags.DEFINE_boolean("progress", True, "Show progress bars.")
_STAGES = flags.DEFINE_list("stages", ["report", "attack_eval", "localization", "seeds"],
                            "Analysis stages to run now (the page is written once all are "
                            "complete).")
_ATTACKS = flags.DEFINE_boolean("attacks", True,
                                "Run the attack stage (Tables 4-5; at the cpu budget about 40 "
                                "minutes per model on a 2-core CPU). --noattacks writes the "
                                "page without those tables and says so.")
_SEEDS = flags.DEFINE_list("seeds", None,
                           "Seeds to train every variant with (default: the flagfile's seed "
                           "alone); must include the flagfile's seed, whose runs the analyses "
                           "use. With several, the page adds a table over seeds.")
_VARIANTS = flags.DEFINE_list("variants", None,
                              "Variants to train and compare (default: std, alternate, joint "
                              "and, with --ablations, the ablations).")
_LOCALIZATION = flags.DEFINE_enum(
    "localization", "cifar", ["cifar", "tiny_imagenet"],
    "cifar: the CIFAR-10 tables (Tables 1-5; MSRC-v2 photos for Table 3 with --voc_dir). "
    "tiny_imagenet: Table 3 in-distribution on Tiny ImageNet animals (--data_dir: the Tiny "
    "ImageNet folder), from scratch and fine-tuned from ImageNet (--tiny_settings), STD, "
    "LSG-alternate and LSG-joint over --seeds (default 0,1); page in --out.")
_TINY_SETTINGS = flags.DEFINE_list("tiny_settings", ["scratch", "finetune"],
                                   "With --localization=tiny_imagenet: scratch "
                                   "(tiny_imagenet.flags) and/or finetune "
                                   "(tiny_imagenet_finetune.flags).")
_FINETUNE_SEEDS = flags.DEFINE_list(
    "finetune_seeds", None, "With --localization=tiny_imagenet: the seeds of the finetune "
    "setting (default: --seeds).")
_EPOCHS = flags.DEFINE_integer("epochs", None, "With --localization=tiny_imagenet: override "
                               "the flagfiles' epochs (smoke runs).", lower_bound=1)
_PAGE_ONLY = flags.DEFINE_boolean(
    "page_only", False, "Rewrite the page from the stage outputs already in --out (same other "
    "flags as the run that made them, which the page shows); trains and analyses nothing.")
_BUDGET_CURVE = flags.DEFINE_list(
    "budget_curve", None, "Epoch counts, e.g. 15,30,60: train STD, LSG-alternate and LSG-joint "
    "(or --variants) at --budget with each epoch count over --seeds, then write the accuracy-"
    "gap-against-epochs page to --out (default OUT/budget-curve; runs in RUNS_DIR/e<epochs>). "
    "Train a curve in chunks (e.g. --budget_curve=60 --seeds=0 alone); with --page_only the "
    "page tabulates the seeds whose runs have finished at each epoch count.")
_TRAIN_SUBSET = flags.DEFINE_integer("train_subset", None, "With --localization=tiny_imagenet: "
                                     "a stratified training subset (smoke runs).", lower_bound=1)


def display_command(argv) -> str:
    """The command as typed, with data folders as DATA/<name> and no absolute paths."""
    return commands.typed_command("lsg_tf.reproduce", argv,
                                   dropped=commands.DROPPED + ("--stages", "--page_only"))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    for name, value in (("data_dir", _DATA_DIR.value), ("voc_dir", _VOC_DIR.value)):
        if value and not os.path.isdir(value):
            raise app.UsageError(f"--{name}={value!r} is not a folder")
    _check_written_folders()
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    if _LOCALIZATION.value == "tiny_imagenet":
        return _tiny_imagenet()
    from lsg_tf.reproduction import reproduce_lib

    budget = reproduce_lib.BUDGETS[_BUDGET.value]
    curve = "-curve" if _BUDGET_CURVE.value else ""
    runs_dir = _RUNS_DIR.value or os.path.join("runs", f"reproduce-{budget.name}{curve}")
    source = reproduce_lib.DataSource(
        dataset="image_folder" if _DATA_DIR.value else "cifar10", data_dir=_DATA_DIR.value,
        cache_dir=_CACHE_DIR.value or os.path.join(runs_dir, "cache"),
        voc_dir=_VOC_DIR.value or None)
    if _BUDGET_CURVE.value:
        return _budget_curve(budget, runs_dir, source)
    variants = _VARIANTS.value or (reproduce_lib.MAIN_VARIANTS + (
        reproduce_lib.ABLATIONS if _ABLATIONS.value else ()))
    if _PAGE_ONLY.value:
        return reproduce_lib.write_page_only(_OUT.value, budget, variants, _SEEDS.value,
                                             _ATTACKS.value, display_command(sys.argv))
    try:
        reproduce_lib.reproduce(_OUT.value, runs_dir, budget, source, variants,
                                command=display_command(sys.argv), progress=_PROGRESS.value,
                                stages=tuple(_STAGES.value), seeds=_SEEDS.value,
                                attacks=_ATTACKS.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from None


def _check_written_folders():
    """--out, --runs_dir and --cache_dir, checked before any work (one-line errors)."""
    from lsg_tf import run_io

    try:
        for name, flag in (("--out", _OUT), ("--runs_dir", _RUNS_DIR), ("--cache_dir", _CACHE_DIR)):
            if flag.value:
                run_io.check_writable_folder(flag.value, name)
    except run_io.RunIOError as error:
        sys.exit(f"error: {error}")


def _budget_curve(budget, runs_dir, source):
    from lsg_tf.reproduction import budget_curve

    out = _OUT.value if _OUT.present else os.path.join(_OUT.value, "budget-curve")
    if len(set(_BUDGET_CURVE.value)) != len(_BUDGET_CURVE.value):
        raise app.UsageError(f"--budget_curve: epoch counts must be distinct, got "
                             f"{','.join(_BUDGET_CURVE.value)}")
    seeds = _SEEDS.value or [None]
    try:
        points = {epochs: (None if seeds == [None] else seeds) for epochs in _BUDGET_CURVE.value}
        path = budget_curve.reproduce_curve(
            out, runs_dir, budget, source, points, command=display_command(sys.argv),
            variants=tuple(_VARIANTS.value or budget_curve.CURVE_VARIANTS),
            train=not _PAGE_ONLY.value, progress=_PROGRESS.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    print(f"results -> {path}")


def _tiny_imagenet():
    if not _DATA_DIR.value:
        raise app.UsageError("--data_dir (a Tiny ImageNet folder) is required with "
                             "--localization=tiny_imagenet")
    from lsg_tf.reproduction import tiny_imagenet

    runs_dir = _RUNS_DIR.value or os.path.join("runs", "reproduce-tiny-imagenet")
    out = _OUT.value if _OUT.present else os.path.join(_OUT.value, "tiny-imagenet")
    try:
        seeds = [int(s) for s in (_SEEDS.value or ["0", "1"])]
        path = tiny_imagenet.reproduce_tiny_imagenet(
            out, runs_dir, _DATA_DIR.value, _CACHE_DIR.value or os.path.join(runs_dir, "cache"),
            seeds=seeds, settings=tuple(_TINY_SETTINGS.value),
            variants=tuple(_VARIANTS.value or ("std", "alternate", "joint")),
            command=display_command(sys.argv), epochs=_EPOCHS.value,
            setting_seeds={"finetune": [int(s) for s in _FINETUNE_SEEDS.value]}
            if _FINETUNE_SEEDS.value else None,
            train_subset=_TRAIN_SUBSET.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    print(f"results -> {path}")


if __name__ == "__main__":
    entry.run(main)
