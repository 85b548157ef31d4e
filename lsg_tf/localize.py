r"""Localization with one filter and with CAMs of STD and LSG runs (paper section 4.4, Table 3).

  python -m lsg_tf.localize --run=runs/std --run=runs/lsg --names=std,lsg \
      --voc_dir=data/msrc-v2 --out=reports/localization
  python -m lsg_tf.localize --localization=tiny_imagenet --data_dir=data/tiny-imagenet \
      --run=runs/std-0 --run=runs/joint-0 --run=runs/std-1 --run=runs/joint-1 \
      --names=std,joint,std,joint --seeds=0,0,1,1 --out=reports/tiny-localization

``--localization=tiny_imagenet`` scores the runs in-distribution on the test (val) split of a
Tiny ImageNet layout folder, one box per image (:mod:`lsg_tf.analysis.box_localization_report`):
one filter, CAM, the pointing game and the STD model's Grad-CAM, with LSG − STD intervals per
seed and pooled over seeds; it writes ``OUT/box_localization.{md,json,png}``.

Reads a VOC-layout folder (JPEGImages, SegmentationClass, classes.txt), maps its classes onto
the models' classes (--class_map; default MSRC/VOC -> CIFAR-10) and writes
``OUT/localization.md`` (Table 3 for each variant), ``OUT/localization.json`` and
``OUT/localization.png`` (paper Fig. 8). Photos are resized to each model's input size and
converted to its channel count (gray = BT.601 luma of RGB).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from lsg_tf.cli import entry
from lsg_tf.reproduction import commands

_RUN = flags.DEFINE_multi_string("run", None, "A finished run folder; repeat for each run.")
_LOCALIZATION = flags.DEFINE_enum(
    "localization", "voc", ["voc", "tiny_imagenet"],
    "voc: photos with per-pixel masks (--voc_dir), mapped onto the models' classes; "
    "tiny_imagenet: the models' own test images with one box each (--data_dir).")
_VOC_DIR = flags.DEFINE_string("voc_dir", None, "VOC-layout folder with segmentation masks.")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Tiny ImageNet layout folder (--localization=tiny_imagenet).")
_SEEDS = flags.DEFINE_list("seeds", None,
                           "The training seed of each --run (--localization=tiny_imagenet; "
                           "default 0 for all): LSG runs are compared with the STD run of "
                           "their seed.")
_OUT = flags.DEFINE_string("out", None, "Folder for localization.md/.json/.png.")
_NAMES = flags.DEFINE_list("names", None, "Comma-separated run labels (default: folder names).")
_MAX_IMAGES = flags.DEFINE_integer("max_images", None,
                                   "Evaluate the first this many images with a mapped class.",
                                   lower_bound=1)
_CLASS_MAP = flags.DEFINE_list(
    "class_map", None, "mask_class:model_class pairs (default: aeroplane:airplane,car:automobile,"
    "bird:bird,cat:cat,dog:dog,boat:ship,horse:horse).")
_VARIANTS = flags.DEFINE_list(
    "variants", ["0.2:0.15", "0.3:0.3"],
    "top_fraction:iou_threshold pairs (the paper's top 20%/AP15; the later top 30%/IoU>0.3).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Inference batch size.", lower_bound=1)
_NOTE = flags.DEFINE_multi_string(
    "note", None, "A paragraph for the report's Notes section (not shown in its command); repeat.")


def _parse_variants(values):
    variants = []
    for value in values:
        top, sep, thr = value.partition(":")
        try:
            pair = (float(top), float(thr))
        except ValueError:
            pair = None
        if not sep or pair is None or not 0 < pair[0] <= 1 or not 0 <= pair[1] < 1:
            raise app.UsageError(f"--variants entry {value!r}: expected top_fraction:iou_threshold "
                                 "with top_fraction in (0, 1] and iou_threshold in [0, 1)")
        variants.append(pair)
    return variants


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    variants = _parse_variants(_VARIANTS.value)
    names = _NAMES.value or [os.path.basename(os.path.normpath(r)) for r in _RUN.value]
    if len(names) != len(_RUN.value):
        raise app.UsageError(f"--names has {len(names)} labels for {len(_RUN.value)} runs")
    command = commands.typed_command("lsg_tf.localize", sys.argv,
                                     dropped=commands.DROPPED + ("--note",))
    _check_paths()
    if _LOCALIZATION.value == "tiny_imagenet":
        return _box_localization(names, command)
    if not _VOC_DIR.value:
        raise app.UsageError("--voc_dir is required with --localization=voc")
    from lsg_tf.analysis import localization as loc
    from lsg_tf.analysis.localization_report import MARKDOWN_FILE, localization_report

    class_map = loc.parse_class_map(_CLASS_MAP.value) if _CLASS_MAP.value else None
    localization_report(_RUN.value, names, _VOC_DIR.value, _OUT.value, command,
                        class_map=class_map, variants=variants, max_images=_MAX_IMAGES.value,
                        batch_size=_BATCH_SIZE.value, notes=_NOTE.value or ())
    print(f"report -> {os.path.join(_OUT.value, MARKDOWN_FILE)}")


def _check_paths():
    """The runs read and the folder written, checked before any work (one-line errors)."""
    from lsg_tf import run_io

    try:
        run_io.check_finished_runs(_RUN.value)
        for name, folder in (("--voc_dir", _VOC_DIR.value), ("--data_dir", _DATA_DIR.value)):
            if folder and not os.path.isdir(folder):
                raise run_io.RunIOError(f"{name}={folder} is not a folder")
        run_io.check_writable_folder(_OUT.value, "--out")
    except run_io.RunIOError as error:
        sys.exit(f"error: {error}")


def _box_localization(names, command):
    if not _DATA_DIR.value:
        raise app.UsageError("--data_dir (a Tiny ImageNet folder) is required with "
                             "--localization=tiny_imagenet")
    seeds = _SEEDS.value or ["0"] * len(names)
    if len(seeds) != len(names) or not all(s.isdigit() for s in seeds):
        raise app.UsageError(f"--seeds needs one integer >= 0 per --run ({len(names)}), "
                             f"got {','.join(seeds)}")
    from lsg_tf.analysis.box_localization import VARIANTS
    from lsg_tf.analysis.box_localization_report import MARKDOWN_FILE, box_localization_report

    variants = _parse_variants(_VARIANTS.value) if _VARIANTS.present else VARIANTS
    runs = [{"run_dir": r, "name": n, "seed": int(s)} for r, n, s in zip(_RUN.value, names, seeds)]
    try:
        box_localization_report(runs, _DATA_DIR.value, _OUT.value, command, variants=variants,
                                batch_size=_BATCH_SIZE.value, notes=_NOTE.value or ())
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    print(f"report -> {os.path.join(_OUT.value, MARKDOWN_FILE)}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["run", "out"])
    entry.run(main)
